"""Feedback that teaches: every pitfall under tests/submissions produces its hint, known wrong variants
are named, tracebacks are the student's own, long text is cut visibly, hidden answers never leak."""
from __future__ import annotations

import json
import re

import numpy as np
import pytest
import yaml

from grader import UsageError
from grader.judge.cases import load_golden
from grader.judge.compare import TRUNCATED, Judged, clip
from grader.judge.feedback import Diagnosis, hints_for_error, hints_for_settings, output_excerpt
from grader.grade import grade
from grader.problem import load_problem
from grader.judge.report import render_text
from grader.child.common import PINNED
from grader.judge.reasons import Reason, found
from grader.judge.variants import LABELS, Variants
from grader.judge.verdict import render

from conftest import ROOT, SUBMISSIONS

# file -> (verdict, a fragment some hint holds, a fragment some case message holds)
PITFALLS = {
    "run_time_error/pitfall_param_in_body.py": ("RTE", "created inside the lax.scan body", "UnexpectedTracerError"),
    "run_time_error/pitfall_carry_shape.py": ("RTE", "shape or dtype differs from init_carry", "shapes do not match"),
    "run_time_error/pitfall_carry_dtype.py": ("RTE", "shape or dtype differs from init_carry", "bfloat16"),
    "run_time_error/pitfall_body_returns_carry.py": ("RTE", "(carry, output) pair", "must be a pair"),
    "run_time_error/pitfall_hardcoded_hidden.py": ("RTE", "not a fixed number", "dot_general"),
    "run_time_error/pitfall_starter.py": ("RTE", "starter's NotImplementedError", "not implemented yet"),
    "wrong_answer/pitfall_stacked_outputs.py": ("WA", "stacked by lax.scan", "stacked per-step outputs"),
    "wrong_answer/pitfall_setting_x64.py": ("WA", "jax_enable_x64=True", "wrong values"),
    "wrong_answer/pitfall_setting_threefry.py": ("WA", "jax_threefry_partitionable=False", "wrong values"),
    "wrong_answer/pitfall_setting_seed_offset.py": ("WA", "jax_random_seed_offset=1", "wrong values"),
    "wrong_answer/pitfall_setting_prng_impl_in_call.py": ("WA", "jax_default_prng_impl='rbg'", "wrong values"),
    "wrong_answer/pitfall_python_loop.py": ("WA", "without a loop", "correct"),
    "wrong_answer/pitfall_nn_scan.py": ("WA", "requires a raw jax.lax.scan", "correct"),
    "wrong_answer/variant_t_minus_1.py": ("WA", "equals T-1 steps of the recurrence: check the loop length",
                                          "it equals T-1 steps"),
    "wrong_answer/variant_t_plus_1.py": ("WA", "equals T+1 steps", "it equals T+1 steps"),
    "wrong_answer/variant_transposed_w.py": ("WA", "with W transposed", "it equals the recurrence with W transposed"),
    "wrong_answer/variant_no_initial_tanh.py": ("WA", "without tanh", "it equals the recurrence started from x @ W"),
    "wrong_answer/variant_seed_ignored.py": ("WA", "PRNGKey(seed)", "it equals what jax.random.PRNGKey(0) gives"),
    "wrong_answer/variant_init_scale.py": ("WA", "He scaling", "it equals W drawn with He scaling"),
    "wrong_answer/basic_relu.py": ("WA", "ReLU instead of tanh", "it equals the recurrence with ReLU"),
    "accepted/pitfall_fori_loop_static.py": ("AC", None, "correct"),
    "accepted/pitfall_setting_matmul_precision.py": ("AC", None, "correct"),
}


def graded(problem, rel: str):
    path = SUBMISSIONS / rel
    return grade(problem, path, "all" if "# grade: all" in path.read_text() else "public")


@pytest.mark.slow
@pytest.mark.parametrize("rel", list(PITFALLS))
def test_pitfall_gets_its_hint(test_problem, rel):
    verdict, hint, message = PITFALLS[rel]
    v = graded(test_problem, rel)
    assert v.verdict == verdict, (v.verdict, v.feedback, [c.message for c in v.cases])
    if hint is None:
        assert v.feedback == () and all(c.passed for c in v.checks) and v.score == v.max_score
    else:
        assert any(hint in f for f in v.feedback), v.feedback
        assert hint in render_text(v)
    assert any(message in c.message for c in v.cases), [c.message for c in v.cases]
    if rel.startswith("run_time_error/") and "starter" not in rel:  # the student's frames only, no library path
        assert all(re.search(r"\[line \d+, in \w+: ", c.message) for c in v.cases if c.verdict == "RTE"), v.cases
        assert not re.search(r"site-packages|jax/_src|flax/|runner\.py", render(v))
    if message == "correct" and verdict == "WA":  # right numbers the wrong way: partial score, not zero
        assert all(c.verdict == "AC" for c in v.cases)
        assert [c.id for c in v.checks if not c.passed] == ["uses_lax_scan"] and 0 < v.score < v.max_score


