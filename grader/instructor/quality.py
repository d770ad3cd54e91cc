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
  time limits     Kattis-style: limit ≥ TIME_MULTIPLIER × PLATFORM_FACTOR × the reference's CPU time
                  (PLATFORM_FACTOR: Gradescope's default box has half a CPU, so wall = 2 × CPU); the
                  total budget ≥ TOTAL_MARGIN × PLATFORM_FACTOR × the reference's whole run.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..judge.compare import within_tolerance
from ..judge.drift import agreement
from ..problem import CaseSpec, Limits

WRONG_MARGIN = 10.0
F64_MARGIN = 3.0
TIME_MULTIPLIER = 5.0
PLATFORM_FACTOR = 2.0
TOTAL_MARGIN = 2.0     # the total budget: Kattis' time_safety_margin over the whole run (the per-case
                       # multiplier would ask 10x the reference's total and break the 60 s verdict)


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
@dataclass(frozen=True)
class Timing:
    startup_cpu_s: float                   # interpreter + JAX + flax + the reference's import
    case_cpu_s: dict[str, float]           # per case, compilation included
    case_wall_s: dict[str, float]


@dataclass(frozen=True)
class LimitCheck:
    name: str
    limit_s: float
    needed_s: float                        # TIME_MULTIPLIER × PLATFORM_FACTOR × measured
    measured_s: float
    proposed_s: float

    @property
    def ok(self) -> bool:
        return self.limit_s >= self.needed_s


def _nice(seconds: float) -> float:
    """Round a proposed limit up to 1, 2 or 5 × a power of ten (at least 1 s)."""
    seconds = max(seconds, 1.0)
    base = 10.0 ** math.floor(math.log10(seconds))
    return next(m * base for m in (1, 2, 5, 10) if m * base >= seconds)


def time_limits(t: Timing, limits: Limits) -> list[LimitCheck]:
    factor = TIME_MULTIPLIER * PLATFORM_FACTOR
    slowest = max(t.case_cpu_s.values(), default=0.0)
    total = t.startup_cpu_s + sum(t.case_cpu_s.values())
    rows = [("case_time_s", limits.case_time_s, slowest),
            ("load_time_s", limits.load_time_s, t.startup_cpu_s),
            ("total_time_s", limits.total_time_s, total)]
    factors = {"total_time_s": TOTAL_MARGIN * PLATFORM_FACTOR}
    return [LimitCheck(name, float(limit), factors.get(name, factor) * m, m, _nice(factors.get(name, factor) * m))
            for name, limit, m in rows]
