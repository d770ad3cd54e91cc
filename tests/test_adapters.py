"""The Gradescope and PrairieLearn adapters map FROM the native verdict: schemas, visibility, scores,
size, and what must never reach a platform file (the `internal` detail, hidden expected values)."""
from __future__ import annotations

import json
from dataclasses import replace

import jsonschema
import pytest

from conftest import run_cli
from grader.adapters import JE_MARK, gradescope, prairielearn
from grader.problem import load_schema
from grader.judge.reasons import Reason, found
from grader.judge.verdict import CaseVerdict, CheckVerdict, Verdict, case_points, check_points

SECRET = "INTERNAL-DETAIL-7f3a"     # planted in `internal`: must never appear in a platform file


def make_verdict(problem, code="AC", case_codes=None, message="correct", feedback=()) -> Verdict:
    """A native verdict for the bundle's problem, every case `code` unless case_codes says otherwise."""
    pts = case_points(problem, ("public", "hidden"))
    cases = []
    for c in problem.cases:
        got = (case_codes or {}).get(c.id, code if code != "CE" else "CE")
        cases.append(CaseVerdict(c.id, c.set, c.seed, c.hidden, c.T, got, pts[c.id] if got == "AC" else 0.0,
                                 pts[c.id], 0.0 if got == "AC" else None, None, 0.5, message,
                                 Reason.CORRECT if got == "AC" else Reason.WRONG_VALUES))
    ok = code == "AC"
    checks = tuple(CheckVerdict(k.id, k.required, ok, p if ok else 0.0, p, "fine" if ok else "not run")
                   for k, p in zip(problem.checks, check_points(problem).values()))
    return Verdict(problem=problem.id, bundle={"version": problem.version, "fingerprint": "0" * 16},
                   submission={"path": "solution.py", "sha256": "a" * 64}, verdict=code,
                   score=sum(c.score for c in cases) + sum(k.score for k in checks),
                   max_score=sum(c.max_score for c in cases) + sum(k.max_score for k in checks),
                   cases=tuple(cases), checks=checks,
                   hints=tuple(found(Reason.NOT_RUN, detail=f) for f in feedback),
                   environment={"python": "3.11.2", "isolation": "bwrap"}, timing={"total_s": 12.5},
                   internal={"judge_error": SECRET, "exact_errors": {"h01": [SECRET]}, "output_head": SECRET})


@pytest.fixture(scope="module")
def problem(test_problem):
    return test_problem


def both(v, problem) -> tuple[dict, dict]:
    gs, pl = gradescope.render(v, problem), prairielearn.render(v, problem)
    assert SECRET not in gs and SECRET not in pl and "internal" not in gs and "internal" not in pl
    gs_doc, pl_doc = json.loads(gs), json.loads(pl)
    jsonschema.validate(gs_doc, load_schema("gradescope.schema.json"))
    jsonschema.validate(pl_doc, load_schema("prairielearn.schema.json"))
    return gs_doc, pl_doc


def test_accepted_gets_full_marks_on_both(problem):
    gs, pl = both(make_verdict(problem, "AC"), problem)
    assert gs["score"] == pytest.approx(problem.max_score, abs=1e-3)
    assert gs["stdout_visibility"] == "hidden" and isinstance(gs["execution_time"], float)
    assert len(gs["tests"]) == len(problem.cases) + len(problem.checks)
    assert all(t["status"] == "passed" for t in gs["tests"])
    assert sum(t["max_score"] for t in gs["tests"]) == pytest.approx(problem.max_score, abs=1e-3)
    assert pl["gradable"] is True and pl["score"] == 1.0
    public = [t for t in pl["tests"] if t["name"].startswith("public")]
    assert {(t["points"], t["max_points"]) for t in public} == {(prairielearn.MARK_POINTS,) * 2}
    assert sum(t["max_points"] for t in pl["tests"] if t not in public) == pytest.approx(problem.max_score, abs=1e-3)


def test_prairielearn_marks_a_failed_public_case_without_changing_the_score(problem):
    first = next(c.id for c in problem.cases if c.set == "public")
    ac, wa = make_verdict(problem, "AC"), replace(make_verdict(problem, "AC", {first: "WA"}), verdict="WA")
    _, pl_ac = both(ac, problem)
    _, pl_wa = both(wa, problem)
    row = next(t for t in pl_wa["tests"] if f" {first} " in t["name"])
    assert (row["points"], row["max_points"]) == (0, prairielearn.MARK_POINTS)    # drawn red, worth 0
    assert pl_wa["score"] == pl_ac["score"] == 1.0 and wa.score == ac.score
    assert "only so that a failed one is marked" in pl_wa["message"]


