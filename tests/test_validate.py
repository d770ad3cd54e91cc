"""`python -m grader validate`: the rules on fixtures, and the right check failing on broken bundles."""
from __future__ import annotations

import json

import numpy as np
import pytest
import yaml

from conftest import run_cli
from grader.judge.cases import load_golden
from grader.problem import CaseSpec, Limits, load_problem
from grader.instructor.quality import Timing, _nice, assess, sole_catchers, time_limits, uncaught
from grader.instructor.validate import example_jobs
from validation_bundles import small_bundle, write_golden

RTOL, ATOL = 1e-4, 1e-5


def _spec(cid, set_="hidden", edge=False, hidden=3):
    return CaseSpec(cid, set_, 1, hidden, 2, 1, edge)


def _fixture():
    exp = {"a": np.array([0.5, -0.25, 0.1], np.float32), "b": np.array([0.3, 0.2, -0.1], np.float32),
           "e": np.zeros(3, np.float32)}
    variants = {  # "flip" is caught by a only, "tiny" by nobody, "far" by a and b
        "a": {"flip": -exp["a"], "tiny": exp["a"] + 1e-7, "far": exp["a"] + 1.0},
        "b": {"flip": exp["b"] + 1e-7, "tiny": exp["b"], "far": exp["b"] + 1.0},
        "e": {"flip": exp["e"], "tiny": exp["e"], "far": exp["e"]},
    }
    f64 = {k: v.astype(np.float64) + 1e-8 for k, v in exp.items()}
    return exp, variants, f64


def test_kill_sets_and_uncaught_variants():
    exp, variants, f64 = _fixture()
    q = assess((_spec("a"), _spec("b"), _spec("e", edge=True)), exp, variants, f64, RTOL, ATOL)
    assert [x.kills for x in q] == [("flip", "far"), ("far",), ()]
    assert uncaught(q, ["flip", "tiny", "far"]) == ["tiny"]
    assert sole_catchers(q) == {"flip": "a"}
    assert q[2].problems == ()                      # an edge case may catch nothing
    assert q[0].wrong_variant == "flip"         # worst element 1.0/6e-5, against far's 1.0/2e-5
    assert q[0].wrong >= 10 and q[0].tol_over_f64 > 3


def test_non_edge_case_catching_nothing_is_flagged():
    exp, variants, f64 = _fixture()
    q = assess((_spec("e"),), exp, variants, f64, RTOL, ATOL)
    assert any("kills no variant" in p for p in q[0].problems)


def test_weak_kill_and_thin_float64_margin_fail():
    exp = {"a": np.array([1.0, 2.0], np.float32)}
    weak = {"a": {"close": exp["a"] * (1 + 3e-4)}}            # killed, but only ~3x the tolerance
    f64 = {"a": exp["a"].astype(np.float64) * (1 + 5e-5)}     # float32 uses half the tolerance
    q = assess((_spec("a", hidden=2),), exp, weak, f64, RTOL, ATOL)[0]
    assert q.kills == ("close",) and 1 < q.wrong < 10
    assert any("only" in p and "close" in p for p in q.problems)
    assert any("float32 arithmetic" in p for p in q.problems)


def test_time_limit_rule_is_five_times_two_and_the_total_two_times_two():
    limits = Limits(40, 10, 300, 640, 4096, 1 << 20, 1 << 17, 64, 256, 256)
    rows = {r.name: r for r in time_limits(Timing(0.9, {"x": 0.8, "y": 1.2}, {}), limits)}
    assert rows["case_time_s"].needed_s == pytest.approx(12.0) and not rows["case_time_s"].ok
    assert rows["load_time_s"].ok and rows["total_time_s"].needed_s == pytest.approx(11.6)
    assert rows["case_time_s"].proposed_s == 20 and _nice(0.3) == 1 and _nice(101) == 200


