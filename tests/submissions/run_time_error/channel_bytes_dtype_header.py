"""Hostile: replaces the runner's result encoder at import time (`common.encode`, reached through
sys.modules: the runner runs this file in its own process) so that the plain call's `result` header
says its values are `|S4` (byte strings) while its bytes stay the float32 values. The function
cannot be exported (float() of traced values), so the runner takes the fallback and sends that
header, with the Module's program after it.

The structure check of a fallback case decoded those bytes as `|S4` inside a `try`, then compared
them with the Module's values outside it: a ValueError in the grader, JE at the submission's will.
The channel now validates every frame before anything reads it: a result's bytes must be exactly its
shape in a float the grader decodes (`<f2`, `<f4`, `<f8`); any other dtype is only a name, sent
without bytes (a WA message). This frame breaks that, so it is garbage, written by the submission's
own code into the grader's channel: the case is RTE (channel_corrupted), as any forged frame is. Not
WA: the header does not describe the bytes it came with, so there is no honest result to judge."""
# isolation: bwrap uid
import sys

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

_common = sys.modules.get("common")
if _common is not None and hasattr(_common, "encode"):
    _real = _common.encode

    def _forged(result, max_elements, _real=_real):
        head, data = _real(result, max_elements)
        head["dtype"] = "|S4"
        return head, data
    _common.encode = _forged


class LaxScanModule(nn.Module):
    hidden: int
    T: int

    @nn.compact
    def __call__(self, x):
        W = self.param("W", nn.initializers.lecun_normal(), (self.hidden, self.hidden))
        final, _ = jax.lax.scan(lambda c, _: (jnp.tanh(c @ W), None), jnp.tanh(x @ W), jnp.arange(self.T))
        return final


def lax_scan_in_module(seed, x, hidden, T):
    model = LaxScanModule(hidden=hidden, T=T)
    out = model.apply(model.init(jax.random.PRNGKey(seed), x), x)
    return np.array([float(v) for v in out], dtype=np.float32)     # concrete values: not exportable
