"""PrairieLearn's own results checks (tests/prairielearn_rules.py, re-implemented from its source) run on
this bundle's PrairieLearn output for a representative set of verdicts (AC, WA, RTE, TLE, MLE, OLE, CE,
JE; built in-process and graded from real examples), the wrapper's fallback, the entrypoint's fixed JSON
and the info.json snippet. If PrairieLearn's rules or the adapter drift apart, this fails. Each rule is
proven to bite by the crafted documents at the bottom.
"""
from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
from dataclasses import replace

import pytest

from conftest import ROOT, SUBMISSIONS, one_case_bundle
from grader.adapters import JE_MARK, prairielearn
from prairielearn_rules import (DEFAULT_CAPPED_TIMEOUT_S, DEPRECATED_KEYS, EXTERNAL_GRADING_KEYS, MIB,
                                grader_host, make_grading_result, prairielearn_reads, process_grading_result)
from test_adapters import make_verdict


def _shipped_total_s() -> float:
    from grader.problem import load_problem
    return load_problem().limits.total_time_s


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
    # the shipped total budget (loading included) is within the verdict contract; the deadline adds the start
    assert rg.grader_deadline_s(ROOT / "problem.yaml") == min(_shipped_total_s(), rg.VERDICT_S) + rg.START_S


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
    v = make_verdict(problem, "WA", message=huge, feedback=(huge,) * 20)
    visible = replace(problem, visibility={**problem.visibility, "hidden": "visible"})
    raw = prairielearn.render(v, visible).encode("utf-8")
    seen = prairielearn_reads(raw)
    assert len(raw) <= MIB and seen.gradable and seen.score == 0
    assert {state for _, state in seen.rows} == {"failed"}


REAL_EXAMPLES = {"accepted/basic_bound_module.py": "AC", "wrong_answer/basic_relu.py": "WA",
                 "run_time_error/basic_value_error.py": "RTE", "time_limit_exceeded/hostile_infinite_loop.py": "TLE",
                 "compile_error/basic_syntax_error.py": "CE", "compile_error/notebook_truncated.ipynb": "CE"}


@pytest.fixture(scope="module")
def one_case(tmp_path_factory):
    from grader.problem import load_problem
    return load_problem(one_case_bundle(tmp_path_factory.mktemp("pl-rules"), load_time_s=20, case_time_s=4,
                                        total_time_s=30))


@pytest.mark.slow
@pytest.mark.parametrize("example", sorted(REAL_EXAMPLES))
def test_real_examples_read_as_prairielearn_reads_them(one_case, example):
    from grader.grade import grade
    v = grade(one_case, SUBMISSIONS / example, "public", None)
    assert v.verdict == REAL_EXAMPLES[example]
    seen = prairielearn_reads(prairielearn.render(v, one_case).encode("utf-8"))
    assert seen.feedback.get("succeeded") is True
    if v.verdict == "CE":
        assert not seen.gradable and seen.format_errors
        said = seen.format_errors + [seen.message_shown or ""]
        assert all(sum(s.count(f) for s in said) == 1 for f in v.feedback), said
        return
    assert seen.gradable and seen.score == (1.0 if v.verdict == "AC" else 0.0)
    assert [state for _, state in seen.rows] == ["passed" if v.verdict == "AC" else "failed"]


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
