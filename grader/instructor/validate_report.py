"""Render a validation Report: tables on the terminal (kill sets, margins, time limits, checks), JSON;
and write it where the operator asked."""
from __future__ import annotations

import json
import math
import os
import sys
from pathlib import Path

from .. import UsageError
from .quality import F64_MARGIN, LIMITS, TIME_MARGIN, WRONG_MARGIN, proposed, slowest, tightest

SCHEMA_VERSION = 2          # 2: time limits from cold one-CPU gradings of every correct solution


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
    if not report.cold:
        return []
    lines = [f"time limits (each correct solution graded cold, an empty compilation cache, on one CPU; "
             f"every limit ≥ {TIME_MARGIN:g} × the slowest; load average now {os.getloadavg()[0]:.1f}):",
             f"  {'solution':<44} {'verdict':<7} {'outside':>8} {'slowest case':>15} {'total':>8}  "
             f"{'tightest':<22} status"]
    by_file: dict[str, list] = {}
    for m in report.limits:
        by_file.setdefault(m.file, []).append(m)
    for r in report.cold:
        rows = by_file.get(r.file, [])
        case = next((m for m in rows if m.limit == "case_time_s"), None)
        tight = tightest(rows)
        status = "FAIL" if not r.accepted or any(not m.ok for m in rows) else "ok"
        lines.append(f"  {r.file[-44:]:<44} {r.verdict or '-':<7} {r.outside_s:>7.2f}s "
                     f"{(f'{case.case} {case.measured_s:.2f}s' if case and case.case else '-'):>15} "
                     f"{r.total_s:>7.2f}s  {(f'{tight.limit} {tight.ratio:.2f}×' if tight else '-'):<22} {status}")
    lines += ["", f"  {'limit':<14} {'set':>8} {'slowest':>9} {'needed':>8} {'proposed':>9}  slowest solution"]
    best = proposed(report.limits)
    for name in LIMITS:
        m = slowest(report.limits, name)
        if m is not None:
            lines.append(f"  {name:<14} {m.limit_s:>7g}s {m.measured_s:>8.2f}s {m.needed_s:>7.2f}s "
                         f"{best[name]:>8g}s  {m.file}{' ' + m.case if m.case else ''}  {'ok' if m.ok else 'FAIL'}")
    tight = tightest(report.limits)
    if tight is not None:
        lines.append(f"  tightest: {tight.say()}")
    if calibrate and best:
        lines.append(f"proposed limits for problem.yaml ({TIME_MARGIN:g}× the slowest correct solution, cold on one "
                     "CPU, rounded up):")
        lines.append("  limits:")
        lines += [f"    {name}: {value:g}" for name, value in best.items()]
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
    cold_max: dict[str, float] = {}
    for r in report.cold:
        for cid, t in r.case_s.items():
            cold_max[cid] = max(cold_max.get(cid, 0.0), t)
    best = proposed(report.limits)
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
                   "cold_s_max": _f(cold_max.get(q.spec.id)),
                   "problems": list(q.problems)} for q in report.quality],
        "cold_gradings": [{"file": r.file, "verdict": r.verdict, "full_marks": r.full_marks, "why": r.why,
                           "cpu": r.cpu, "total_s": _f(r.total_s), "outside_s": _f(r.outside_s),
                           "case_s": {k: _f(v) for k, v in r.case_s.items()}} for r in report.cold],
        "margins": [{"file": m.file, "limit": m.limit, "case": m.case, "set_s": m.limit_s,
                     "measured_s": _f(m.measured_s), "needed_s": _f(m.needed_s), "ratio": _f(m.ratio), "ok": m.ok}
                    for m in report.limits],
        "time_limits": [{"limit": name, "set_s": m.limit_s, "slowest_file": m.file, "case": m.case,
                         "measured_s": _f(m.measured_s), "needed_s": _f(m.needed_s), "proposed_s": best[name],
                         "ok": m.ok}
                        for name in LIMITS if (m := slowest(report.limits, name)) is not None],
        "rules": {"wrong_over_tol_min": WRONG_MARGIN, "tol_over_float64_min": F64_MARGIN,
                  "time_margin": TIME_MARGIN},
    }
    return json.dumps(doc, indent=2, sort_keys=True, allow_nan=False) + "\n"


def finish(report, args) -> int:
    """Print the report (JSON on stdout with `--json -`, the text then on stderr); exit status."""
    text = render_text(report, calibrate=args.calibrate)
    if args.json == "-":
        sys.stderr.write(text)
        sys.stdout.write(render_json(report))
    else:
        sys.stdout.write(text)
        if args.json:
            from ..judge.verdict import write_atomic
            try:
                write_atomic(Path(args.json), render_json(report))
            except OSError as e:
                raise UsageError(f"{args.json}: cannot write the report ({e.strerror})") from None
    return 0 if report.passed else 1
