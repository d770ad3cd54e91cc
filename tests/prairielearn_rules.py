"""PrairieLearn's results checks, re-implemented from its source (tests/test_prairielearn_rules.py runs them).

Read in github.com/PrairieLearn/PrairieLearn at 88fb8556a7a1768e2082736be9095241b11238d7 (2026-08-21):
  H  apps/grader-host/src/index.ts (runJob): results read only when the container exited 0 in time; more
     than 1024 * 1024 bytes -> failed; JSON.parse (no NaN/Infinity literals) else failed
  C  apps/prairielearn/src/lib/externalGraderCommon.ts (makeGradingResult): score null/missing -> 0, a
     non-number or NaN -> failed; format_errors a string -> [it], a list -> it, else []
  P  apps/prairielearn/src/lib/externalGrader.ts (processGradingResult): gradable = job succeeded and
     (results.gradable ?? true); results.succeeded false -> score 0; a score not finite or outside
     [0, 1] -> not gradable (never clamped)
  Q  apps/prairielearn/src/schemas/infoQuestion.ts, sync/course-db.ts, lib/config.ts: gradingMethod
     defaults to Internal; externalGradingOptions is strict (unknown keys fail the sync), `enabled` is
     deprecated; timeout an integer, default 30 s, cut to the server's maximum (600 s by default)
  E  apps/prairielearn/elements/pl-external-grader-results/pl-external-grader-results.py (render): a row
     is grey "info" when round_value(max_points) == "0", red when rounded points != rounded max, else
     green; no icons at all if any row lacks points or max_points
JavaScript semantics are kept where Python's differ: JSON.parse rejects NaN, a boolean is not a number,
`!!x` and `?.` as JavaScript evaluates them.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, replace

MIB = 1024 * 1024


def _truthy(x) -> bool:
    """JavaScript's !!x for JSON values."""
    return not (x is None or x is False or x == "" or (isinstance(x, (int, float)) and not isinstance(x, bool)
                                                          and (x == 0 or math.isnan(x))))


def _get(obj, key):
    """obj?.key for JSON values: undefined (None) unless obj is an object holding key."""
    return obj.get(key) if isinstance(obj, dict) else None


def _is_js_number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def grader_host(raw: bytes, exit_code: int = 0, timed_out: bool = False) -> dict:
    """H: what the grader host sends on for a finished container."""
    job = {"succeeded": not timed_out and exit_code == 0}
    if not job["succeeded"]:
        return {**job, "results": None}
    if len(raw) > MIB:
        return {"succeeded": False, "message": "The grading results were larger than 1MB."}
    try:
        def no_constants(name):
            raise ValueError(f"JSON.parse rejects {name}")
        job["results"] = json.loads(raw.decode("utf-8"), parse_constant=no_constants)
    except ValueError:
        return {"succeeded": False, "message": "Could not parse the grading results."}
    return job


def make_grading_result(data: dict) -> dict:
    """C: the grading (score, feedback, format_errors) made from the host's message."""
    def failure(message):
        return {"score": 0, "feedback": {"succeeded": False, "message": message}, "format_errors": []}
    if not isinstance(data.get("succeeded"), bool):
        return failure("results did not contain 'succeeded' field.")
    if not data["succeeded"]:
        return {"score": 0, "feedback": data, "format_errors": []}
    results = data.get("results")
    if not _truthy(results):
        return failure("results did not contain 'results' object.")
    score, raw_score = 0, _get(results, "score")
    if raw_score is not None:
        if not (_is_js_number(raw_score) and not math.isnan(raw_score)):
            return failure(f'score "{raw_score}" was not a number.')
        score = raw_score
    errors = _get(results, "format_errors")
    format_errors = [errors] if isinstance(errors, str) else errors if isinstance(errors, list) else []
    return {"score": score, "feedback": data, "format_errors": format_errors}


@dataclass
class Outcome:
    gradable: bool
    score: float
    format_errors: list
    feedback: dict
    rows: list = field(default_factory=list)      # (name, "passed" | "failed" | "info" | None)
    heading: str = ""
    message_shown: str | None = None


def process_grading_result(grading: dict) -> Outcome:
    """P: what PrairieLearn records."""
    feedback, score = grading["feedback"], grading["score"]
    job_succeeded = _truthy(_get(feedback, "succeeded"))
    succeeded = _get(_get(feedback, "results"), "succeeded")
    if not _truthy(True if succeeded is None else succeeded):
        score = 0
    gradable_flag = _get(_get(feedback, "results"), "gradable")
    gradable = job_succeeded and _truthy(True if gradable_flag is None else gradable_flag)
    if gradable and not (_is_js_number(score) and math.isfinite(score) and 0 <= score <= 1):
        score, gradable = 0, False
    return Outcome(gradable, score, grading["format_errors"], feedback)


def round_value(value, digits: int = 2) -> str:
    return f"{value:.{digits}f}".rstrip("0").rstrip(".")


def render_element(outcome: Outcome) -> Outcome:
    """E: the submission panel (a crash here is PrairieLearn's element failing on our file)."""
    feedback = outcome.feedback
    results = feedback.get("results")
    if not feedback.get("succeeded"):
        return replace(outcome, heading="Grading failed!", message_shown=feedback.get("message"))
    gradable = results["gradable"] if results is not None and "gradable" in results else True
    heading = "Invalid, not gradable" if not gradable else f"Score: {round_value(results.get('score', 0) * 100)}%"
    rows, tests = [], results.get("tests") or []
    missing = any(t.get("points") is None or t.get("max_points") is None for t in tests)
    for t in tests:
        if missing:
            rows.append((t.get("name", ""), None))
            continue
        pts, top = round_value(t.get("points")), round_value(t.get("max_points"))
        rows.append((t.get("name", ""), "info" if top == "0" else "failed" if pts != top else "passed"))
    return replace(outcome, rows=rows, heading=heading, message_shown=results.get("message"))


def prairielearn_reads(raw: bytes, exit_code: int = 0) -> Outcome:
    """Everything PrairieLearn does with a results.json, in order."""
    return render_element(process_grading_result(make_grading_result(grader_host(raw, exit_code))))


# Q: the keys externalGradingOptions accepts (`.strict()`), and those marked deprecated.
EXTERNAL_GRADING_KEYS = {"comment", "enabled", "image", "entrypoint", "serverFilesCourse", "timeout",
                         "enableNetworking", "environment"}
DEPRECATED_KEYS = {"enabled"}
DEFAULT_CAPPED_TIMEOUT_S = 90          # issue 13: what servers with a lowered maximum still accept
