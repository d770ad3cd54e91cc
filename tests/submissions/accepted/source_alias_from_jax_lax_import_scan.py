"""Correct, with the scan imported by name under an alias (`from jax.lax import scan as run_steps`):
the grader's reading of the source resolves the alias to jax.lax.scan. AC, full marks."""
# grade: all
import jax
import jax.numpy as jnp
import flax.linen as nn
from jax.lax import scan as run_steps


class LaxScanModule(nn.Module):
    hidden: int
    T: int

    @nn.compact
    def __call__(self, x):
        W = self.param("W", nn.initializers.lecun_normal(), (self.hidden, self.hidden))
        final, _ = run_steps(lambda c, _: (jnp.tanh(c @ W), None), jnp.tanh(x @ W), jnp.arange(self.T))
        return final


def lax_scan_in_module(seed, x, hidden, T):
    model = LaxScanModule(hidden=hidden, T=T)
    return model.apply(model.init(jax.random.PRNGKey(seed), x), x)
