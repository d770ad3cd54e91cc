"""Hostile (issue 10): Flax's nn.scan does the work and a raw jax.lax.scan is added to the output
(times zero) so that "a scan feeds the result". The result is not the carry of one loop: WA."""
# isolation: bwrap uid
import jax
import jax.numpy as jnp
import flax.linen as nn


class LaxScanModule(nn.Module):
    hidden: int
    T: int

    @nn.compact
    def __call__(self, x):
        W = self.param("W", nn.initializers.lecun_normal(), (self.hidden, self.hidden))
        c = jnp.tanh(x @ W)

        def step(mdl, carry, _):
            return jnp.tanh(carry @ W), None

        real = nn.scan(step, variable_broadcast="params", split_rngs={"params": False}, length=self.T)(self, c, None)[0]
        decoy = jax.lax.scan(lambda s, _: (jnp.tanh(s @ W), None), c, None, length=self.T)[0]
        return real + 0.0 * decoy


def lax_scan_in_module(seed, x, hidden, T):
    model = LaxScanModule(hidden=hidden, T=T)
    return model.apply(model.init(jax.random.PRNGKey(seed), x), x)
