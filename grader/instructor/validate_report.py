"""Render a validation Report: tables on the terminal (kill sets, margins, time limits, checks), JSON."""
from __future__ import annotations

import json
import math

from .quality import F64_MARGIN, PLATFORM_FACTOR, TIME_MULTIPLIER, WRONG_MARGIN

SCHEMA_VERSION = 1


def _num(x: float | None, fmt: str = ".3g") -> str:
    if x is None:
        return "-"
    return "inf" if math.isinf(x) else format(x, fmt)


def kill_table(report) -> list[str]:
    vids = report.variant_ids
    hidden = [q for q in report.quality if q.spec.set == "hidden"]
    if not vids or not hidden:
        return []
    cols = " ".join(f"{i + 1:>2}" for i in range(len(vids)))
    lines = ["kill sets (hidden cases; K = the variant fails the tolerance here, . = it passes):",
             f"  case  {'H':>4} {'T':>4}  edge  |{cols} | kills"]
    for q in hidden:
        cells = " ".join(f"{'K' if v in q.kills else ('.' if v in q.ratios else '-'):>2}" for v in vids)
        lines.append(f"  {q.spec.id:<5} {q.spec.hidden:>4} {q.spec.T:>4}  {'edge' if q.spec.edge else '    '}  "
                     f"|{cells} | {len(q.kills)}")
    counts = " ".join(f"{sum(v in q.kills for q in hidden):>2}" for v in vids)
    lines.append(f"  {'caught by':<21}  |{counts} |")
    lines.append("  variants: " + ", ".join(f"{i + 1}={v}" for i, v in enumerate(vids)))
    return lines


def margin_table(report) -> list[str]:
    if not report.quality:
        return []
    lines = [f"tolerance margins (in units of the tolerance; non-edge cases need wrong/tol ≥ {WRONG_MARGIN:g} "
             f"and tol/float64 ≥ {F64_MARGIN:g}):",
             f"  case  set     {'H':>4} {'T':>4}  edge  {'float64/tol':>11} {'tol/float64':>11} "
             f"{'wrong/tol':>10}  closest variant     status"]
    for q in report.quality:
        status = "ok" if not q.problems else "FAIL" if not q.spec.edge else "edge"
        lines.append(f"  {q.spec.id:<5} {q.spec.set:<6}  {q.spec.hidden:>4} {q.spec.T:>4}  "
                     f"{'edge' if q.spec.edge else '    '}  {_num(q.f64, '.2e'):>11} {_num(q.tol_over_f64):>11} "
                     f"{_num(q.wrong):>10}  {q.wrong_variant or '-':<18}  {status}")
    return lines


def limit_table(report, calibrate: bool) -> list[str]:
    if not report.limits:
        return []
    t = report.timing
    factor = TIME_MULTIPLIER * PLATFORM_FACTOR
    slow = sorted(t.case_cpu_s, key=t.case_cpu_s.get, reverse=True)[:3]
    lines = [f"time limits (limit ≥ {TIME_MULTIPLIER:g} × {PLATFORM_FACTOR:g} × the reference's CPU time; "
             f"slowest cases " + ", ".join(f"{c} {t.case_cpu_s[c]:.3f}s CPU/{t.case_wall_s[c]:.3f}s wall"
                                           for c in slow) + "):",
             f"  {'limit':<13} {'set':>8} {'measured':>9} {'needed':>8} {'proposed':>9}  status"]
    for c in report.limits:
        lines.append(f"  {c.name:<13} {c.limit_s:>7g}s {c.measured_s:>8.3f}s {c.needed_s:>7.2f}s "
                     f"{c.proposed_s:>8g}s  {'ok' if c.ok else 'FAIL'}")
    if calibrate:
        lines.append(f"proposed limits for problem.yaml (each {factor:g}× the measured CPU time, rounded up):")
        lines.append("  limits:")
        lines += [f"    {c.name}: {c.proposed_s:g}" for c in report.limits]
    return lines


def render_text(report, calibrate: bool = False) -> str:
    out: list[str] = [f"validate {report.problem}"]
    for block in (kill_table(report), margin_table(report), limit_table(report, calibrate)):
        if block:
            out += [""] + block
    out += ["", "checks:"]
    for c in report.checks:
        out.append(f"  {c.id:<12} {'pass' if c.passed else 'FAIL'}  {c.summary}")
        if not c.passed or c.id == "kill_sets":
            out += [f"      {d}" for d in c.details[:20]]
    n_bad = sum(not c.passed for c in report.checks)
    out.append("validate: " + ("PASS — every check passed" if report.passed
                               else f"FAIL — {n_bad} of {len(report.checks)} checks failed"))
    return "\n".join(out) + "\n"


def _f(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else round(x, 6)


def render_json(report) -> str:
    t = report.timing
    doc = {
        "schema_version": SCHEMA_VERSION, "problem": report.problem, "passed": report.passed,
        "checks": [{"id": c.id, "passed": c.passed, "summary": c.summary, "details": c.details}
                   for c in report.checks],
        "variants": report.variant_ids,
        "cases": [{"id": q.spec.id, "set": q.spec.set, "hidden": q.spec.hidden, "T": q.spec.T,
                   "edge": q.spec.edge, "kills": list(q.kills),
                   "variant_ratios": {k: _f(v) for k, v in q.ratios.items()},
                   "float64_over_tol": _f(q.f64), "tol_over_float64": _f(q.tol_over_f64),
                   "wrong_over_tol": _f(q.wrong), "closest_variant": q.wrong_variant,
                   "cpu_s": _f(t.case_cpu_s.get(q.spec.id)) if t else None,
                   "wall_s": _f(t.case_wall_s.get(q.spec.id)) if t else None,
                   "problems": list(q.problems)} for q in report.quality],
        "time_limits": [{"limit": c.name, "set_s": c.limit_s, "measured_cpu_s": _f(c.measured_s),
                         "needed_s": _f(c.needed_s), "proposed_s": c.proposed_s, "ok": c.ok}
                        for c in report.limits],
        "rules": {"wrong_over_tol_min": WRONG_MARGIN, "tol_over_float64_min": F64_MARGIN,
                  "time_multiplier": TIME_MULTIPLIER, "platform_factor": PLATFORM_FACTOR},
    }
    return json.dumps(doc, indent=2, sort_keys=True, allow_nan=False) + "\n"
