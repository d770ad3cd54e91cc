"""Hostile (issue 10): a Python loop computes the answer and an unused jax.lax.scan of length T sits in
__call__ as a decoy. The values are right; the program the grader runs has no loop making the result,
so uses_lax_scan fails: WA with partial credit, never AC."""
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
        for _ in range(self.T):
            c = jnp.tanh(c @ W)
        return c


def lax_scan_in_module(seed, x, hidden, T):
    model = LaxScanModule(hidden=hidden, T=T)
    return model.apply(model.init(jax.random.PRNGKey(seed), x), x)
