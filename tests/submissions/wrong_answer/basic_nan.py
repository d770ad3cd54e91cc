"""Wrong: divides by zero on the way, so the result holds NaN."""
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
        return final * 0.0 / 0.0


def lax_scan_in_module(seed, x, hidden, T):
    m = LaxScanModule(hidden=hidden, T=T)
    return m.apply(m.init(jax.random.PRNGKey(seed), x), x)
