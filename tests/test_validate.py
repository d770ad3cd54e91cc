"""`python -m grader validate`: the rules on fixtures, and the right check failing on broken bundles."""
from __future__ import annotations

import json

import numpy as np
import pytest
import yaml

from conftest import run_cli
from grader.judge.cases import load_golden
from grader import UsageError
from grader.problem import CaseSpec, Limits, load_problem, validation_files
from grader.instructor.probe import correct_solutions, one_cpu_cores
from grader.instructor.quality import (ColdRun, assess, cold_run, margins, nice, proposed, sole_catchers, tightest,
                                       uncaught)
from grader.instructor.validate import example_jobs
from validation_bundles import list_accepted, slow_correct_solution, small_bundle, write_golden

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


def _verdict(verdict="AC", times=(("p01", 0.5), ("h01", 1.5)), total=6.0, score=100.0):
    return {"verdict": verdict, "score": score, "max_score": 100.0, "timing": {"total_s": total},
            "internal": {}, "cases": [{"id": cid, "verdict": verdict, "time_s": t, "message": "m"}
                                      for cid, t in times]}


def test_time_limit_rule_is_twice_the_slowest_cold_correct_solution():
    limits = Limits(12, 3, 13, 640, 4096, 1 << 20, 1 << 17, 64, 256, 256)
    a = cold_run("a.py", _verdict(), cpu=1)
    assert a.accepted and a.outside_s == pytest.approx(4.0) and a.cpu == 1
    b = cold_run("b.py", _verdict(times=(("p01", 0.4), ("h01", 1.0)), total=7.0))
    rows = {(m.file, m.limit): m for m in margins([a, b], limits)}
    case = rows["a.py", "case_time_s"]          # a's slowest case, h01: 1.5 s, needs 3 s: exactly 2x
    assert case.case == "h01" and case.ok and case.ratio == pytest.approx(2.0)
    total = rows["b.py", "total_time_s"]        # 7 s needs 14 s > 13 s
    assert not total.ok and total.needed_s == pytest.approx(14.0)
    assert "b.py: total_time_s 13 s leaves 1.86×" in total.say() and "needs ≥ 14 s" in total.say()
    assert tightest(list(rows.values())) is total
    assert proposed(list(rows.values())) == {"load_time_s": 12, "case_time_s": 3, "total_time_s": 15}
    assert nice(0.3) == 1 and nice(101) == 120 and nice(50) == 50 and nice(52.4) == 60


def test_compiles_timed_apart_are_outside_the_load_and_held_to_their_own_limit():
    v = _verdict(times=(("p01", 0.2), ("h01", 0.3)), total=9.0)
    run = cold_run("c.py", v, {"p01": {"case_s": 0.25, "compile_s": 1.0}, "h01": {"case_s": 0.5, "compile_s": 2.5}})
    assert run.case_s == {"p01": 0.25, "h01": 0.5} and run.outside_s == pytest.approx(4.75)
    limits = Limits(12, 3, 13, 640, 4096, 1 << 20, 1 << 17, 64, 256, 256)
    rows = {m.limit: m for m in margins([run], limits)}
    if hasattr(limits, "compile_time_s"):      # a problem with a compile limit of its own
        assert rows["compile_time_s"].case == "h01" and rows["compile_time_s"].measured_s == 2.5
        assert "h01's compile took 2.50 s" in rows["compile_time_s"].say()
    assert rows["case_time_s"].measured_s == 0.5 and rows["load_time_s"].measured_s == pytest.approx(4.75)


def test_a_cold_run_that_is_not_accepted_sizes_no_limit_and_says_why():
    limits = Limits(10, 3, 13, 640, 4096, 1 << 20, 1 << 17, 64, 256, 256)
    tle = cold_run("t.py", {**_verdict("TLE"), "cases": [{"id": "h01", "verdict": "TLE", "time_s": None,
                                                          "message": "the time limit ran out"}]})
    partial = cold_run("p.py", _verdict(score=80.0))
    assert not tle.accepted and "h01: the time limit ran out" in tle.why
    assert not partial.accepted and partial.why == "a check failed"
    assert margins([tle, partial, ColdRun("x.py", None, False, "exit status 2", {}, 0.0)], limits) == []


