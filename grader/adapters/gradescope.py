"""Gradescope results.json from the native verdict (format: docs/platforms.md, "Gradescope").

One test row per case and per check, each with the visibility problem.yaml gives its set, so hidden
rows appear when the instructor publishes grades (by default). The summary in `output` is what every
student sees at once: the verdict, the score, a count of the hidden cases and the hints. The
autograder's stdout (the CLI report, with a judge error's cause) stays instructor-only.
"""
from __future__ import annotations

from ..problem import Problem
from ..judge.verdict import NAMES, Verdict
from . import (JE_MARK, case_text, case_title, check_text, check_title, clip, dump, headline,
               hidden_summary, points)

OUTPUT_LIMIT = 20_000       # characters of the top-level summary
ROW_LIMIT = 4_000           # characters of one test row's output


def render(verdict: Verdict, problem: Problem) -> str:
    return dump(results(verdict, problem), "gradescope.schema.json")


def results(v: Verdict, problem: Problem) -> dict:
    vis = problem.visibility
    tests = []
    for c in v.cases:
        tests.append({"name": case_title(c), "score": points(c.score),
                      "max_score": points(c.max_score), "status": "passed" if c.verdict == "AC" else "failed",
                      "output": clip(case_text(c), ROW_LIMIT), "visibility": vis[c.set],
                      "tags": [c.set, c.verdict, c.reason.value]})
    for k in v.checks:
        tests.append({"name": check_title(k), "score": points(k.score),
                      "max_score": points(k.max_score), "status": "passed" if k.passed else "failed",
                      "output": clip(check_text(k), ROW_LIMIT), "visibility": vis["checks"],
                      "tags": ["check"]})
    return {
        "score": points(v.score),
        "execution_time": points(float(v.timing.get("total_s") or 0.0)),
        "output": clip(summary(v, problem), OUTPUT_LIMIT),
        "output_format": "text",
        "stdout_visibility": "hidden",
        "tests": tests,
        "extra_data": {"verdict": v.verdict, "judge_error": v.verdict == "JE",
                       "bundle_version": v.bundle["version"], "fingerprint": v.bundle["fingerprint"],
                       "isolation": v.environment.get("isolation"),
                       "submission_sha256": v.submission.get("sha256")},
    }


def summary(v: Verdict, problem: Problem) -> str:
    lines = [headline(v)]
    if v.verdict == "JE":
        return "\n".join(lines)
    hidden = [c for c in v.cases if c.set == "hidden"]
    if hidden:
        later = problem.visibility["hidden"] != "visible"
        lines.append(hidden_summary(hidden) + (": each hidden case's details appear when grades are "
                                               "published." if later else "."))
    first_bad = next((c for c in v.cases if c.verdict != "AC" and c.set == "public"), None)
    if first_bad is not None:
        lines.append(f"First failing public case, {case_title(first_bad)}: {case_text(first_bad)}")
    if v.feedback:
        lines.append("")
        lines += [f"- {f}" for f in v.feedback]
    if v.verdict != "AC":
        lines.append("")
        lines.append(f"Check locally with the handout: `make test` runs the public cases "
                     f"({NAMES['AC']} there is necessary, not sufficient).")
    return "\n".join(lines)


__all__ = ["render", "results", "JE_MARK"]
