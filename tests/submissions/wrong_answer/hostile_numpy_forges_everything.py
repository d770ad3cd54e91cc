"""Hostile (issue 10): no scan and a Module that computes nothing; the right answer comes from a NumPy
loop (W drawn exactly as the intended Module draws it), and import-time code makes the runner's observer report a perfect structure. A NumPy
function cannot be exported, so its plain values earn the case points, but the check points need a
Module program the grader ran itself that agrees with them: there is none. WA, never AC."""
# isolation: bwrap uid
import sys

import numpy as np
import jax
import flax.linen as nn

for _mod in list(sys.modules.values()):
    if hasattr(_mod, "Observer") and hasattr(_mod, "loop_of"):
        _mod.Observer.module_class = lambda self, module: {"ok": True, "reason": "ok"}
        _mod.Observer.report = lambda self, jaxpr, T: {"loop": "scan", "length": T, "carry": True,
                                                        "in_module": True, "T": T, "methods": ["__call__"],
                                                        "params": None}


class LaxScanModule(nn.Module):
    """Only draws the right W (the same rng path as the intended Module's); computes nothing."""
    hidden: int
    T: int

    @nn.compact
    def __call__(self, x):
        self.param("W", nn.initializers.lecun_normal(), (self.hidden, self.hidden))
        return x


def lax_scan_in_module(seed, x, hidden, T):
    W = np.asarray(LaxScanModule(hidden, T).init(jax.random.PRNGKey(seed), x)["params"]["W"])
    c = np.tanh(np.asarray(x) @ W)
    for _ in range(T):
        c = np.tanh(c @ W)
    return c
