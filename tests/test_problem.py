"""problem.yaml is validated once at the edge: typos, wrong types and missing keys are one-line errors."""
from __future__ import annotations

import pytest
import yaml

from conftest import ROOT, run_cli
from grader import UsageError
from grader.problem import DEFAULT_LIMITS, load_problem


def _write(tmp_path, mutate):
    raw = yaml.safe_load((ROOT / "problem.yaml").read_text())
    mutate(raw)
    path = tmp_path / "problem.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def test_bundle_problem_loads():
    p = load_problem()
    assert p.function == "lax_scan_in_module" and p.module_class == "LaxScanModule"
    assert 3 <= len(p.cases_of("public")) <= 5
    hidden = p.cases_of("hidden")
    assert len(hidden) >= 24
    assert len({c.seed for c in hidden}) >= 5 and all(c.seed != 0 for c in hidden)
    assert {0, 1} <= {c.T for c in hidden} and max(c.T for c in hidden) >= 150
    assert 1 in {c.hidden for c in hidden} and {16, 256} <= {c.hidden for c in hidden}
    assert [c.set for c in p.cases_of("all")] == ["public"] * 4 + ["hidden"] * len(hidden)


@pytest.mark.parametrize("mutate,fragment", [
    (lambda r: r["limits"].update(case_time_sec=3), "unknown key 'case_time_sec' at limits"),
    (lambda r: r.update(tolerence={"rtol": 1}), "unknown key 'tolerence'"),
    (lambda r: r["tolerance"].update(rtol="small"), "tolerance.rtol: 'small' is not of type 'number'"),
    (lambda r: r.pop("entry_point"), "'entry_point' is a required property"),
    (lambda r: r["cases"]["hidden"][0].update(T=-1), "cases.hidden.0.T"),
    (lambda r: r["cases"]["hidden"][1].update(id=r["cases"]["hidden"][0]["id"]), "duplicate case id h01"),
    (lambda r: r["visibility"].update(hidden="secret"), "visibility.hidden"),
    (lambda r: r["scoring"].update(checks_points=500), "checks_points exceeds"),
])
def test_bad_problem_is_one_line_naming_key_and_file(tmp_path, mutate, fragment):
    path = _write(tmp_path, mutate)
    with pytest.raises(UsageError) as e:
        load_problem(path)
    msg = str(e.value)
    assert fragment in msg and str(path) in msg and "\n" not in msg


def test_defaults_apply_when_optional_sections_are_missing(tmp_path):
    path = _write(tmp_path, lambda r: [r.pop(k) for k in ("limits", "scoring", "visibility", "checks")])
    p = load_problem(path)
    assert p.limits.case_time_s == DEFAULT_LIMITS["case_time_s"]
    assert p.max_score == 100 and p.checks_points == 20 and p.public_weight == 0
    assert p.visibility["hidden"] == "after_published"
    assert [c.id for c in p.checks] == ["module_class", "params_tree", "uses_lax_scan"]


@pytest.mark.parametrize("content,fragment", [
    (None, "problem file not found"),
    ("cases: [unclosed", "not valid YAML"),
    ("- a list", "expected a mapping"),
])
def test_unreadable_problem_exits_2_with_one_line(tmp_path, content, fragment):
    path = tmp_path / "problem.yaml"
    if content is not None:
        path.write_text(content)
    code, out, err = run_cli(["--problem", str(path), "grade", str(ROOT / "reference" / "solution.py")])
    assert code == 2 and fragment in err and err.count("\n") == 1 and "Traceback" not in err
