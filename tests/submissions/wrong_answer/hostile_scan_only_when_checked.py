"""Hostile (issue 10): uses jax.lax.scan only at the size the old structure check used (hidden=6,
T=5, which the child could read from its job file) and a Python loop at every graded size. The
structure is verified on every graded case's own program, so the Python loop is seen: WA."""
# isolation: bwrap uid
import jax
import jax.numpy as jnp
import flax.linen as nn


def _inspected(hidden, T):
    return (hidden, T) == (6, 5)


class LaxScanModule(nn.Module):
    hidden: int
    T: int

    @nn.compact
    def __call__(self, x):
        W = self.param("W", nn.initializers.lecun_normal(), (self.hidden, self.hidden))
        c = jnp.tanh(x @ W)
        if _inspected(self.hidden, self.T):
            return jax.lax.scan(lambda s, _: (jnp.tanh(s @ W), None), c, None, length=self.T)[0]
        for _ in range(self.T):
            c = jnp.tanh(c @ W)
        return c


def lax_scan_in_module(seed, x, hidden, T):
    model = LaxScanModule(hidden=hidden, T=T)
    return model.apply(model.init(jax.random.PRNGKey(seed), x), x)
