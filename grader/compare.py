"""Judge one case: what the child reported -> shape -> dtype -> finite -> tolerance -> a case verdict.

Runs in the grader process with numpy only. Expected values never leave this module except in the
messages of public cases; hidden cases get error sizes in decade bands.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .cases import GoldenCase
from .execute import OVERSIZE_FACTOR, Outcome
from .verdict import CaseVerdict, VerdictCode

SHOW_ENTRIES = 3
REAL_FLOATS = ("<f2", "<f4", "<f8")
TRUNCATED = " … [truncated]"


@dataclass(frozen=True)
class Judged:
    verdict: VerdictCode
    message: str
    max_abs_err: float | None = None
    max_rel_err: float | None = None
    got: np.ndarray | None = None          # the parsed output (for diagnosis by variants)


def within_tolerance(got: np.ndarray, expected: np.ndarray, rtol: float, atol: float) -> bool:
    """The acceptance rule, elementwise in float64: |s - a| <= atol + rtol * |a| (NaN never passes)."""
    g, a = np.asarray(got, np.float64), np.asarray(expected, np.float64)
    return g.shape == a.shape and bool(np.all(np.abs(g - a) <= atol + rtol * np.abs(a)))


def clip(text: str, limit: int) -> str:
    """At most `limit` characters, with a visible marker when something was cut."""
    return text if len(text) <= limit else text[:max(0, limit - len(TRUNCATED))] + TRUNCATED


def band(x: float | None) -> float | None:
    """The decade an error lies in (0.0123 -> 0.01): enough to learn from, too coarse to fit."""
    if x is None or x == 0 or not math.isfinite(x):
        return None if x is not None and not math.isfinite(x) else x
    return 10.0 ** round(math.log10(x))


def band_text(x: float | None) -> str:
    if x is None or not math.isfinite(x):
        return "undefined"
    return "0" if x == 0 else f"≈1e{round(math.log10(x)):d}"


def judge(case: GoldenCase, out: Outcome, rtol: float, atol: float, hidden: bool) -> Judged:
    status = out.status
    if status == "result":
        return _judge_result(case, out, rtol, atol, hidden)
    if status == "error":
        err = out.error or {}
        etype, msg = err.get("etype", "Exception"), (err.get("message") or "").strip()
        if etype == "NotImplementedError":
            return Judged("RTE", "not implemented yet: your function raised NotImplementedError"
                          + (f" ({clip(msg.splitlines()[0], 200)})" if msg else ""))
        first = clip(" ".join(msg.split()), 300)  # JAX puts the telling detail on later lines
        where = err.get("frames") or []
        at = f" [{where[-1]}]" if where else ""
        if err.get("memory"):
            return Judged("MLE", f"ran out of memory: {etype}: {first}{at}")
        return Judged("RTE", f"{etype}: {first}{at}" if first else f"{etype}{at}")
    return Judged(*_LIMIT_MESSAGES[status](out))


_TIMEOUTS = {
    "total": "time limit exceeded (the total time limit ran out)",
    "dominated": "time limit exceeded: not run, since case {detail}, no larger in H or T, already "
                 "exceeded the time limit (confirmed by a retry)",
}
_LIMIT_MESSAGES = {
    "timeout": lambda o: ("TLE", _TIMEOUTS.get(o.why, "time limit exceeded: the case did not finish in "
                                                       "time").format(detail=o.detail)),
    "memory": lambda o: ("MLE", "memory limit exceeded: the process tree used more memory than allowed"),
    "output": lambda o: ("OLE", "output limit exceeded: your code printed too much"),
    "scratch": lambda o: ("RTE", "wrote more files than the scratch space allows"),
    "garbage": lambda o: ("RTE", "the result channel was corrupted (did your code write to file "
                          "descriptors it does not own?)"),
    "crash": lambda o: ("RTE", f"the process died after answering ({o.detail}), so its answers do "
                        "not count" if o.why == "died_after" else f"the process died during the case ({o.detail})"),
    "not_run": lambda o: ("RTE", f"not run: the process died in {o.detail} cases in a row" if o.why == "crash_run"
                          else o.detail or "not run"),
}


def _judge_result(case: GoldenCase, out: Outcome, rtol: float, atol: float, hidden: bool) -> Judged:
    head = out.header or {}
    want = (case.spec.hidden,)
    kind = head.get("kind")
    if kind == "none":
        return Judged("WA", f"returned None; expected a float array of shape {want}")
    if kind == "unconvertible":
        return Judged("WA", f"returned a {head.get('pytype', 'value')} that is not an array "
                      f"({clip(head.get('error', ''), 120)}); expected shape {want}")
    shape = tuple(head.get("shape") or ())
    dtype = str(head.get("dtype", "?"))
    size = math.prod(shape)
    if head.get("oversized") or (shape != want and size > OVERSIZE_FACTOR * case.spec.hidden):
        return Judged("WA", f"returned an array of shape {shape} ({size} elements); expected {want}")
    if shape != want:
        extra = ""
        if len(shape) == 2 and shape[1:] == want:
            extra = f" (that looks like the stacked per-step outputs, {shape[0]} steps; return the final carry)"
        return Judged("WA", f"shape {shape}, expected {want}{extra}")
    orig = head.get("orig_dtype")
    if dtype not in REAL_FLOATS:
        return Judged("WA", f"dtype {_dtype_name(dtype)}, expected a real floating dtype (float32)")
    try:
        got = np.frombuffer(out.data or b"", dtype=dtype)
        if got.shape != want:
            raise ValueError
    except ValueError:
        return Judged("RTE", "the result channel carried malformed data")
    got64 = got.astype(np.float64)
    bad = ~np.isfinite(got64)
    if bad.any():
        return Judged("WA", f"{int(bad.sum())} of {size} entries are NaN or infinite", None, None, got)
    exp64 = case.expected.astype(np.float64)
    err = np.abs(got64 - exp64)
    ok = err <= atol + rtol * np.abs(exp64)
    nz = np.abs(exp64) > 0
    with np.errstate(over="ignore"):
        max_abs = _finite(float(err.max()) if size else 0.0)   # None: too large for a float64
        max_rel = _finite(float((err[nz] / np.abs(exp64[nz])).max())) if nz.any() else None
    as_dtype = f" (returned as {orig or _dtype_name(dtype)})" if (orig or dtype != "<f4") else ""
    if ok.all():
        return Judged("AC", f"correct{as_dtype}", max_abs, max_rel, got)
    n_bad = int((~ok).sum())
    if hidden:  # no count of wrong entries either: perturbing one entry would reveal it
        msg = (f"wrong values: max abs error {band_text(max_abs)}, "
               f"max rel error {band_text(max_rel)} (tolerance {atol:g} + {rtol:g}·|expected|)")
    else:
        idx = np.flatnonzero(~ok)[:SHOW_ENTRIES]
        shown = "; ".join(f"[{i}] got {got64[i]:.7g}, expected {exp64[i]:.7g}" for i in idx)
        msg = (f"wrong values in {n_bad} of {size} entries: {shown}; max abs error {band_text(max_abs) if max_abs is None else format(max_abs, '.3g')} "
               f"(tolerance {atol:g} + {rtol:g}·|expected|)")
    return Judged("WA", msg, max_abs, max_rel, got)


def _finite(x: float) -> float | None:
    return x if math.isfinite(x) else None


def _dtype_name(dtype: str) -> str:
    try:
        return np.dtype(dtype).name
    except TypeError:
        return dtype


def to_case_verdict(case: GoldenCase, j: Judged, points: float, time_s: float | None) -> CaseVerdict:
    hidden = case.spec.set == "hidden"
    return CaseVerdict(
        id=case.spec.id, set=case.spec.set, seed=case.spec.seed, hidden=case.spec.hidden, T=case.spec.T,
        verdict=j.verdict, score=points if j.verdict == "AC" else 0.0, max_score=points,
        max_abs_err=band(j.max_abs_err) if hidden else j.max_abs_err,
        max_rel_err=band(j.max_rel_err) if hidden else j.max_rel_err,
        time_s=None if time_s is None else round(time_s, 4), message=j.message)
