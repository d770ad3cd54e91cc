"""Run-time error: indexes one past the end of a Python list."""
import jax
import jax.numpy as jnp
import flax.linen as nn


class LaxScanModule(nn.Module):
    hidden: int
    T: int

    @nn.compact
    def __call__(self, x):
        W = self.param("W", nn.initializers.lecun_normal(), (self.hidden, self.hidden))
        final, _ = jax.lax.scan(lambda c, _: (jnp.tanh(c @ W), None), jnp.tanh(x @ W), jnp.arange(self.T))
        return final


def lax_scan_in_module(seed, x, hidden, T):
    sizes = [hidden, T]
    m = LaxScanModule(hidden=sizes[0], T=sizes[2])
    return m.apply(m.init(jax.random.PRNGKey(seed), x), x)
