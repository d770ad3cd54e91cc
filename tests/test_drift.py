"""The environment-drift guard (grader/judge/drift.py) and deterministic `make regen`.

Golden files "made elsewhere" are simulated for real: the reference is run with
jax_threefry_partitionable=False (a setting that changes W) and its values are written with a
fingerprint saying so, or saying only that the library versions differ. A correct submission must
then get JE with a message naming the difference and `make regen`, never WA.
"""
from __future__ import annotations

import copy
import dataclasses

import numpy as np
import pytest

from conftest import run_cli
from grader.child.common import PINNED_XLA_FLAGS
from grader.judge.cases import environment_fingerprint, job_cases, load_golden
from grader.judge.drift import canary_cases, differences
from grader.execute import run
from grader.grade import grade
from grader.problem import load_problem
from validation_bundles import small_bundle, write_golden

FLIP = b'import jax\njax.config.update("jax_threefry_partitionable", False)\n'


def test_differences_name_versions_and_settings():
    here = environment_fingerprint()
    other = copy.deepcopy(here)
    other["jax"] = "0.4.0"
    other["settings"]["jax_default_prng_impl"] = "rbg"
    versions, settings = differences(other, here)
    assert versions == [f"jax 0.4.0 in the golden files, {here['jax']} here"]
    assert settings == ["jax_default_prng_impl='rbg' in the golden files, 'threefry2x32' pinned by the runner"]
    assert differences(here, here) == ([], [])


def test_differences_name_the_xla_options():
    here = {**environment_fingerprint(), "xla_flags": PINNED_XLA_FLAGS}
    older = {k: v for k, v in here.items() if k != "xla_flags"}   # made before they were recorded
    assert differences(older, here) == ([], [f"XLA options not recorded in the golden files, "
                                             f"{PINNED_XLA_FLAGS!r} used by the executor"])
    assert differences({**here, "xla_flags": ""}, here)[1] == [
        f"XLA options '(XLA defaults)' in the golden files, {PINNED_XLA_FLAGS!r} used by the executor"]
    assert differences(older, {**here, "xla_flags": ""}) == ([], [])
    other = {**here, "xla_flags": "--xla_backend_optimization_level=3"}
    assert differences(other, here)[1] == [f"XLA options '--xla_backend_optimization_level=3' in the golden "
                                           f"files, {PINNED_XLA_FLAGS!r} used by the executor"]
    assert differences(here, here) == ([], [])


def test_golden_made_with_other_xla_options_is_je_before_anything_runs(test_problem, monkeypatch):
    """The options are the bundle's own: vectors made with others are stale, whatever a canary says."""
    from grader.judge import drift
    here = {**environment_fingerprint(), "xla_flags": PINNED_XLA_FLAGS}
    monkeypatch.setattr(drift, "environment_fingerprint", lambda: here)
    monkeypatch.setattr(drift, "_canary", lambda *a: pytest.fail("the canary ran"))
    golden = load_golden(test_problem, "public")
    stale = dataclasses.replace(golden, fingerprint={**here, "xla_flags": ""})
    found = drift.guard(test_problem, [stale])
    assert found.error and "XLA options '(XLA defaults)' in the golden files" in found.error
    assert "make regen" in found.error
    assert drift.guard(test_problem, [dataclasses.replace(golden, fingerprint=here)]).error is None


def test_canary_prefers_the_largest_non_edge_case(test_problem):
    cases = load_golden(test_problem, "hidden").cases
    chosen = [c.spec.id for c in canary_cases(cases)]
    assert chosen == ["h20", "h01"]


@pytest.fixture(scope="module")
def drifted(tmp_path_factory):
    """A small full bundle, and p01's expected values as the reference computes them under
    jax_threefry_partitionable=False."""
    root = tmp_path_factory.mktemp("drift")
    problem = load_problem(small_bundle(root, public=("p01",), hidden=("h01",), variants=False))
    golden = load_golden(problem, "public")
    ex = run(problem, FLIP + (root / "reference" / "solution.py").read_bytes(), job_cases(golden.cases))
    out = ex.cases["p01"]
    assert out.status == "result", (out, ex.load, ex.judge_error)
    values = np.frombuffer(out.data, "<f4").copy()
    assert not np.allclose(values, golden.cases[0].expected, atol=1e-3)   # W really differs
    return problem, golden, {"p01": values}


