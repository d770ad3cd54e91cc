"""A correct solution that takes the output init_with_output computes: accepted, checks pass."""
import jax
import jax.numpy as jnp
import flax.linen as nn


class LaxScanModule(nn.Module):
    hidden: int
    T: int

    @nn.compact
    def __call__(self, x):
        W = self.param("W", nn.initializers.lecun_normal(), (self.hidden, self.hidden))
        final, _ = jax.lax.scan(lambda c, _: (jnp.tanh(c @ W), None), jnp.tanh(x @ W), None, length=self.T)
        return final


def lax_scan_in_module(seed, x, hidden, T):
    out, _variables = LaxScanModule(hidden=hidden, T=T).init_with_output(jax.random.PRNGKey(seed), x)
    return out
