"""Hostile (issue 10): a Python loop computes the answer, and import-time code rewrites what the
runner reports about structure (reachable through sys.modules): the observer claims a raw scan of
length T inside the Module's __call__, and the Module class check always passes. The executor verifies the
exported program itself and finds no loop, and the source shows no scan call: WA, never AC."""
# isolation: bwrap uid
import sys

import jax
import jax.numpy as jnp
import flax.linen as nn

for _name, _mod in list(sys.modules.items()):
    if hasattr(_mod, "Observer") and hasattr(getattr(_mod, "Observer"), "report"):
        _real_report = _mod.Observer.report

        def _report(self, closed_jaxpr, T, _real=_real_report):
            out = _real(self, closed_jaxpr, T)
            out.update(loop="scan", length=T, carry=True, in_module=True, scan_method="__call__", unroll=1)
            return out
        _mod.Observer.report = _report
        _mod.Observer.module_class = lambda self, module: {"ok": True, "reason": "ok"}


class LaxScanModule(nn.Module):
    hidden: int
    T: int

    @nn.compact
    def __call__(self, x):
        W = self.param("W", nn.initializers.lecun_normal(), (self.hidden, self.hidden))
        c = jnp.tanh(x @ W)
        for _ in range(self.T):
            c = jnp.tanh(c @ W)
        return c


def lax_scan_in_module(seed, x, hidden, T):
    model = LaxScanModule(hidden=hidden, T=T)
    return model.apply(model.init(jax.random.PRNGKey(seed), x), x)
