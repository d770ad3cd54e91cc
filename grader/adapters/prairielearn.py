"""PrairieLearn external-grader results.json from the native verdict (format: docs/platforms.md, "PrairieLearn").

PrairieLearn shows every test row to the student at once: it has no per-test visibility. So a set
whose problem.yaml visibility is anything but `visible` becomes ONE aggregated row (points and a
count, no per-case detail). A file that could not be loaded (CE) is `gradable: false` with
`format_errors`, so the student is not charged an attempt; so is a judge error, marked as such; the
error is said once (the element shows `format_errors` and `message` one above the other). The file
must stay under 1 MiB: every text is clipped, and if the whole is still too large the per-row outputs
go first.

How pl-external-grader-results draws a row (apps/prairielearn/elements/pl-external-grader-results/
pl-external-grader-results.py, see docs/platforms.md): with `round_value(max_points) == "0"` a grey
info icon whatever happened, else red when the rounded points differ from the rounded max, else
green. The score PrairieLearn records is the top-level `score`, never the rows' sum. So a row worth
nothing in the verdict (public cases weigh 0) carries MARK_POINTS as its max and as its points only
when passed: drawn red or green, and no score changes.
"""
from __future__ import annotations

import json

from .. import JudgeError
from ..problem import Problem
from ..judge.verdict import NAMES, CaseVerdict, Verdict
from . import (JE_TEXT, case_text, case_title, check_text, check_title, clip, dump, headline,
               hidden_summary, points)

SIZE_LIMIT = 1_000_000      # bytes; PrairieLearn rejects more than 1 MiB (1,048,576): a margin
MARK_POINTS = 0.01          # the smallest max_points the element's round_value(x, 2) does not print as "0"
NOT_GRADED = "Not graded, and no attempt was used: fix the error above and submit again."
MESSAGE_LIMIT = 2_000
OUTPUT_LIMIT = 100_000


def render(verdict: Verdict, problem: Problem) -> str:
    doc = results(verdict, problem)
    text = dump(doc, "prairielearn.schema.json")
    if len(text.encode("utf-8")) > SIZE_LIMIT:
        doc = shrink(doc)
        text = dump(doc, "prairielearn.schema.json")
    if len(text.encode("utf-8")) > SIZE_LIMIT:
        raise JudgeError(f"PrairieLearn results are {len(text)} bytes even after shrinking")
    return text


def results(v: Verdict, problem: Problem) -> dict:
    # Not gradable: the red alerts (format_errors) say what happened, the message only what follows.
    if v.verdict == "JE":
        return {"gradable": False, "format_errors": [JE_TEXT], "output": "", "tests": []}
    if v.verdict == "CE":
        errors = [clip(f, MESSAGE_LIMIT) for f in v.feedback] or ["your file could not be loaded"]
        return {"gradable": False, "format_errors": errors, "message": NOT_GRADED, "output": "", "tests": []}
    tests = _case_rows(v, problem) + _check_rows(v, problem)
    score = v.score / v.max_score if v.max_score > 0 else (1.0 if v.verdict == "AC" else 0.0)
    marked = any(c.max_score == 0 for c in v.cases) or any(k.max_score == 0 for k in v.checks)
    note = (f"\n(Rows worth nothing, like the public cases, show {MARK_POINTS} points only so that a "
            "failed one is marked; the score counts the hidden cases and the checks.)") if marked else ""
    return {"gradable": True, "score": min(1.0, max(0.0, points(score))),
            "message": clip(headline(v) + "".join(f"\n- {f}" for f in v.feedback) + note, MESSAGE_LIMIT),
            "output": clip(_output(v, problem), OUTPUT_LIMIT), "tests": tests}


def _row(name: str, description: str, pts: float, max_pts: float, message: str, passed: int = 0,
         total: int = 0) -> dict:
    """One test row; a row worth nothing carries `passed` / `total` marks of MARK_POINTS instead."""
    if max_pts == 0 and total:
        pts, max_pts = passed * MARK_POINTS, total * MARK_POINTS
    return {"name": name, "description": description, "points": points(pts), "max_points": points(max_pts),
            "message": clip(message, MESSAGE_LIMIT), "output": ""}


def _case_rows(v: Verdict, problem: Problem) -> list[dict]:
    rows = []
    for case_set in ("public", "hidden"):
        cases = [c for c in v.cases if c.set == case_set]
        if not cases:
            continue
        if problem.visibility[case_set] == "visible":
            rows += [_row(case_title(c), f"{case_set} case: H={c.hidden}, T={c.T}, seed={c.seed}",
                          c.score, c.max_score, case_text(c), c.verdict == "AC", 1) for c in cases]
        else:
            rows.append(_row(f"{case_set} cases", f"{len(cases)} {case_set} cases; their details stay "
                             "hidden", sum(c.score for c in cases), sum(c.max_score for c in cases),
                             hidden_summary(cases) if case_set == "hidden" else _count(cases),
                             sum(c.verdict == "AC" for c in cases), len(cases)))
    return rows


def _check_rows(v: Verdict, problem: Problem) -> list[dict]:
    if not v.checks:
        return []
    if problem.visibility["checks"] == "visible":
        return [_row(k.id, check_title(k), k.score, k.max_score, check_text(k), k.passed, 1) for k in v.checks]
    passed = sum(k.passed for k in v.checks)
    return [_row("structure checks", f"{len(v.checks)} checks of how the code is built",
                 sum(k.score for k in v.checks), sum(k.max_score for k in v.checks),
                 f"{passed} of {len(v.checks)} checks passed", passed, len(v.checks))]


def _count(cases: list[CaseVerdict]) -> str:
    passed = sum(c.verdict == "AC" for c in cases)
    return f"{passed} of {len(cases)} cases passed"


def _output(v: Verdict, problem: Problem) -> str:
    """A plain-text table of what the student may see (the same rows as `tests`)."""
    lines = [headline(v)]
    for c in v.cases:
        if problem.visibility[c.set] == "visible":
            lines.append(f"  {c.id:<6} {c.set:<6} H={c.hidden:<4} T={c.T:<5} {c.verdict:<3} {c.message}")
    hidden = [c for c in v.cases if c.set == "hidden"]
    if hidden and problem.visibility["hidden"] != "visible":
        lines.append(f"  {hidden_summary(hidden)}")
    if problem.visibility["checks"] == "visible":
        lines += [f"  check {k.id}: {check_text(k)}" for k in v.checks]
    lines += [f"hint: {f}" for f in v.feedback]
    if v.verdict != "AC":
        lines.append(f"(the handout's `make test` runs the public cases locally; {NAMES['AC']} there is "
                     "necessary, not sufficient)")
    return "\n".join(lines)


def shrink(doc: dict) -> dict:
    """Drop per-row outputs and clip messages hard: keeps the score and every row's points."""
    small = json.loads(json.dumps(doc))
    small["output"] = clip(small.get("output", ""), 10_000)
    for row in small.get("tests", []):
        row["output"] = ""
        row["message"] = clip(row.get("message", ""), 300)
    return small


__all__ = ["render", "results", "SIZE_LIMIT", "MARK_POINTS"]
