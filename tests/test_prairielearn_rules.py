"""PrairieLearn's own results checks, re-implemented from its source, run on this bundle's PrairieLearn
output for a representative set of verdicts (AC, WA, RTE, TLE, MLE, OLE, CE, JE), the wrapper's fallbacks
and the entrypoint's fixed JSON. If PrairieLearn's rules or the adapter drift apart, this fails.

Source read: github.com/PrairieLearn/PrairieLearn at 88fb8556a7a1768e2082736be9095241b11238d7 (2026-08-21):
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
Each rule is proven to bite by the crafted documents at the bottom.
"""
from __future__ import annotations

import importlib.util
import json
import math
import re
import subprocess
import sys
from dataclasses import dataclass, field, replace

import pytest

from conftest import ROOT
from grader.adapters import JE_MARK, prairielearn
from test_adapters import make_verdict

MIB = 1024 * 1024


# -- the re-implementation ------------------------------------------------------------------------------

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


def test_the_info_json_snippet_starts_external_grading(tmp_path):
    proc = subprocess.run([sys.executable, str(ROOT / "tools/build.py"), "prairielearn", "--dist",
                           str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    info = json.loads((tmp_path / "prairielearn" / "info.json").read_text())
    assert info["gradingMethod"] == "External"                      # else PrairieLearn grades Internal
    options = info["externalGradingOptions"]
    assert set(options) <= EXTERNAL_GRADING_KEYS - DEPRECATED_KEYS and {"image", "timeout"} <= set(options)
    timeout = options["timeout"]
    assert isinstance(timeout, int) and not isinstance(timeout, bool) and 0 < timeout <= DEFAULT_CAPPED_TIMEOUT_S
    rg = _run_grader()
    # the wrapper's deadline, its SIGINT grace and SIGKILL wait and its exit all fit in the timeout
    assert rg.grader_deadline_s(ROOT / "problem.yaml") + rg.GRACE_S + rg.KILL_WAIT_S + rg.EXIT_S <= timeout
    assert rg.grader_deadline_s(ROOT / "problem.yaml") >= rg.VERDICT_S      # the 60 s verdict fits inside


# -- the bundle's outputs under these rules -------------------------------------------------------------

@pytest.fixture(scope="module")
def problem(test_problem):
    return test_problem


def example_verdicts(problem) -> dict:
    public = [c.id for c in problem.cases if c.set == "public"]
    hidden = [c.id for c in problem.cases if c.set == "hidden"]
    some = {cid: "WA" for cid in public[:1] + hidden[:3]}
    return {
        "AC": make_verdict(problem, "AC"),
        "WA": replace(make_verdict(problem, "AC", some, message="wrong values"), verdict="WA"),
        "RTE": make_verdict(problem, "RTE", message="RuntimeError: boom"),
        "TLE": replace(make_verdict(problem, "AC", {hidden[-1]: "TLE", public[0]: "TLE"}), verdict="TLE"),
        "MLE": make_verdict(problem, "MLE", message="over the memory limit"),
        "OLE": make_verdict(problem, "OLE", message="over the output limit"),
        "CE": make_verdict(problem, "CE", message="not run", feedback=(
            "Loading your file failed: SyntaxError: invalid syntax [solution.py:2].",)),
        "JE": make_verdict(problem, "JE", message="not graded: judge error"),
    }


@pytest.mark.parametrize("code", ["AC", "WA", "RTE", "TLE", "MLE", "OLE", "CE", "JE"])
def test_prairielearn_accepts_the_adapter_output(problem, code):
    v = example_verdicts(problem)[code]
    raw = prairielearn.render(v, problem).encode("utf-8")
    assert len(raw) <= MIB
    seen = prairielearn_reads(raw)
    assert seen.feedback.get("succeeded") is True, seen.feedback       # no "Grading failed!"
    if code in ("CE", "JE"):
        assert not seen.gradable and seen.heading == "Invalid, not gradable" and seen.format_errors
        said = seen.format_errors + [seen.message_shown or ""]
        text = v.feedback[0] if code == "CE" else JE_MARK
        assert sum(s.count(text) for s in said) == 1, said             # the error is said once
        return
    assert seen.gradable and seen.score == pytest.approx(v.score / v.max_score, abs=1e-6)
    assert None not in {state for _, state in seen.rows}                # every row has its points
    assert "info" not in {state for _, state in seen.rows}              # no failure drawn neutral
    by_case = {c.id: c for c in v.cases}
    for name, state in seen.rows:
        case = next((by_case[w] for w in name.split() if w in by_case), None)
        if case is not None:                                            # a visible (public) case row
            assert state == ("passed" if case.verdict == "AC" else "failed"), name
        elif name.startswith("hidden"):
            hidden = [c for c in v.cases if c.set == "hidden"]
            assert state == ("passed" if all(c.verdict == "AC" for c in hidden) else "failed")


def test_a_huge_verdict_still_fits_and_is_read(problem):
    huge = "x" * 200_000
    v = replace(make_verdict(problem, "WA", message=huge), feedback=(huge,) * 20)
    visible = replace(problem, visibility={**problem.visibility, "hidden": "visible"})
    raw = prairielearn.render(v, visible).encode("utf-8")
    seen = prairielearn_reads(raw)
    assert len(raw) <= MIB and seen.gradable and seen.score == 0
    assert {state for _, state in seen.rows} == {"failed"}


def _run_grader():
    spec = importlib.util.spec_from_file_location("run_grader", ROOT / "platform/common/run_grader.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_wrappers_fallbacks_are_not_gradable_and_say_it_once():
    doc = _run_grader().fallback("prairielearn", "grading did not finish within 70 s", 1.0)
    fixed = re.search(r"write_fixed '(\{.*\})'", (ROOT / "platform/prairielearn/entrypoint").read_text())
    for raw in (json.dumps(doc).encode(), fixed.group(1).encode()):
        seen = prairielearn_reads(raw)
        assert seen.feedback["succeeded"] and not seen.gradable and seen.format_errors
        assert sum(s.count(JE_MARK) for s in seen.format_errors + [seen.message_shown or ""]) == 1


def test_results_are_written_readable_by_the_grader_host(tmp_path):
    """The host reads results.json as its own user (H: fs.readFile): 0644, whatever the umask."""
    target = tmp_path / "results.json"
    _run_grader().write_bytes_atomic(target, b'{"score": 1}\n')
    assert target.stat().st_mode & 0o777 == 0o644 and target.read_bytes() == b'{"score": 1}\n'
    assert [p.name for p in tmp_path.iterdir()] == ["results.json"]     # no temp file left


# -- the re-implementation bites where PrairieLearn does ------------------------------------------------

@pytest.mark.parametrize("doc, gradable, score", [
    ({"score": 0.5}, True, 0.5),
    ({}, True, 0),                                        # missing score counts as 0
    ({"score": 1.5}, False, 0),                           # out of range: not clamped, not gradable
    ({"score": -0.1}, False, 0),
    ({"score": "0.5"}, False, 0),                         # a string is not a number
    ({"score": True}, False, 0),                          # nor is a boolean (Python's bool is an int)
    ({"score": 0.9, "succeeded": False}, True, 0),        # the course said it failed
    ({"score": 0.9, "gradable": False}, False, 0.9),      # not gradable: no score, no attempt
])
def test_score_rules(doc, gradable, score):
    seen = prairielearn_reads(json.dumps(doc).encode())
    assert (seen.gradable, seen.score) == (gradable, score)


@pytest.mark.parametrize("raw", [b'{"score": NaN}', b'{"score": Infinity}', b"{not json", b"null", b"0"])
def test_what_javascript_cannot_parse_or_read_fails_the_job(raw):
    seen = prairielearn_reads(raw)
    assert not seen.gradable and seen.heading == "Grading failed!"


def test_size_limit_is_one_mebibyte_exactly():
    body = b'{"score": 1, "output": "'
    fits = body + b"x" * (MIB - len(body) - 2) + b'"}'
    assert len(fits) == MIB and prairielearn_reads(fits).gradable
    assert not prairielearn_reads(fits[:-2] + b'x"}').gradable


def test_a_nonzero_exit_is_never_read():
    assert not prairielearn_reads(b'{"score": 1}', exit_code=1).gradable


def test_format_errors_string_or_list():
    assert prairielearn_reads(b'{"gradable": false, "format_errors": "bad"}').format_errors == ["bad"]
    assert prairielearn_reads(b'{"gradable": false, "format_errors": ["a", "b"]}').format_errors == ["a", "b"]
    assert prairielearn_reads(b'{"gradable": false, "format_errors": 3}').format_errors == []


def test_how_rows_are_drawn():
    rows = [{"name": "zero", "points": 0, "max_points": 0}, {"name": "lost", "points": 0, "max_points": 0.01},
            {"name": "won", "points": 0.01, "max_points": 0.01}, {"name": "part", "points": 1, "max_points": 2},
            {"name": "tiny", "points": 0, "max_points": 0.001}]
    seen = prairielearn_reads(json.dumps({"score": 0.5, "tests": rows}).encode())
    assert seen.rows == [("zero", "info"), ("lost", "failed"), ("won", "passed"), ("part", "failed"),
                         ("tiny", "info")]
    rows.append({"name": "no points"})
    assert {s for _, s in prairielearn_reads(json.dumps({"score": 0.5, "tests": rows}).encode()).rows} == {None}


def test_a_null_score_is_recorded_as_zero_but_crashes_the_element():
    """C turns null into 0, but E multiplies results.get("score", 0) by 100: never write null."""
    with pytest.raises(TypeError):
        prairielearn_reads(b'{"score": null}')
    assert process_grading_result(make_grading_result(grader_host(b'{"score": null}'))).score == 0