def _rewrite(problem, golden, expected=None, **fp_changes):
    fp = copy.deepcopy(golden.fingerprint)
    for key, value in fp_changes.items():
        (fp["settings"] if key.startswith("jax_") else fp)[key] = value
    write_golden(problem, "public", golden, problem.golden_path("public"), fingerprint=fp, expected=expected)


def _reference(problem):
    return problem.root / "reference" / "solution.py"


@pytest.mark.slow
def test_golden_made_under_other_settings_is_je(drifted):
    problem, golden, values = drifted
    _rewrite(problem, golden, values, jax_threefry_partitionable=False)
    v = grade(problem, _reference(problem), "public")
    assert v.verdict == "JE" and all(c.verdict == "JE" for c in v.cases)
    cause = v.internal["judge_error"]
    assert "jax_threefry_partitionable=False in the golden files" in cause and "make regen" in cause
    code, out, _ = run_cli(["--problem", str(problem.root / "problem.yaml"), "grade", str(_reference(problem)),
                            "--cases", "public"])
    assert code == 3 and "make regen" in out


@pytest.mark.slow
def test_other_versions_and_a_disagreeing_canary_is_je(drifted):
    problem, golden, values = drifted
    _rewrite(problem, golden, values, jax="0.4.0")          # settings claim to match: only the canary knows
    v = grade(problem, _reference(problem), "public")
    assert v.verdict == "JE", [c.message for c in v.cases]
    cause = v.internal["judge_error"]
    assert "jax 0.4.0 in the golden files" in cause and "no longer reproduces" in cause
    assert "p01" in cause and "make regen" in cause


@pytest.mark.slow
def test_other_versions_and_an_agreeing_canary_grades_normally(drifted):
    problem, golden, _ = drifted
    _rewrite(problem, golden, jax="0.4.0")
    v = grade(problem, _reference(problem), "public")
    assert v.verdict == "AC"
    assert v.internal["drift"]["canary"] == {"p01": 0.0} and "jax 0.4.0" in v.internal["drift"]["versions"][0]
    assert not any("versions differ" in f for f in v.feedback)


@pytest.mark.slow
def test_handout_with_other_versions_tells_the_student(tmp_path):
    problem = load_problem(small_bundle(tmp_path, hidden=("h01",), reference=False, variants=False))
    golden = load_golden(problem, "public")
    _rewrite(problem, golden, jax="0.4.0")
    v = grade(problem, _copy_reference(tmp_path), "public")
    assert v.verdict == "AC"
    assert any("Your library versions differ from the grader's" in f and "jax 0.4.0" in f for f in v.feedback)


def _copy_reference(tmp_path):
    from conftest import ROOT
    dest = tmp_path / "mine.py"
    dest.write_bytes((ROOT / "reference" / "solution.py").read_bytes())
    return dest


def test_handout_with_other_settings_is_je(tmp_path):
    problem = load_problem(small_bundle(tmp_path, hidden=("h01",), reference=False, variants=False))
    _rewrite(problem, load_golden(problem, "public"), jax_default_prng_impl="rbg")
    v = grade(problem, _copy_reference(tmp_path), "public")
    assert v.verdict == "JE" and "jax_default_prng_impl='rbg'" in v.internal["judge_error"]


@pytest.mark.slow
def test_regen_twice_changes_nothing(tmp_path):
    path = small_bundle(tmp_path, public=("p01",), hidden=("h01",))
    data = tmp_path / "tests" / "data"
    cut = {f.name: f.read_bytes() for f in sorted(data.glob("*.yaml"))}
    snapshots = []
    for _ in range(2):
        code, out, err = run_cli(["--problem", str(path), "regen"])
        assert code == 0, err
        snapshots.append({f.name: f.read_bytes() for f in sorted(data.glob("*.yaml"))})
    assert snapshots[0] == snapshots[1]
    # and it reproduces the committed data byte for byte (same environment, same reference)
    assert snapshots[0]["public.yaml"] == cut["public.yaml"]
    assert snapshots[0]["hidden.yaml"] == cut["hidden.yaml"]
