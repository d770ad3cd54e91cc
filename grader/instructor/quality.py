"""Vector quality, tolerance margins and time-limit calibration: the numbers behind `make validate`.

Pure numpy on arrays other stages computed (the reference, its float64 twin and the wrong variants
come from sandboxed children), so every rule here is unit-testable with small fixtures.
Rules (docs/validation.md):
  kill set        a hidden case kills a variant when the variant's output fails the tolerance
                  (grader.judge.compare.within_tolerance) against the expected one; every variant must be
                  killed by some hidden case; a non-edge hidden case must kill something.
  margins         per case, in units of the tolerance: f64 = the float32 reference's distance from a
                  float64 computation with the same W, wrong = the smallest distance of a variant the
                  case kills. Non-edge cases need wrong ≥ WRONG_MARGIN (a kill is decisive) and
                  1/f64 ≥ F64_MARGIN (float32 arithmetic uses a small part of the tolerance).
  time limits     Kattis' rule, limit ≥ TIME_MARGIN × the slowest accepted solution, where the
                  solutions are every correct one validate knows, each graded as a student's program
                  meets it: cold (an empty compilation cache: every case compiles) on one CPU (the
                  platforms' box). Per solution: its slowest case against case_time_s (and its
                  slowest compile against compile_time_s, where compiles are timed apart), its time
                  outside the cases (children's start, JAX's import, loading) against load_time_s,
                  its whole grading against total_time_s.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..judge.compare import within_tolerance
from ..judge.drift import agreement
from ..problem import CaseSpec, Limits

WRONG_MARGIN = 10.0
F64_MARGIN = 3.0
TIME_MARGIN = 2.0      # every correct solution, cold on one CPU, finishes within half of each limit


@dataclass(frozen=True)
class CaseQuality:
    spec: CaseSpec
    kills: tuple[str, ...]                 # variants this case catches
    ratios: dict[str, float]               # variant -> distance from expected, in tolerances
    f64: float | None                      # float32 reference vs float64, in tolerances
    wrong: float | None                    # smallest ratio among the variants killed
    wrong_variant: str | None
    problems: tuple[str, ...]

    @property
    def tol_over_f64(self) -> float | None:
        if self.f64 is None:
            return None
        return math.inf if self.f64 == 0 else 1.0 / self.f64


def assess(specs: tuple[CaseSpec, ...], expected: dict[str, np.ndarray],
           variants: dict[str, dict[str, np.ndarray]], f64: dict[str, np.ndarray] | None,
           rtol: float, atol: float) -> list[CaseQuality]:
    """One CaseQuality per case spec; variants/f64 missing for a case leave its numbers None."""
    out = []
    for spec in specs:
        exp = expected[spec.id]
        outs = variants.get(spec.id, {})
        ratios = {vid: agreement(v, exp, rtol, atol) for vid, v in outs.items()}
        kills = tuple(vid for vid, v in outs.items() if not within_tolerance(v, exp, rtol, atol))
        f = agreement(exp, f64[spec.id], rtol, atol) if f64 and spec.id in f64 else None
        killed = {vid: ratios[vid] for vid in kills}
        wrong_variant = min(killed, key=killed.get) if killed else None
        wrong = killed[wrong_variant] if wrong_variant else None
        problems = []
        if not spec.edge:
            if spec.set == "hidden" and outs and not kills:
                problems.append("kills no variant (mark it `edge: true` if it is kept on purpose)")
            if wrong is not None and wrong < WRONG_MARGIN:
                problems.append(f"catches {wrong_variant} only {wrong:.3g}× beyond the tolerance "
                                f"(need ≥ {WRONG_MARGIN:g}×)")
            if f is not None and f * F64_MARGIN > 1.0:
                problems.append(f"float32 arithmetic uses {f:.3g} of the tolerance "
                                f"(need ≤ 1/{F64_MARGIN:g})")
        if f is not None and f > 1.0:
            problems.append("the reference itself fails the tolerance against float64")
        out.append(CaseQuality(spec, kills, ratios, f, wrong, wrong_variant, tuple(problems)))
    return out


def uncaught(quality: list[CaseQuality], variant_ids: list[str]) -> list[str]:
    """Variants no hidden case kills: a student making that mistake would get full marks."""
    caught = {vid for q in quality if q.spec.set == "hidden" for vid in q.kills}
    return [vid for vid in variant_ids if vid not in caught]


def sole_catchers(quality: list[CaseQuality]) -> dict[str, str]:
    """Variant -> the only hidden case that kills it (removing that case would let it through)."""
    by_variant: dict[str, list[str]] = {}
    for q in quality:
        if q.spec.set == "hidden":
            for vid in q.kills:
                by_variant.setdefault(vid, []).append(q.spec.id)
    return {vid: ids[0] for vid, ids in by_variant.items() if len(ids) == 1}


# -- time limits ----------------------------------------------------------------------------------
LIMITS = ("load_time_s", "case_time_s", "compile_time_s", "total_time_s")


@dataclass(frozen=True)
class ColdRun:
    """One correct solution graded cold on one CPU: its verdict and the times of its phases."""
    file: str                              # as the report shows it (relative to the bundle)
    verdict: str | None                    # None: it could not be graded (`why` says why)
    full_marks: bool
    why: str                               # the first failing case, or why it could not be graded
    case_s: dict[str, float]               # per case: its export (runner), then its program's run (executor)
    total_s: float
    cpu: int | None = None                 # the core it was pinned to
    compile_s: dict[str, float] = field(default_factory=dict)   # per case: the executor's compile, where
                                                                # the grading times it apart from the run

    @property
    def outside_s(self) -> float:
        """Everything outside the cases: the children's start, JAX's and Flax's import, loading the
        file, the grader's own work. It bounds the load phases (which no verdict times whole)."""
        return max(0.0, self.total_s - sum(self.case_s.values()) - sum(self.compile_s.values()))

    @property
    def accepted(self) -> bool:
        return self.verdict == "AC" and self.full_marks


