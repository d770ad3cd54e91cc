"""Pitfall: right numbers, but a Python loop instead of jax.lax.scan (WA from the uses_lax_scan check)."""
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
        for _ in range(self.T):
            carry = jnp.tanh(carry @ W)
        return carry


def lax_scan_in_module(seed, x, hidden, T):
    model = LaxScanModule(hidden=hidden, T=T)
    variables = model.init(jax.random.PRNGKey(seed), x)
    return model.apply(variables, x)
