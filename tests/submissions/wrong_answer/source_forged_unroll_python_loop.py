"""Hostile (source witness): a Python loop computes the answer, so the exported program has no loop,
exactly like a scan that JAX unrolled whole. Import-time code rewrites the runner's observer (reachable
through sys.modules) to report a raw scan in __call__ with unroll = T, and __call__ holds a decoy
`jax.lax.scan(..., unroll=True)` whose result is thrown away, so all three witnesses seem to say
"unrolled scan". The grader's own reading of the source sees the Python loop in __call__: a program
without a loop is accepted as an unrolled scan only where the source shows no Python loop. WA."""
# isolation: bwrap uid
import sys

import jax
import jax.numpy as jnp
import flax.linen as nn

for _mod in list(sys.modules.values()):
    _obs = getattr(_mod, "Observer", None)
    if isinstance(_obs, type) and hasattr(_obs, "report"):
        def _report(self, closed_jaxpr, T, _real=_obs.report):
            out = _real(self, closed_jaxpr, T)
            out.update(loop="scan", length=T, carry=True, scan_method="__call__", in_module=True, unroll=max(T, 1))
            return out
        _obs.report = _report


class LaxScanModule(nn.Module):
    hidden: int
    T: int

    @nn.compact
    def __call__(self, x):
        W = self.param("W", nn.initializers.lecun_normal(), (self.hidden, self.hidden))
        c = jnp.tanh(x @ W)
        jax.lax.scan(lambda c, _: (jnp.tanh(c @ W), None), c, None, length=self.T, unroll=True)
        for _ in range(self.T):
            c = jnp.tanh(c @ W)
        return c


def lax_scan_in_module(seed, x, hidden, T):
    model = LaxScanModule(hidden=hidden, T=T)
    return model.apply(model.init(jax.random.PRNGKey(seed), x), x)