@pytest.mark.slow
def test_long_text_is_cut_with_a_marker(test_problem):
    v = graded(test_problem, "run_time_error/pitfall_long_message.py")
    assert v.verdict == "RTE"
    assert all(TRUNCATED in c.message and len(c.message) < 500 for c in v.cases)
    head = v.internal["output_head"]
    assert "… [truncated:" in head and len(head.splitlines()) == 20
    assert "… [truncated:" in render_text(v, show_output=True)


def _forms(value: np.float32) -> set[str]:
    """How an expected value could be written: shortest float32 repr and rounded forms of 4+ digits."""
    v = float(value)
    forms = {str(np.float32(value)), repr(v)} | {f"{v:.{d}g}" for d in range(4, 10)} | {f"{v:.{d}f}" for d in range(4, 9)}
    return {f for f in forms if len(f.lstrip("-").replace("0.", "").lstrip("0")) >= 4}


@pytest.mark.slow
def test_hidden_expected_values_never_leak(test_problem):
    """A WA run on every case: neither the native JSON (instructor details included) nor the report
    holds a hidden expected value, as a whole number token, in any usual form."""
    v = grade(test_problem, SUBMISSIONS / "wrong_answer/variant_t_minus_1.py", "all")
    hidden = [c for c in v.cases if c.set == "hidden"]
    assert v.verdict == "WA" and sum(c.verdict == "WA" for c in hidden) >= 20
    told = [c for c in hidden if "it equals T-1 steps" in c.message]
    assert len(told) >= 20 and any("of 2" in f and "T-1 steps" in f for f in v.feedback), v.feedback
    doc = json.loads(render(v))
    for c in doc["cases"]:
        c["time_s"] = None                     # measured, not derived from any answer
    doc["timing"] = doc["internal"]["load_time_s"] = None
    text = json.dumps(doc) + "\n" + render_text(v)
    tokens = set(re.findall(r"-?\d+(?:\.\d+)?(?:e[-+]?\d+)?", text))
    for case in load_golden(test_problem, "hidden").cases:
        leaked = {f for value in case.expected for f in _forms(value)} & tokens
        assert not leaked, (case.spec.id, sorted(leaked)[:5])
    for c in hidden:
        assert "expected" not in c.message.replace("·|expected|", "")



@pytest.mark.slow
@pytest.mark.parametrize("rel", ["run_time_error/leak_exception_text.py", "wrong_answer/leak_shape.py"])
def test_hidden_inputs_are_never_echoed(test_problem, rel):
    """A submission that writes the case's x into its exception's text, or encodes x[0] in the length
    of what it returns: no hidden x value (4 to 9 significant digits, as a whole token), nor the length
    that encodes it, appears in the native verdict, the Gradescope or PrairieLearn results, or the
    terminal report (printed output included); public cases still show what they got."""
    from dataclasses import replace

    from grader.adapters import gradescope, prairielearn
    v = graded(test_problem, rel)
    assert v.verdict == ("RTE" if "run_time_error" in rel else "WA")
    public = [c for c in v.cases if c.set == "public"]
    assert all(("the input was" if "exception" in rel else "returned an array of shape") in c.message
               for c in public), [c.message for c in public]
    # Times are measured, not derived from an answer: left out so that they cannot match by chance.
    v = replace(v, cases=tuple(replace(c, time_s=None) for c in v.cases), timing={"total_s": 0.0},
                internal={k: x for k, x in v.internal.items() if k != "load_time_s"})
    text = "\n".join([render(v), gradescope.render(v, test_problem), prairielearn.render(v, test_problem),
                      render_text(v, show_output=True)])
    tokens = set(re.findall(r"-?\d+(?:\.\d+)?(?:e[-+]?\d+)?", text))
    for case in load_golden(test_problem, "hidden").cases:
        leaked = {f for value in case.x for f in _forms(value)} & tokens
        length = str(round(abs(float(case.x[0])) * 1e6) + 1)
        assert not leaked and length not in tokens, (case.spec.id, sorted(leaked)[:5], length)


