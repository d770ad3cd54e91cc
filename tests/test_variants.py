"""tests/data/variants.yaml: its shape, its agreement with problem.yaml and the golden files, diagnosis on
every stored variant, strict loading, and a deterministic regeneration."""
from __future__ import annotations

import shutil

import numpy as np
import pytest
import yaml

from grader import JudgeError
from grader.judge.cases import load_golden
from grader.problem import load_problem
from grader.judge.variants import VARIANTS, LABELS, diagnose, dump_variants, for_grading, generate, load_variants


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


# -- the diagnosis over the real variants.yaml -------------------------------------------------
def _diagnosis(problem, variants, results: dict):
    from grader.judge.compare import Judged, within_tolerance
    from grader.judge.feedback import Diagnosis
    from grader.judge.reasons import Reason, found
    goldens = {c.spec.id: c for s in ("public", "hidden") for c in load_golden(problem, s).cases}
    d = Diagnosis(variants, problem.rtol, problem.atol)
    for cid, got in results.items():
        ok = within_tolerance(got, goldens[cid].expected, problem.rtol, problem.atol)
        d.note(goldens[cid], Judged("AC" if ok else "WA", found(Reason.NOT_RUN, detail=""), got=got.astype(np.float64)))
    return d


def test_each_real_variant_is_named_alone_from_its_own_outputs(problem, variants, expected):
    """A submission that makes exactly mistake v (its outputs on every case; the answer where v has
    none) is diagnosed as v and nothing else: the telling cases agree, the degenerate ones abstain."""
    from grader.judge.reasons import Reason
    for vid, _ in VARIANTS:
        results = {c.id: variants.outputs[c.id].get(vid, expected[c.id]) for c in problem.cases}
        d = _diagnosis(problem, variants, results)
        assert d.named() == [vid], (vid, d.named())
        assert [h.reason for h in d.hints()] == [Reason.variant(vid)]


def test_degenerate_cases_alone_never_name_a_variant(problem, variants, expected):
    """Only the cases where x_ignored's zeros coincide with another variant or the answer (decayed
    states, H = 1): measured, 15 of the 31 cases. Graded on those alone, no mistake is named."""
    from grader.judge.compare import within_tolerance
    from grader.judge.reasons import Reason

    def close(a, b):
        return within_tolerance(a, b, problem.rtol, problem.atol)
    degenerate = [c.id for c in problem.cases if close(variants.outputs[c.id]["x_ignored"], expected[c.id])
                  or any(close(variants.outputs[c.id]["x_ignored"], o)
                         for u, o in variants.outputs[c.id].items() if u != "x_ignored")]
    assert len(degenerate) >= 5, degenerate
    d = _diagnosis(problem, variants, {cid: variants.outputs[cid]["x_ignored"] for cid in degenerate})
    assert d.named() == [] and all(h.reason is Reason.VARIANT_NONE for h in d.hints())


def test_a_mistake_that_only_looks_like_x_ignored_where_it_decays_is_not_called_x_ignored(problem, variants,
                                                                                         expected):
    """Zeros where the right answer decays to ~0 and something else elsewhere: the old per-case
    matching said "x is ignored"; the cases that tell x_ignored apart disagree, so nothing is named."""
    from grader.judge.compare import within_tolerance
    zeros_like = {}
    for c in problem.cases:
        z = variants.outputs[c.id]["x_ignored"]
        zeros_like[c.id] = z if within_tolerance(z, expected[c.id], 1e-2, 1e-3) else expected[c.id] * 0.5
    d = _diagnosis(problem, variants, zeros_like)
    assert "x_ignored" not in d.named() and "relu" not in d.named()