def test_example_directives(tmp_path):
    (tmp_path / "accepted").mkdir()
    (tmp_path / "accepted" / "a.py").write_text("# grade: all\n# isolation: bwrap uid\nx = 1\n")
    (tmp_path / "accepted" / "notes.txt").write_text("not an example")
    (tmp_path / "wrong_answer").mkdir()
    (tmp_path / "wrong_answer" / "b.py").write_text("x = 1\n")
    jobs = [(f, p.name, s, lvl) for f, p, s, lvl in example_jobs(tmp_path)]
    assert jobs == [("accepted", "a.py", "all", "bwrap"), ("accepted", "a.py", "all", "uid"),
                    ("wrong_answer", "b.py", "public", None)]
    once = [(p.name, lvl) for _, p, _, lvl in example_jobs(tmp_path, all_levels=False, isolation="uid")]
    assert once == [("a.py", "uid"), ("b.py", "uid")]


def test_operator_errors_exit_2(tmp_path):
    assert run_cli(["validate", "--no-such-flag"])[0] == 2
    assert run_cli(["--problem", str(tmp_path / "nope.yaml"), "validate"])[0] == 2
    path = small_bundle(tmp_path, reference=False, variants=False)
    code, _, err = run_cli(["--problem", str(path), "validate", "--skip-examples"])
    assert code == 2 and "reference" in err


def test_bad_problem_yaml_is_a_failed_check(tmp_path):
    path = small_bundle(tmp_path, variants=False)
    raw = yaml.safe_load(path.read_text())
    raw["tolerence"] = raw.pop("tolerance")
    path.write_text(yaml.safe_dump(raw))
    code, out, _ = run_cli(["--problem", str(path), "validate", "--skip-examples"])
    assert code == 1 and "schemas" in out and "tolerence" in out


def _validate(path, *extra):
    code, out, err = run_cli(["--problem", str(path), "validate", "--skip-examples", "--jobs", "1",
                              "--json", "-", *extra])
    doc = json.loads(out)
    return code, {c["id"]: c for c in doc["checks"]}, doc, err


@pytest.mark.slow
def test_small_bundle_passes_and_prints_tables(tmp_path):
    code, checks, doc, text = _validate(small_bundle(tmp_path), "--calibrate")
    assert code == 0, text
    assert set(checks) == {"schemas", "environment", "reproduce", "reference", "starter", "kill_sets",
                           "margins", "time_limits"}
    assert "kill sets" in text and "tolerance margins" in text and "proposed limits" in text
    h01 = next(c for c in doc["cases"] if c["id"] == "h01")
    assert "transposed_w" in h01["kills"] and h01["tol_over_float64"] > 3


@pytest.mark.slow
def test_broken_vector_fails_reproduce(tmp_path):
    path = small_bundle(tmp_path)
    problem = load_problem(path)
    golden = load_golden(problem, "hidden")
    bad = golden.cases[0].expected.copy()
    bad[0] += 1e-3
    write_golden(problem, "hidden", golden, problem.golden_path("hidden"), expected={"h01": bad})
    code, checks, _, text = _validate(path)
    assert code == 1
    assert not checks["reproduce"]["passed"] and "h01" in checks["reproduce"]["summary"], text
    assert not checks["reference"]["passed"] and checks["schemas"]["passed"]


@pytest.mark.slow
def test_removing_the_only_catching_case_fails_kill_sets(tmp_path):
    path = small_bundle(tmp_path, hidden=("h01", "h24", "h25"))
    code, checks, _, text = _validate(path)
    assert checks["kill_sets"]["passed"], text
    assert any("transposed_w is caught only by h01" in d for d in checks["kill_sets"]["details"])
    path = small_bundle(tmp_path / "without", hidden=("h24", "h25"))
    code, checks, _, text = _validate(path)
    assert code == 1 and not checks["kill_sets"]["passed"]
    assert "transposed_w" in checks["kill_sets"]["summary"] and checks["reproduce"]["passed"], text
