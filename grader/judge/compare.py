"""Judge one case: what the child reported -> shape -> dtype -> finite -> tolerance -> a case verdict.

Runs in the grader process with numpy only. Expected values never leave this module except in the
messages of public cases; hidden cases get error sizes in decade bands. What a case's message may
say is decided once, in `to_case_verdict`, where every case message is made: a hidden case's says
only the grader's own values (reasons.for_case), never what the submission derived from its input.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from .cases import GoldenCase
from ..outcome import OVERSIZE_FACTOR, Outcome
from .reasons import Found, Reason, for_case, found
from ..text import TRUNCATED, clip  # noqa: F401 - one definition of the marker, re-exported
from .verdict import CaseVerdict, VerdictCode

SHOW_ENTRIES = 3
# The one source of truth for the dtypes a result may have (README "Tolerance"): every real float
# the README lists, with its unit roundoff. The runner converts ml_dtypes floats (bfloat16) to
# float32 and names the original in `orig_dtype`; a raw bfloat16 payload is decoded here too.
ACCEPTED_FLOATS = {"float16": 2.0 ** -11, "float32": 2.0 ** -24, "float64": 2.0 ** -53, "bfloat16": 2.0 ** -8}
WIRE_DTYPES = {"<f2": "float16", "<f4": "float32", "<f8": "float64", "float16": "float16",
               "float32": "float32", "float64": "float64", "bfloat16": "bfloat16"}
# Errors up to this many units of the returned dtype's rounding are "precision too low", not wrong.
# Measured (docs/feedback.md, "Accepted dtypes", with the command to rerun): the
# reference's float32 result cast to bfloat16 misses by at most 0.94 units of 2**-8, cast to float16
# by 0.72 units of 2**-11; a recurrence computed in bfloat16 throughout drifts by up to 4305 units
# (a chaotic map amplifies rounding), which is judged as wrong values, naming the dtype.
PRECISION_UNITS = 4
CASE_MESSAGE_LIMIT = 1000   # the schema's maxLength of a case message


@dataclass(frozen=True)
class Judged:
    verdict: VerdictCode
    found: Found
    max_abs_err: float | None = None
    max_rel_err: float | None = None
    got: np.ndarray | None = None          # the parsed output (for diagnosis by variants)
    equals: str | None = None              # the known mistake this result equals (set by the diagnosis)
    note: Found | None = None              # how the values were obtained, when not from the exported program

    @property
    def reason(self) -> Reason:
        return self.found.reason

    @property
    def message(self) -> str:
        text = self.found.text
        text = f"{text}; it equals {self.equals} (see the hints)" if self.equals else text
        return f"{text} ({self.note.text})" if self.note is not None else text


def within_tolerance(got: np.ndarray, expected: np.ndarray, rtol: float, atol: float) -> bool:
    """The acceptance rule, elementwise in float64: |s - a| <= atol + rtol * |a| (NaN never passes)."""
    g, a = np.asarray(got, np.float64), np.asarray(expected, np.float64)
    return g.shape == a.shape and bool(np.all(np.abs(g - a) <= atol + rtol * np.abs(a)))


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
    """The case's verdict and its reason. Every value in `out` was validated and every string made
    safe where it entered (grader/host/channel.py), so it goes into the parameters as it is."""
    status = out.status
    if status == "result":
        j = _judge_result(case, out, rtol, atol, hidden)
        return replace(j, note=found(Reason.NOT_EXPORTED, code=out.fallback)) if out.fallback else j
    if status == "error":
        err = out.error or {}
        etype, msg = str(err.get("etype", "Exception")), str(err.get("message") or "").strip()
        if etype == "UnfitProgram":           # the executor refused the program (a code arrives)
            return Judged("RTE", found(Reason.UNFIT_PROGRAM, code=msg))
        if etype == "NotImplementedError":
            return Judged("RTE", found(Reason.NOT_IMPLEMENTED, first=clip(msg.splitlines()[0], 200) if msg else ""))
        first = clip(" ".join(msg.split()), 300)  # JAX puts the telling detail on later lines
        where = err.get("frames") or []
        at = f" [{where[-1]}]" if where else ""
        if err.get("memory"):
            return Judged("MLE", found(Reason.OUT_OF_MEMORY, etype=etype, first=first, at=at))
        return Judged("RTE", found(Reason.EXCEPTION, etype=etype, first=first, at=at))
    if status == "timeout":
        if out.why == "total":
            return Judged("TLE", found(Reason.TOTAL_TIME_LIMIT, detail="the total time limit ran out"))
        if out.why == "dominated":
            return Judged("TLE", found(Reason.TIME_DOMINATED, case=out.detail))
        return Judged("TLE", found(Reason.TIME_LIMIT))
    if status == "crash" and out.why == "died_after":
        return Judged("RTE", found(Reason.DIED_AFTER_ANSWERING, detail=out.detail))
    if status == "not_run" and out.why == "crash_run":
        return Judged("RTE", found(Reason.CRASH_RUN, count=out.detail))
    code, reason = _LIMITS[status]
    return Judged(code, found(reason, detail=out.detail or "not run"))


_LIMITS: dict[str, tuple[VerdictCode, Reason]] = {
    "memory": ("MLE", Reason.MEMORY_LIMIT), "output": ("OLE", Reason.OUTPUT_LIMIT),
    "scratch": ("RTE", Reason.SCRATCH_LIMIT), "garbage": ("RTE", Reason.CHANNEL_CORRUPTED),
    "crash": ("RTE", Reason.CRASHED), "not_run": ("RTE", Reason.NOT_RUN),
}


def accepted_dtype(head: dict) -> str | None:
    """The name of the float the submission returned, if it is one the README accepts."""
    wire = WIRE_DTYPES.get(str(head.get("dtype", "")))
    name = str(head.get("orig_dtype") or wire or "")
    return name if wire is not None and name in ACCEPTED_FLOATS else None


def decode(head: dict, data: bytes) -> np.ndarray:
    """The payload as float64 (ValueError when it does not match its header)."""
    wire = WIRE_DTYPES[str(head["dtype"])]
    with np.errstate(all="ignore"):   # a signalling NaN is judged as NaN, not warned about
        if wire == "bfloat16":  # the upper half of a float32, no ml_dtypes needed in the grader
            bits = np.frombuffer(data, dtype="<u2").astype("<u4") << 16
            return bits.view("<f4").astype(np.float64)
        return np.frombuffer(data, dtype=np.dtype(wire).newbyteorder("<")).astype(np.float64)


def _judge_result(case: GoldenCase, out: Outcome, rtol: float, atol: float, hidden: bool) -> Judged:
    head = out.header or {}
    want = (case.spec.hidden,)
    kind = head.get("kind")
    if kind == "none":
        return Judged("WA", found(Reason.RETURNED_NONE, want=want))
    if kind == "unconvertible":
        return Judged("WA", found(Reason.NOT_AN_ARRAY, pytype=head.get("pytype", "value"),
                                  error=clip(str(head.get("error", "")), 120), want=want))
    shape = tuple(head.get("shape") or ())
    size = math.prod(shape)
    if head.get("oversized") or (shape != want and size > OVERSIZE_FACTOR * case.spec.hidden):
        return Judged("WA", found(Reason.OVERSIZED, shape=shape, size=size, want=want))
    if shape != want:
        if len(shape) == 2 and shape[1:] == want:
            return Judged("WA", found(Reason.STACKED_OUTPUTS, shape=shape, want=want, steps=shape[0]))
        return Judged("WA", found(Reason.WRONG_SHAPE, shape=shape, want=want))
    name = accepted_dtype(head)
    if name is None:
        shown = head.get("orig_dtype") or _dtype_name(str(head.get("dtype", "?")))
        return Judged("WA", found(Reason.WRONG_DTYPE, dtype=shown, accepted=", ".join(ACCEPTED_FLOATS)))
    try:
        got64 = decode(head, out.data or b"")
        if got64.shape != want:
            raise ValueError
    except ValueError:
        return Judged("RTE", found(Reason.MALFORMED_DATA))
    bad = ~np.isfinite(got64)
    if bad.any():
        return Judged("WA", found(Reason.NOT_FINITE, n_bad=int(bad.sum()), size=size), None, None, got64)
    exp64 = case.expected.astype(np.float64)
    err = np.abs(got64 - exp64)
    ok = err <= atol + rtol * np.abs(exp64)
    nz = np.abs(exp64) > 0
    with np.errstate(over="ignore"):
        max_abs = _finite(float(err.max()) if size else 0.0)   # None: too large for a float64
        max_rel = _finite(float((err[nz] / np.abs(exp64[nz])).max())) if nz.any() else None
    as_dtype = f" (returned as {name})" if name != "float32" else ""
    if ok.all():
        return Judged("AC", found(Reason.CORRECT, as_dtype=as_dtype), max_abs, max_rel, got64)
    err_text = band_text(max_abs) if hidden or max_abs is None else format(max_abs, ".3g")
    eps = ACCEPTED_FLOATS[name]
    if eps > rtol / 4 and bool(np.all(err <= atol + (rtol + PRECISION_UNITS * eps) * np.abs(exp64))):
        # Right to the returned dtype's rounding: the type is accepted, its precision is not enough.
        return Judged("WA", found(Reason.PRECISION_TOO_LOW, dtype=name, eps=eps, atol=atol, rtol=rtol,
                                  err=err_text), max_abs, max_rel, got64)
    if hidden:  # no count of wrong entries either: perturbing one entry would reveal it
        f = found(Reason.WRONG_VALUES, err=err_text, rel=band_text(max_rel), atol=atol, rtol=rtol,
                  as_dtype=as_dtype)
    else:
        idx = np.flatnonzero(~ok)[:SHOW_ENTRIES]
        shown = "; ".join(f"[{i}] got {got64[i]:.7g}, expected {exp64[i]:.7g}" for i in idx)
        f = found(Reason.WRONG_VALUES, n_bad=int((~ok).sum()), size=size, shown=shown, err=err_text,
                  rel=band_text(max_rel), atol=atol, rtol=rtol, as_dtype=as_dtype)
    return Judged("WA", f, max_abs, max_rel, got64)


def _finite(x: float) -> float | None:
    return x if math.isfinite(x) else None


def _dtype_name(dtype: str) -> str:
    try:
        return np.dtype(dtype).name
    except Exception:  # noqa: BLE001 - any string a header carried
        return dtype


def to_case_verdict(case: GoldenCase, j: Judged, points: float, time_s: float | None) -> CaseVerdict:
    """The case as the student sees it: the one place its message is made, with its set known."""
    hidden = case.spec.set == "hidden"
    shown = replace(j, found=for_case(j.found, hidden), note=for_case(j.note, hidden))
    return CaseVerdict(
        id=case.spec.id, set=case.spec.set, seed=case.spec.seed, hidden=case.spec.hidden, T=case.spec.T,
        verdict=j.verdict, score=points if j.verdict == "AC" else 0.0, max_score=points,
        max_abs_err=band(j.max_abs_err) if hidden else j.max_abs_err,
        max_rel_err=band(j.max_rel_err) if hidden else j.max_rel_err,
        time_s=None if time_s is None else round(time_s, 4), message=clip(shown.message, CASE_MESSAGE_LIMIT),
        reason=j.reason)
