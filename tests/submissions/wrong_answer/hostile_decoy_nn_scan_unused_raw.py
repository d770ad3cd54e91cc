"""Hostile (issue 10): nn.scan computes the result; a raw jax.lax.scan is there but unused. The program
has a loop of T steps (nn.scan lowers to one), but what the runner saw making the output is Flax's
lift, not a raw lax.scan: WA with partial credit."""
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
        jax.lax.scan(lambda s, _: (jnp.tanh(s @ W), None), c, None, length=self.T)   # the decoy

        def step(mdl, carry, _):
            return jnp.tanh(carry @ W), None

        return nn.scan(step, variable_broadcast="params", split_rngs={"params": False}, length=self.T)(self, c, None)[0]


def lax_scan_in_module(seed, x, hidden, T):
    model = LaxScanModule(hidden=hidden, T=T)
    return model.apply(model.init(jax.random.PRNGKey(seed), x), x)
