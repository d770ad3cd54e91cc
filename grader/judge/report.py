"""The human report of a verdict: one line per case and check, a total, then the hints."""
from __future__ import annotations

from .verdict import NAMES, Verdict


def render_text(v: Verdict, show_output: bool = False) -> str:
    lines = [f"{v.problem} · {v.submission['path']}"
             + (f" · sha256 {v.submission['sha256'][:12]}" if v.submission["sha256"] else "")]
    for c in v.cases:
        t = f"{c.time_s:6.2f}s" if c.time_s is not None else "     - "
        lines.append(f"  {c.id:<6} {c.set:<6} seed={c.seed:<10} H={c.hidden:<4} T={c.T:<5} "
                     f"{c.verdict:<3} {t}  {_pts(c.score, c.max_score)}  {c.message}")
    if v.checks:
        lines.append("  checks:")
        for k in v.checks:
            mark = "pass" if k.passed else ("FAIL" if k.required else "fail")
            lines.append(f"    {k.id:<14} {mark}  {_pts(k.score, k.max_score)}  {k.message}")
    lines.append(f"verdict: {v.verdict} ({NAMES[v.verdict]})  score {v.score:.2f} / {v.max_score:.2f}"
                 f"  [{v.environment['isolation']} isolation, {v.timing['total_s']:.1f}s]")
    if v.environment["isolation"] == "process":
        lines.append("note: process isolation only (limits, no sandbox guarantees): fine for a local check")
    for f in v.feedback:
        lines.append(f"hint: {f}")
    # What the submission printed may carry a hidden case's input: shown only when none was graded.
    head = v.internal.get("output_head") if show_output else None
    if head and any(c.set == "hidden" for c in v.cases):
        lines.append("(what your code printed is not shown: hidden cases were graded)")
    elif head:
        lines.append("your code printed (first lines):")
        lines += ["  | " + line for line in head.splitlines()[:20]]
    if v.verdict == "JE" and v.internal.get("judge_error"):
        lines.append(f"judge error: {v.internal['judge_error']}")
    return "\n".join(lines) + "\n"


def _pts(score: float, max_score: float) -> str:
    return f"{score:5.1f}/{max_score:<5.1f}"