# -- units: no grading ------------------------------------------------------------------------------
@pytest.mark.parametrize("etype, message, fragment", [
    ("UnexpectedTracerError", "Encountered an unexpected tracer ... traced for scan", "inside the lax.scan body"),
    ("TypeError", "scan body function carry input and carry output must have equal types, but they differ: "
     "the input carry c has type float32[4] but the output float32[4,1], so the shapes do not match",
     "shape or dtype differs"),
    ("TypeError", "scan body function carry input and carry output must have the same pytree structure",
     "different structure"),
    ("TypeError", "scan body output must be a pair, got float32[4].", "(carry, output) pair"),
    ("TypeError", "dot_general requires contracting dimensions to have the same shape, got (3,) and (4,).",
     "mismatched sizes"),
    ("NotImplementedError", "not implemented yet", "starter's NotImplementedError"),
    ("ModuleNotFoundError", "No module named 'torch'", "can be imported"),
])
def test_error_hints(etype, message, fragment):
    hints = hints_for_error({"etype": etype, "message": message})
    assert len(hints) == 1 and fragment in hints[0].text and hints[0].reason.value.startswith("pitfall_")
    assert hints_for_error({"etype": "ValueError", "message": "something else"}) == []


def test_settings_hint_names_only_settings_that_change_w():
    assert hints_for_settings(dict(PINNED)) == [] and hints_for_settings(None) == []
    assert hints_for_settings({**PINNED, "jax_default_matmul_precision": "highest"}) == []
    (hint,) = hints_for_settings({**PINNED, "jax_enable_x64": True, "jax_random_seed_offset": 3})
    assert hint.reason is Reason.PITFALL_JAX_SETTINGS
    assert "jax_enable_x64=True" in hint.text and "jax_random_seed_offset=3" in hint.text and "threefry" not in hint.text


def test_clip_and_excerpt_mark_what_they_cut():
    assert clip("short", 10) == "short"
    cut = clip("x" * 1000, 100)
    assert len(cut) == 100 and cut.endswith(TRUNCATED)
    assert output_excerpt("a\nb\n", 4) == "a\nb"
    many = "\n".join(f"line {i}" for i in range(50))
    ex = output_excerpt(many, len(many) + 1000)
    assert ex.splitlines()[:19] == many.splitlines()[:19] and len(ex.splitlines()) == 20
    assert ex.endswith(f"[truncated: {len(many) + 1000} bytes printed in all]")


def _case(cid: str, hidden: int = 3, case_set: str = "public"):
    from grader.judge.cases import GoldenCase
    from grader.problem import CaseSpec
    return GoldenCase(CaseSpec(cid, case_set, 1, hidden, 2, 1), np.zeros(hidden, np.float32),
                      np.full(hidden, 0.5, np.float32))


def _wa(got):
    return Judged("WA", found(Reason.NOT_RUN, detail="wrong"), got=got)


def _ac(got):
    return Judged("AC", found(Reason.CORRECT, as_dtype=""), got=got)


def _diagnose(variants, results, sets=None):
    d = Diagnosis(variants, 1e-4, 1e-5)
    for cid, j in results.items():
        d.note(_case(cid, case_set=(sets or {}).get(cid, "public")), j)
    return d


def test_diagnosis_names_a_mistake_only_where_the_telling_cases_agree():
    zeros, half, quarter, tenth = (np.full(3, v, np.float32) for v in (0.0, 0.5, 0.25, 0.1))
    variants = Variants(
        says={"t_minus_1": "your result equals T-1 steps: fix A", "x_ignored": "your result equals zeros: fix B",
              "relu": "your result equals ReLU: fix C"},
        outputs={"a": {"t_minus_1": quarter, "x_ignored": zeros, "relu": zeros},     # relu = x_ignored
                 "b": {"t_minus_1": quarter, "x_ignored": zeros, "relu": tenth},
                 "c": {"t_minus_1": quarter, "x_ignored": zeros, "relu": zeros},
                 "e": {"t_minus_1": half, "x_ignored": zeros, "relu": tenth}},      # t_minus_1 = answer
        fingerprint={})
    # one mistake everywhere: named, each case message says it, the hint lists the cases
    d = _diagnose(variants, {c: _wa(quarter) for c in "abc"})
    assert d.named() == ["t_minus_1"] and d.equals() == dict.fromkeys("abc", LABELS["t_minus_1"])
    assert [h.text for h in d.hints()] == ["In cases a, b, c (3 of 3 wrong), your result equals T-1 steps: fix A."]
    assert d.hints()[0].reason is Reason.VARIANT_T_MINUS_1
    # a case where the mistake equals the answer and the case passed does not contradict it
    assert _diagnose(variants, {"a": _wa(quarter), "e": _ac(half)}).named() == ["t_minus_1"]
    # zeros on a and c match relu and x_ignored alike (degenerate); b decides: relu
    d = _diagnose(variants, {"a": _wa(zeros), "b": _wa(tenth), "c": _wa(zeros)})
    assert d.named() == ["relu"] and [h.reason for h in d.hints()] == [Reason.VARIANT_RELU]
    # only degenerate cases: no guess, "no known mistake matches"
    d = _diagnose(variants, {"a": _wa(zeros), "c": _wa(zeros)})
    assert d.named() == [] and d.equals() == {} and [h.reason for h in d.hints()] == [Reason.VARIANT_NONE]
    # a passed case that tells T-1 from the answer contradicts T-1
    assert _diagnose(variants, {"a": _ac(half), "b": _wa(quarter)}).named() == []
    # a result that equals one variant on one case and another elsewhere: none
    assert _diagnose(variants, {"b": _wa(tenth), "c": _wa(quarter)}).named() == []
    # hidden cases are counted, never named
    d = _diagnose(variants, {c: _wa(quarter) for c in "abc"}, {"b": "hidden", "c": "hidden"})
    assert [h.text for h in d.hints()] == ["In case a and 2 hidden cases (3 of 3 wrong), your result equals "
                                           "T-1 steps: fix A."]
    assert Diagnosis(None, 1e-4, 1e-5).hints() == []
    assert _diagnose(variants, {"a": _ac(half)}).hints() == []      # nothing wrong: nothing to say


