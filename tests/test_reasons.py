"""Reasons are values: one closed enum, one sentence table, carried into the verdict JSON; no
grader code decides anything by reading the wording of another message."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from conftest import ROOT
from grader.problem import load_schema
from grader.judge.reasons import CASE_REASONS, HINT_REASONS, TEMPLATES, Reason, render
from grader.judge.variants import LABELS, VARIANTS

GRADER = ROOT / "grader"
# The child side builds messages in the sandbox (and reads JAX's own error text); the grader reads none.
CHILD_SIDE = {"runner.py", "structure.py"}
# A string literal tested against (or cut out of) a variable that holds a sentence.
WORDING_TESTS = (
    re.compile(r"""["'][^"'\n]+["']\s+(?:not\s+)?in\s+[\w.\[\]"']*(?:message|detail|says|msg|text|feedback|hint)\w*\b"""),
    re.compile(r"""(?:message|detail|says|msg|feedback|hint)\w*(?:\[\d+\])?\.(?:startswith|endswith|removeprefix|"""
               r"""removesuffix|find|index|count|partition)\("""),
    re.compile(r"""(?:message|detail|says|msg)\w*\.split\(\s*["']"""),
    re.compile(r"""\blabel\([^)]*says"""),
)


def _grader_sources() -> list[Path]:
    return [p for p in sorted(GRADER.rglob("*.py")) if p.name not in CHILD_SIDE and "child" not in p.parts]


def test_no_grader_code_reads_the_wording_of_a_message():
    hits = []
    for path in _grader_sources():
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            code = line.split("#", 1)[0]
            if any(p.search(code) for p in WORDING_TESTS):
                hits.append(f"{path.relative_to(ROOT)}:{n}: {line.strip()}")
    assert hits == [], "\n".join(hits)


@pytest.mark.parametrize("line", [
    'feedback += [x for x in checks if "while checking" not in c.message]',
    'if "stacked per-step outputs" in message:',
    'if "total" in o.detail else',
    'return says.split(":")[0].removeprefix("your result equals ")',
    'what = label(self.variants.says[v])',
    'if msg.startswith("case "):',
])
def test_the_wording_grep_catches_the_old_patterns(line):
    assert any(p.search(line) for p in WORDING_TESTS), line


def test_every_reason_has_one_sentence_and_the_schema_lists_exactly_the_codes():
    assert set(TEMPLATES) == set(Reason)
    defs = load_schema("verdict.schema.json")["$defs"]
    assert defs["case_reason"]["enum"] == [r.value for r in CASE_REASONS]
    assert defs["hint_reason"]["enum"] == [r.value for r in HINT_REASONS]
    assert all(re.fullmatch(r"[a-z][a-z0-9_]*", r.value) for r in Reason)


def test_each_known_variant_has_its_reason_and_label():
    ids = [vid for vid, _ in VARIANTS]
    assert [Reason.variant(v).value for v in ids] == [f"variant_{v}" for v in ids]
    assert set(LABELS) == set(ids)
    variant_members = {r for r in Reason if r.value.startswith("variant_")} - {Reason.VARIANT_NONE}
    assert variant_members == {Reason.variant(v) for v in ids}
    with pytest.raises(ValueError):
        Reason.variant("not_a_variant")


def test_sentences_are_rendered_from_parameters():
    assert render(Reason.WRONG_SHAPE, {"shape": (3, 4), "want": (4,)}) == "shape (3, 4), expected (4,)"
    assert render(Reason.NOT_IMPLEMENTED, {"first": ""}) == ("not implemented yet: your function raised "
                                                             "NotImplementedError")
    assert render(Reason.JUDGE_ERROR, {}) == "not graded: judge error"
    assert "not your fault" in render(Reason.JUDGE_ERROR, {"hint": True})


SAMPLE = {"err": "≈1e-2", "rel": "≈1e-1", "atol": 1e-5, "rtol": 1e-4, "as_dtype": "", "dtype": "bfloat16",
          "eps": 2.0 ** -8, "want": (4,), "accepted": "float32", "etype": "ValueError", "detail": "not run",
          "case": "h01", "count": "3", "code": None, "why": "it did not load"}


@pytest.mark.parametrize("reason", CASE_REASONS)
def test_every_case_reason_is_worded_for_a_hidden_case_from_the_graders_values_alone(reason):
    """A hidden case's Found keeps only HIDDEN_KEEPS: its sentence must need nothing else."""
    from grader.judge.reasons import HIDDEN_KEEPS, Found, for_case
    kept = {k: SAMPLE[k] for k in HIDDEN_KEEPS.get(reason, ())}
    shown = for_case(Found(reason, {**kept, "first": "SECRET", "at": "SECRET", "shape": (9,), "pytype": "SECRET"}),
                     hidden=True)
    assert set(shown.params) <= set(kept) and "SECRET" not in shown.text
    assert for_case(Found(reason, kept), hidden=False).hidden is False


def test_hidden_tables_name_case_reasons_only():
    from grader.judge.reasons import HIDDEN_KEEPS, HIDDEN_TEMPLATES
    assert set(HIDDEN_KEEPS) <= set(CASE_REASONS) and set(HIDDEN_TEMPLATES) <= set(CASE_REASONS)
