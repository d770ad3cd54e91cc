"""Pitfall: right numbers, but Flax's nn.scan lift instead of a raw jax.lax.scan (WA from uses_lax_scan)."""
import jax
import jax.numpy as jnp
import flax.linen as nn


class LaxScanModule(nn.Module):
    hidden: int
    T: int

    @nn.compact
    def __call__(self, x):
        W = self.param("W", nn.initializers.lecun_normal(), (self.hidden, self.hidden))
        carry = jnp.tanh(x @ W)
        if self.T == 0:
            return carry

        def step(module, c, _):
            return jnp.tanh(c @ W), None

        carry, _ = nn.scan(step, variable_broadcast="params", split_rngs={"params": False},
                           length=self.T)(self, carry, None)
        return carry


def lax_scan_in_module(seed, x, hidden, T):
    model = LaxScanModule(hidden=hidden, T=T)
    variables = model.init(jax.random.PRNGKey(seed), x)
    return model.apply(variables, x)