def test_gradescope_rows_take_visibility_from_problem(problem):
    gs, _ = both(make_verdict(problem, "AC"), problem)
    by_set = {}
    for t in gs["tests"]:
        key = t["name"].split(" ")[0]
        by_set.setdefault(key, set()).add(t["visibility"])
    assert by_set == {"public": {problem.visibility["public"]}, "hidden": {problem.visibility["hidden"]},
                      "check": {problem.visibility["checks"]}}


def test_wrong_answer_is_partial_with_hidden_cases_summarised_on_prairielearn(problem):
    hidden = [c.id for c in problem.cases if c.set == "hidden"]
    codes = {cid: "WA" for cid in hidden[:5]}
    v = make_verdict(problem, "AC", codes, message="wrong values in 3 of 16 entries: max abs error ≈1e-1")
    v = replace(v, verdict="WA")
    gs, pl = both(v, problem)
    assert 0 < gs["score"] < problem.max_score and 0 < pl["score"] < 1
    assert pl["score"] == pytest.approx(gs["score"] / problem.max_score, abs=1e-4)
    assert [t["status"] for t in gs["tests"] if t["name"].startswith("hidden")].count("failed") == 5
    hidden_rows = [t for t in pl["tests"] if t["name"].startswith("hidden")]
    assert len(hidden_rows) == 1 and hidden_rows[0]["message"].startswith(f"{len(hidden) - 5} of {len(hidden)}")
    assert all(h not in json.dumps(pl) for h in hidden)          # no per-case detail at all
    assert all({"name", "description", "points", "max_points", "message", "output"} <= set(t) for t in pl["tests"])


def test_prairielearn_shows_hidden_rows_when_the_problem_makes_them_visible(problem):
    visible = replace(problem, visibility={**problem.visibility, "hidden": "visible"})
    _, pl = both(make_verdict(visible, "AC"), visible)
    assert len(pl["tests"]) == len(problem.cases) + len(problem.checks)


def test_compile_error_is_not_gradable_on_prairielearn_and_zero_on_gradescope(problem):
    v = make_verdict(problem, "CE", message="not run: loading your file failed: SyntaxError",
                     feedback=("Loading your file failed: SyntaxError: invalid syntax [solution.py:2].",))
    gs, pl = both(v, problem)
    assert gs["score"] == 0 and "SyntaxError" in gs["output"] and "could not load" in gs["output"]
    assert pl["gradable"] is False and "score" not in pl
    assert "SyntaxError" in pl["format_errors"][0] and "SyntaxError" not in pl["message"]   # said once


def test_judge_error_is_marked_for_the_instructor_and_charges_nothing(problem):
    gs, pl = both(make_verdict(problem, "JE", message="not graded: judge error"), problem)
    assert gs["score"] == 0 and gs["output"].startswith(JE_MARK) and gs["extra_data"]["judge_error"] is True
    assert pl["gradable"] is False and pl["format_errors"][0].startswith(JE_MARK)
    assert JE_MARK not in pl.get("message", "")


def test_prairielearn_stays_under_one_megabyte(problem):
    huge = "x" * 200_000
    v = replace(make_verdict(problem, "WA", message=huge), hints=(found(Reason.NOT_RUN, detail=huge),) * 20)
    pl_text = prairielearn.render(replace(v, verdict="WA"), replace(
        problem, visibility={**problem.visibility, "hidden": "visible"}))
    assert len(pl_text.encode()) < prairielearn.SIZE_LIMIT
    assert json.loads(pl_text)["score"] == 0
    assert len(gradescope.render(v, problem).encode()) < 2_000_000


@pytest.mark.parametrize("schema, doc", [
    ("gradescope.schema.json", {"score": 1, "tests": [{"status": "ok"}]}),
    ("gradescope.schema.json", {"score": 1, "stdout_visibility": "students"}),
    ("gradescope.schema.json", {"tests": [{"name": "no score anywhere"}]}),
    ("prairielearn.schema.json", {"score": 1.5}),
    ("prairielearn.schema.json", {"gradable": False}),
    ("prairielearn.schema.json", {"message": "no score"}),
])
def test_schemas_reject_what_the_platforms_reject(schema, doc):
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(doc, load_schema(schema))


def test_cli_dispatches_to_the_adapters(tmp_path, test_problem_path):
    empty = tmp_path / "submission"
    empty.mkdir()
    for fmt, key in (("gradescope", "stdout_visibility"), ("prairielearn", "format_errors")):
        code, out, _ = run_cli(["--problem", str(test_problem_path), "grade", str(empty),
                                "--format", fmt, "--json", "-"])
        doc = json.loads(out)
        assert code == 0 and key in doc
        assert "no solution file" in json.dumps(doc)
