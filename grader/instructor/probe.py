"""The reference, run sandboxed with a float64 twin, and timed as grading runs it: raw material for
`validate`.

The probe is the reference's own source with a function appended, run through the normal sandboxed
runner (never in the grader process, which does not import JAX). Per case it returns one float64
vector: the reference's float32 result (exactly, as float64), the same recurrence in float64 numpy
with the same W, and the reference's times as grading sees them: a plain grading run of it (export in the runner,
compile and run in the executor, the warmed cache as platforms have it), per case (wall time, export
plus run: the limits bound wall time) and the runner's load.
(The probe itself cannot be exported, it converts to NumPy: its own clock would time an eager call.)
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..judge.cases import GoldenCase
from ..judge.drift import reference_outputs
from ..problem import Problem
from .quality import Timing

FUNCTION = "_validate_probe"
_PROBE = '''

# ---- appended by grader/instructor/probe.py (validate only) ----
import time as _vp_time
_VP_STARTUP_CPU = _vp_time.process_time()


def _validate_probe(seed, x, hidden, T):
    import numpy as _vp_np
    c0, w0 = _vp_time.process_time(), _vp_time.perf_counter()
    ref = {function}(seed, x, hidden, T)
    ref = _vp_np.asarray(ref)
    cpu, wall = _vp_time.process_time() - c0, _vp_time.perf_counter() - w0
    W = {module_class}(hidden=hidden, T=T).init(jax.random.PRNGKey(seed), x)["params"]["W"]
    W = _vp_np.asarray(W, _vp_np.float64)
    c = _vp_np.tanh(_vp_np.asarray(x, _vp_np.float64) @ W)
    for _ in range(T):
        c = _vp_np.tanh(c @ W)
    ref64 = ref.astype(_vp_np.float64) if ref.dtype == _vp_np.float32 else _vp_np.full(hidden, _vp_np.nan)
    return _vp_np.concatenate([ref64.reshape(-1)[:hidden], c, [cpu, wall, _VP_STARTUP_CPU]])
'''


@dataclass(frozen=True)
class ProbeResult:
    reference: dict[str, np.ndarray]       # case id -> float32 result of the reference
    float64: dict[str, np.ndarray]         # case id -> the same W and recurrence in float64
    timing: Timing


def source_for(problem: Problem, reference: bytes) -> bytes:
    """The reference plus the probe function (the reference must `import jax` at its top level)."""
    code = _PROBE.format(function=problem.function, module_class=problem.module_class)
    return reference + code.encode()


def run_probe(problem: Problem, reference: bytes, cases: list[GoldenCase], isolation=None) -> ProbeResult:
    """RuntimeError (with the reason) when the reference does not load or a case does not return."""
    raw = reference_outputs(problem, source_for(problem, reference), cases, isolation, function=FUNCTION)
    ref, f64, cpu, wall = {}, {}, {}, {}
    startup = 0.0
    for c in cases:
        v = raw[c.spec.id].astype(np.float64).reshape(-1)
        h = c.spec.hidden
        if v.shape != (2 * h + 3,):
            raise RuntimeError(f"case {c.spec.id}: the probe returned {v.shape[0]} values, not {2 * h + 3}")
        ref[c.spec.id] = v[:h].astype(np.float32)
        f64[c.spec.id] = v[h:2 * h]
    from ..judge.cases import job_cases
    from ..execute import run
    ex = run(problem, reference, job_cases(cases), isolation=isolation)
    for c in cases:
        out = ex.cases.get(c.spec.id)
        if out is None or out.status != "result" or out.time_s is None:
            raise RuntimeError(f"case {c.spec.id}: the reference did not run as graded ({out and out.status})")
        cpu[c.spec.id] = wall[c.spec.id] = float(out.time_s)
    startup = float(ex.load_time_s or 0.0)
    return ProbeResult(ref, f64, Timing(startup, cpu, wall))