def cold_run(file: str, v: dict, phases: dict | None = None, cpu: int | None = None) -> ColdRun:
    """A ColdRun from a native verdict (a dict, as `grade --json` writes it) and, where known, the
    grading's own phase times per case (`{"case_s": ..., "compile_s": ...}`; else the verdict's)."""
    phases = phases or {}
    cases, compiles = {}, {}
    for c in v.get("cases", []):
        got = phases.get(c["id"], {})
        t = got.get("case_s", c.get("time_s"))
        if t is not None:
            cases[c["id"]] = float(t)
        if got.get("compile_s") is not None:
            compiles[c["id"]] = float(got["compile_s"])
    full = v.get("score", 0) >= v.get("max_score", 0) - 1e-9
    why = (v.get("internal") or {}).get("judge_error") or next(
        (f"{c['id']}: {c.get('message') or c['verdict']}" for c in v.get("cases", []) if c["verdict"] != "AC"),
        "" if full else "a check failed")
    return ColdRun(file, v["verdict"], full, str(why)[:200], cases, float(v["timing"]["total_s"]), cpu, compiles)


@dataclass(frozen=True)
class Margin:
    file: str
    limit: str                             # one of LIMITS
    limit_s: float
    measured_s: float
    case: str | None = None                # case_time_s: the solution's slowest case

    @property
    def ratio(self) -> float:
        return math.inf if self.measured_s <= 0 else self.limit_s / self.measured_s

    @property
    def needed_s(self) -> float:
        return TIME_MARGIN * self.measured_s

    @property
    def ok(self) -> bool:
        return self.limit_s >= self.needed_s

    def say(self) -> str:
        what = (f"{self.case}'s compile took" if self.limit == "compile_time_s" else f"{self.case} took") \
            if self.case else "took"
        return (f"{self.file}: {self.limit} {self.limit_s:g} s leaves {self.ratio:.2f}× ({what} "
                f"{self.measured_s:.2f} s; needs ≥ {self.needed_s:.3g} s)")


def margins(runs: list[ColdRun], limits: Limits) -> list[Margin]:
    """A row per limit per accepted run (a run that is not AC has no time to size a limit from);
    compile_time_s only where the problem has that limit and the grading timed compiles apart."""
    rows = []
    compile_limit = getattr(limits, "compile_time_s", None)
    for r in runs:
        if not r.accepted:
            continue
        rows.append(Margin(r.file, "load_time_s", float(limits.load_time_s), r.outside_s))
        for name, times in (("case_time_s", r.case_s), ("compile_time_s", r.compile_s)):
            limit = limits.case_time_s if name == "case_time_s" else compile_limit
            if limit is not None and (times or name == "case_time_s"):
                worst = max(times, key=times.get, default=None)
                rows.append(Margin(r.file, name, float(limit), times[worst] if worst else 0.0, worst))
        rows.append(Margin(r.file, "total_time_s", float(limits.total_time_s), r.total_s))
    return rows


def tightest(rows: list[Margin]) -> Margin | None:
    return min(rows, key=lambda m: m.ratio, default=None)


def slowest(rows: list[Margin], limit: str) -> Margin | None:
    return max((m for m in rows if m.limit == limit), key=lambda m: m.measured_s, default=None)


def nice(seconds: float) -> float:
    """Round a proposed limit up to 1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6 or 8 × a power of ten (≥ 1 s)."""
    seconds = max(seconds, 1.0)
    base = 10.0 ** math.floor(math.log10(seconds))
    return next(round(m * base, 6) for m in (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10) if m * base >= seconds - 1e-9)


def proposed(rows: list[Margin]) -> dict[str, float]:
    """Each limit: TIME_MARGIN × the slowest accepted solution's time, rounded up."""
    return {name: nice(m.needed_s) for name in LIMITS if (m := slowest(rows, name)) is not None}
