"""tests/data/variants.yaml: its shape, its agreement with problem.yaml and the golden files, diagnosis on
every stored variant, strict loading, and a deterministic regeneration."""
from __future__ import annotations

import shutil

import numpy as np
import pytest
import yaml

from grader import JudgeError
from grader.cases import load_golden
from grader.problem import load_problem
from grader.variants import VARIANTS, LABELS, diagnose, dump_variants, for_grading, generate, load_variants


@pytest.fixture(scope="module")
def problem():
    return load_problem()


@pytest.fixture(scope="module")
def variants(problem):
    return load_variants(problem)


@pytest.fixture(scope="module")
def expected(problem):
    return {c.spec.id: c.expected for s in ("public", "hidden") for c in load_golden(problem, s).cases}


def test_every_case_has_every_defined_variant(problem, variants):
    assert list(variants.says) == [vid for vid, _ in VARIANTS]
    for spec in problem.cases:
        want = [vid for vid, _ in VARIANTS if not (vid == "t_minus_1" and spec.T == 0)]
        assert list(variants.outputs[spec.id]) == want, spec.id
        assert all(v.shape == (spec.hidden,) and v.dtype == np.float32 for v in variants.outputs[spec.id].values())


def test_fingerprint_matches_golden(problem, variants):
    assert variants.fingerprint == load_golden(problem, "public").fingerprint
    assert for_grading(problem, variants.fingerprint)[1] == "used"
    assert for_grading(problem, {**variants.fingerprint, "jax": "0.0.0"}) == (None, "stale: fingerprint differs from golden")


def test_file_round_trips_exactly(problem, variants):
    """The file is what dump_variants writes for what it holds: floats round-trip, order is fixed."""
    text = problem.root.joinpath("tests", "data", "variants.yaml").read_text()
    assert dump_variants(problem, variants.fingerprint, variants.outputs) == text


def test_says_never_holds_a_number_but_T():
    for vid, says in VARIANTS:
        assert says.startswith("your result equals ") and ":" in says, vid
        assert LABELS[vid] and not any(ch.isdigit() for ch in says.replace("T-1", "").replace("T+1", "")
                                       .replace("PRNGKey(0)", "").replace("2/hidden", "")), vid


def test_diagnose_names_each_variant_where_the_case_can_tell_it(problem, variants, expected):
    seen, ambiguous = set(), set()
    for spec in problem.cases:
        exp = expected[spec.id]
        for vid, out in variants.outputs[spec.id].items():
            found = diagnose(variants, spec.id, out, exp, problem.rtol, problem.atol)
            if np.allclose(out, exp, rtol=problem.rtol, atol=problem.atol):
                assert vid not in found, (spec.id, vid)  # the case cannot tell it from the answer
                continue
            assert vid in found, (spec.id, vid, found)
            if not spec.edge and len(found) > 1:
                ambiguous.add((spec.id, *found))
            seen.add(vid)
    assert seen == set(variants.says)
    # measured: on non-edge cases only ReLU decaying to zeros coincides with another variant
    assert {tuple(sorted(a[1:])) for a in ambiguous} <= {("relu", "x_ignored")}, ambiguous
    # the right answer and unrelated noise match nothing
    some = problem.cases[-1].id
    assert diagnose(variants, some, expected[some], expected[some], problem.rtol, problem.atol) == []
    noise = np.random.default_rng(0).standard_normal(expected[some].shape).astype(np.float32)
    assert diagnose(variants, some, noise, expected[some], problem.rtol, problem.atol) == []


@pytest.mark.parametrize("edit, fragment", [
    (lambda raw: raw["cases"].pop(), "does not list the cases"),
    (lambda raw: raw["cases"][0]["outputs"].update(nonsense=[0.0]), "unknown or has the wrong size"),
    (lambda raw: raw["cases"][0]["outputs"]["relu"].append(0.5), "unknown or has the wrong size"),
    (lambda raw: raw.update(extra=1), "fails its schema"),
    (lambda raw: raw["cases"][0]["outputs"]["relu"].__setitem__(0, "0.5"), "not a number"),
    (lambda raw: raw["variants"][0].pop("says"), "fails its schema"),
])
def test_a_broken_file_is_a_judge_error(problem, tmp_path, edit, fragment):
    raw = yaml.safe_load(problem.root.joinpath("tests", "data", "variants.yaml").read_text())
    edit(raw)
    bad = tmp_path / "variants.yaml"
    bad.write_text(yaml.safe_dump(raw))
    with pytest.raises(JudgeError, match=fragment):
        load_variants(problem, bad)


def test_missing_file_means_no_diagnosis(tmp_path, test_problem_path):
    bundle = tmp_path / "b"
    shutil.copytree(test_problem_path.parent, bundle)
    (bundle / "tests" / "data" / "variants.yaml").unlink()
    assert for_grading(load_problem(bundle / "problem.yaml"), {}) == (None, "absent")


@pytest.mark.slow
def test_regeneration_is_deterministic(problem, tmp_path):
    """What `make regen` does after the golden files: the same bytes as the committed file (~40 s)."""
    for f in ("public.yaml", "hidden.yaml"):
        shutil.copy(problem.root / "tests" / "data" / f, tmp_path / f)
    path = generate(problem, tmp_path)
    assert path.read_bytes() == (problem.root / "tests" / "data" / "variants.yaml").read_bytes()