def test_validation_accepted_key(tmp_path):
    path = small_bundle(tmp_path, variants=False)
    list_accepted(path, ["solutions/missing.py"])
    problem = load_problem(path)                 # grading never needs these files
    with pytest.raises(UsageError, match="validation.accepted: solutions/missing.py does not exist"):
        validation_files(problem)
    code, _, err = run_cli(["--problem", str(path), "validate"])
    assert code == 2 and err.count("\n") == 1 and "solutions/missing.py does not exist" in err
    list_accepted(path, [slow_correct_solution(tmp_path, 0.1), "reference/solution.py"])
    labels = [label for label, _ in correct_solutions(load_problem(path), skip_examples=True)]
    assert labels == ["reference/solution.py", "solutions/slow_but_correct.py"]    # once each
    for bad, says in (("../outside.py", "inside the bundle"), ("/abs/x.py", "inside the bundle"),
                      (3, "validation.accepted.0")):
        list_accepted(path, [bad])
        with pytest.raises(UsageError, match=says):
            load_problem(path)


def test_cold_gradings_get_cores_of_their_own():
    import os
    cores = one_cpu_cores(8)
    assert len(cores) == len(set(cores)) == len(os.sched_getaffinity(0))
    assert len(one_cpu_cores(1)) == 1 and set(cores) <= os.sched_getaffinity(0)


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
    assert "tightest: reference/solution.py" in checks["time_limits"]["summary"]
    (cold,) = doc["cold_gradings"]            # --skip-examples: the reference alone, every case, cold
    assert cold["file"] == "reference/solution.py" and cold["verdict"] == "AC"
    assert set(cold["case_s"]) == {"p01", "h01", "h24", "h25"} and cold["cpu"] in one_cpu_cores(8)
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


@pytest.mark.slow
def test_limits_that_leave_a_cold_correct_solution_less_than_twice_its_time_fail(tmp_path):
    """A correct solution that sleeps 5.5 s per case: its cold cases take more than half of a 10 s
    case_time_s (a margin below 2x) and less than the limit itself (AC), however busy the machine."""
    path = small_bundle(tmp_path, hidden=("h01",), case_time_s=10)
    list_accepted(path, [slow_correct_solution(tmp_path, 5.5)])
    code, checks, doc, text = _validate(path)
    assert code == 1 and checks["reference"]["passed"], text
    check = checks["time_limits"]
    assert not check["passed"], text
    slow = [d for d in check["details"] if d.startswith("solutions/slow_but_correct.py: case_time_s 10 s")]
    assert slow and "needs ≥" in slow[0], check        # the file, the limit, the time, what it needs
    rows = {(m["file"], m["limit"]): m for m in doc["margins"]}
    case = rows["solutions/slow_but_correct.py", "case_time_s"]
    assert case["measured_s"] >= 5.5 and not case["ok"] and case["needed_s"] > 10
    assert rows["reference/solution.py", "case_time_s"]["ok"]


@pytest.mark.slow
def test_bench_quick_runs_and_prints_every_figure():
    """tools/bench.py --quick (make bench's smoke test; its figures are not checked here: they are
    timings, and a miss never fails the bench)."""
    import os
    import subprocess
    import sys
    from conftest import ROOT
    done = subprocess.run([sys.executable, "tools/bench.py", "--quick"], cwd=ROOT, capture_output=True, text=True,
                          timeout=1800)
    assert done.returncode == 0, done.stderr[-2000:]
    out = done.stdout
    assert "rerun: tools/bench.py --quick" in out and "by `.venv/bin/python tools/bench.py --quick`" in out
    several = len(os.sched_getaffinity(0)) > 1
    counts = ([f"{len(os.sched_getaffinity(0))} CPUs"] if several else []) + ["1 CPU"]
    figures = [f"({k}) " for k in [*"abcdefg", *(["e2"] if several else [])]] + \
        ["batch --jobs 1 per submission", "batch --jobs 2 per submission"]
    targets = [f"(b)/(c) warm grading / floor, {c}" for c in counts] + \
        [f"(d)/(b) naive / warm grading, {c}" for c in counts] + \
        ["(e)/(f) cold correct grading / cold floor, 1 CPU", "peak memory", "batch --jobs 1 per submission / class floor",
         "throughput --jobs 2 / --jobs 1"] + (["(e2)/(e) two cold gradings side by side"] if several else [])
    lines = out.splitlines()
    for name in figures + targets:
        assert any(name in ln and any(ch.isdigit() for ch in ln.split(name, 1)[1]) for ln in lines), name
    verdicts = [ln for ln in lines if "target" in ln and ln.rstrip().endswith(("PASS", "MISS"))]
    assert len(verdicts) == len(targets), out