def test_diagnosis_reads_the_variants_only_at_the_first_wrong_result():
    quarter = np.full(3, 0.25, np.float32)
    variants = Variants(says={"t_minus_1": "T-1: fix A"}, outputs={"a": {"t_minus_1": quarter}}, fingerprint={})
    calls = []
    lazy = Diagnosis(lambda: calls.append(1) or (variants, "used"), 1e-4, 1e-5)
    lazy.note(_case("a"), _ac(np.full(3, 0.5, np.float32)))
    assert (lazy.state, calls) == ("not needed", [])     # an accepted run never reads the file
    lazy.note(_case("a"), _wa(quarter))
    assert (lazy.state, calls) == ("used", [1]) and len(lazy.hints()) == 1



def test_visibility_is_validated_and_defaulted(tmp_path):
    raw = yaml.safe_load((ROOT / "problem.yaml").read_text())
    raw["visibility"] = {"public": "visible", "hidden": "sometimes"}
    (tmp_path / "problem.yaml").write_text(yaml.safe_dump(raw))
    with pytest.raises(UsageError, match="visibility.hidden"):
        load_problem(tmp_path / "problem.yaml")
    raw["visibility"] = {"hiden": "hidden"}
    (tmp_path / "problem.yaml").write_text(yaml.safe_dump(raw))
    with pytest.raises(UsageError, match="unknown key 'hiden'"):
        load_problem(tmp_path / "problem.yaml")
    del raw["visibility"]
    (tmp_path / "problem.yaml").write_text(yaml.safe_dump(raw))
    assert load_problem(tmp_path / "problem.yaml").visibility == {
        "public": "visible", "hidden": "after_published", "checks": "visible"}


@pytest.mark.slow
def test_copying_the_public_answers_earns_nothing(test_problem):
    """Public answers from the handout, everything else wrong, the structure the checks want: the
    checks pass but earn nothing without a passing non-edge hidden case (it was 20/100)."""
    v = graded(test_problem, "wrong_answer/hostile_copies_public_answers.py")
    assert v.verdict == "WA" and v.score == 0
    assert all(c.verdict == "AC" for c in v.cases if c.set == "public")
    # The copied answers are constants in the programs the grader runs: no recurrence, so the verified
    # structure fails too; and the checks that pass earn nothing without a passing non-edge hidden case.
    assert all(k.score == 0 for k in v.checks)
    assert all("non-edge hidden case" in k.message for k in v.checks if k.passed)
    assert not next(k for k in v.checks if k.id == "uses_lax_scan").passed


@pytest.mark.slow
def test_an_unknown_mistake_is_not_given_a_known_name(test_problem):
    """Halving the carry decays to the zeros that x_ignored and ReLU give on some cases; those cases
    must not decide, so the diagnosis names nothing and says no known mistake matches."""
    v = graded(test_problem, "wrong_answer/basic_unknown_mistake.py")
    reasons = [h.reason for h in v.hints]
    assert v.verdict == "WA" and Reason.VARIANT_NONE in reasons, reasons
    assert not any(r.value.startswith("variant_") and r is not Reason.VARIANT_NONE for r in reasons)
    assert not any("it equals" in c.message for c in v.cases)
