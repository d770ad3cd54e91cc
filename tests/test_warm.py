"""`warm` never fails by chance: the reference runs with trusted time limits (a busy machine once ran
a warm past the student's 50 s budget, and the cases left without a result read as "does not
reproduce case h12 bit for bit"), a case without a result is run once more, and a real difference is
described exactly (which case, how many elements, by how much)."""
from __future__ import annotations

import shutil

import numpy as np
import pytest
import yaml

from conftest import ROOT, one_case_bundle
from grader import JudgeError
from grader.instructor import warm
from grader.judge.cases import load_golden
from grader.outcome import Execution, Outcome
from grader.problem import load_problem

REFERENCE = ROOT / "reference" / "solution.py"


def test_trusted_limits_lengthen_every_time_limit_and_nothing_else(test_problem):
    trusted = warm.trusted_limits(test_problem)
    mine, theirs = vars(trusted.limits), vars(test_problem.limits)
    for name, value in theirs.items():
        assert mine[name] == (value * warm.WARM_TIME_FACTOR if name.endswith("_time_s") else value), name
    assert trusted.cases == test_problem.cases


def test_mismatch_says_which_elements_and_by_how_much(test_problem):
    g = load_golden(test_problem, "public").cases[0]
    same = g.expected.astype("<f4").copy()
    assert warm.mismatch(test_problem, g, same) == ""
    off = same.copy()
    off.view("<u4")[1] += 3                                   # three ulps on one element
    why = warm.mismatch(test_problem, g, off)
    assert why.startswith(f"1 of {same.size} elements differ, by at most ") and "of the tolerance" in why
    assert "XLA options" in why
    assert "values where the golden vector has" in warm.mismatch(test_problem, g, same[:1])


def _execution(golden, statuses: dict[str, str]) -> Execution:
    ex = Execution("process")
    for g in golden:
        if g.spec.id in statuses:
            status = statuses[g.spec.id]
            data = g.expected.astype("<f4").tobytes() if status == "result" else None
            ex.cases[g.spec.id] = Outcome(status, data=data, stage="executor",
                                          why="total" if status == "timeout" else "")
    return ex


def test_a_case_left_without_a_result_is_run_again(test_problem, monkeypatch, tmp_path):
    golden = list(load_golden(test_problem, "public").cases)
    first, rest = golden[0].spec.id, [g.spec.id for g in golden[1:]]
    calls = []

    def fake_run(problem, source, cases, **kw):
        calls.append(([c["id"] for c in cases], problem.limits.total_time_s))
        if len(calls) == 1:       # the budget ran out before the largest cases, as under heavy load
            return _execution(golden, {first: "result", **{cid: "timeout" for cid in rest}})
        return _execution(golden, {c["id"]: "result" for c in cases})
    monkeypatch.setattr(warm, "run", fake_run)
    out = warm._run_reference(test_problem, REFERENCE, golden, tmp_path)
    assert [c[0] for c in calls] == [[g.spec.id for g in golden], rest]
    assert all(c[1] == test_problem.limits.total_time_s * warm.WARM_TIME_FACTOR for c in calls)
    assert all(out[g.spec.id].status == "result" for g in golden)


def test_a_case_without_a_result_twice_is_named_with_its_status(test_problem, monkeypatch, tmp_path):
    golden = list(load_golden(test_problem, "public").cases)
    last = golden[-1].spec.id
    monkeypatch.setattr(warm, "run", lambda problem, source, cases, **kw: _execution(
        golden, {c["id"]: "timeout" if c["id"] == last else "result" for c in cases}))
    with pytest.raises(JudgeError) as e:
        warm._run_reference(test_problem, REFERENCE, golden, tmp_path)
    assert f"no result on case {last} (timeout total)" in str(e.value) and "twice" in str(e.value)
    assert "bit for bit" not in str(e.value)


@pytest.mark.slow
def test_a_warm_on_a_budget_the_student_would_overrun_succeeds(tmp_path):
    """The reference's cold warm takes seconds; with a student's budget of 2.5 s it could only fail
    (loading alone takes ~2 s here). With trusted limits it warms, and reproduces the vectors."""
    path = one_case_bundle(tmp_path / "bundle")
    raw = yaml.safe_load(path.read_text())
    raw["limits"].update(load_time_s=2.0, case_time_s=1.0, total_time_s=2.5)
    raw["cases"]["hidden"] = raw["cases"]["hidden"][:1]
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    hidden = tmp_path / "bundle" / "tests" / "data" / "hidden.yaml"
    data = yaml.safe_load(hidden.read_text())
    data["cases"] = data["cases"][:1]
    hidden.write_text(yaml.safe_dump(data, sort_keys=False))
    shutil.copytree(ROOT / "reference", tmp_path / "bundle" / "reference")
    problem = load_problem(path)
    done = warm.warm(problem, tmp_path / "cache" / "jax")
    assert done.compiled_cases == 2 and done.entries > 0
    assert np.all([f.stat().st_mode & 0o077 == 0 for f in done.cache.rglob("*")])
