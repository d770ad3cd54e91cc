"""The verdict: scoring, the top-level rule, the schema, and the reference/starter on every set."""
from __future__ import annotations

import json

import jsonschema
import numpy as np
import pytest

from conftest import ROOT
from grader.grade import grade
from grader.problem import load_schema
from grader.judge.reasons import Reason
from grader.judge.verdict import CaseVerdict, CheckVerdict, case_points, check_points, render, top_level


def _case(cid, verdict, set_="hidden"):
    return CaseVerdict(cid, set_, 1, 4, 2, verdict, 0.0, 1.0, None, None, None, "", Reason.NOT_RUN)


def _check(passed, required=True):
    return CheckVerdict("c", required, passed, 0.0, 1.0, "")


@pytest.mark.parametrize("cases,checks,want", [
    (["AC", "AC"], [True], "AC"),
    (["AC", "WA", "TLE"], [True], "WA"),
    (["AC", "TLE", "WA"], [True], "TLE"),
    (["WA", "JE"], [True], "JE"),
    (["AC", "AC"], [False], "WA"),
    (["AC"], [True, False], "WA"),
])
def test_top_level_rule(cases, checks, want):
    cv = tuple(_case(f"c{i}", v) for i, v in enumerate(cases))
    kv = tuple(_check(p) for p in checks)
    assert top_level(cv, kv) == want


def test_optional_check_failure_does_not_cap_the_verdict():
    assert top_level((_case("a", "AC"),), (_check(False, required=False),)) == "AC"


def test_points_split(test_problem):
    pts = case_points(test_problem, ("public", "hidden"))
    hidden = [c.id for c in test_problem.cases_of("hidden")]
    assert sum(pts.values()) == pytest.approx(80.0)
    assert all(pts[c.id] == 0 for c in test_problem.cases_of("public"))
    assert len({round(pts[h], 9) for h in hidden}) == 1
    assert sum(check_points(test_problem).values()) == pytest.approx(20.0)


@pytest.mark.slow
def test_reference_full_marks_on_all_sets(test_problem):
    v = grade(test_problem, ROOT / "reference" / "solution.py", "all")
    assert v.verdict == "AC" and v.score == pytest.approx(100.0) and v.max_score == pytest.approx(100.0)
    assert len(v.cases) == len(test_problem.cases) and all(c.verdict == "AC" for c in v.cases)
    doc = json.loads(render(v))
    jsonschema.validate(doc, load_schema("verdict.schema.json"))
    assert doc["environment"]["isolation"] in ("bwrap", "uid", "process")
    assert doc["bundle"]["fingerprint"] and doc["submission"]["sha256"]


def test_starter_is_not_accepted_and_says_not_implemented(test_problem):
    v = grade(test_problem, ROOT / "starter" / "solution.py", "all")
    assert v.verdict == "RTE" and v.score == 0
    assert all("not implemented yet" in c.message for c in v.cases)
    assert any("NotImplementedError" in f for f in v.feedback)


def test_renderer_refuses_a_verdict_that_breaks_the_schema(test_problem):
    v = grade(test_problem, ROOT / "starter" / "solution.py", "public")
    import dataclasses
    from grader import JudgeError
    with pytest.raises(JudgeError, match="schema"):
        render(dataclasses.replace(v, score=-1.0))
    with pytest.raises(ValueError):
        render(dataclasses.replace(v, score=float(np.nan)))
