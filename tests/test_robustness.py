"""Whatever the child sends or the student hands in, the grader answers with a verdict, blames the
right party, and never leaks a hidden value through counts or case names."""
from __future__ import annotations

import json
import struct

import numpy as np
import pytest
import yaml

from conftest import ROOT, SUBMISSIONS, make_test_bundle
from grader.judge.cases import GoldenCase
from grader.judge.compare import band, band_text, judge, to_case_verdict
from grader.host.channel import Frames as _Frames
from grader.outcome import Outcome
from grader.grade import grade
from grader.problem import CaseSpec, load_problem
from grader.submission import resolve
from grader.judge.verdict import render


def _frame(header: bytes, payload: bytes = b"") -> bytes:
    return struct.pack(">I", len(header)) + header + payload


@pytest.mark.parametrize("header", [
    b'{"type": "result", "id": "p01", "time_s": "x"}',
    b'{"type": "loaded", "settings": []}',
    b'{"type": "result", "id": "p01", "shape": ["a"]}',
    b'{"type": "error", "id": "p01", "message": 5}',
    b'{"type": "result", "id": "p01", "time_s": Infinity}',
    b'{"type": "result", "id": "p01", "time_s": NaN}',
    b'{"type": "result", "id": "p01", "nbytes": -4}',
    b'{"type": "result", "id": "p01", "anything": 1}',
    b"[" * 30000,
    b'{"no": "type"}',
    b"\xff\xfe",
])
def test_forged_headers_are_garbage_not_a_grader_crash(header):
    frames = _Frames(max_payload=1024)
    frames.feed(_frame(header))
    with pytest.raises(ValueError):
        frames.next()


def test_an_honest_header_passes():
    frames = _Frames(max_payload=1024)
    frames.feed(_frame(json.dumps({"type": "result", "id": "p01", "time_s": 0.5, "kind": "array",
                                   "shape": [4], "dtype": "<f4", "nbytes": 16,
                                   "settings": {"jax_enable_x64": False}}).encode(), b"\0" * 16))
    head, payload = frames.next()
    assert head["id"] == "p01" and len(payload) == 16


def test_errors_too_large_for_a_float_are_null_not_a_crash():
    spec = CaseSpec("h1", "hidden", 3, 4, 2, 9)
    case = GoldenCase(spec, np.zeros(4, np.float32), np.array([-1e-30, 1.0, 2.0, 3.0], np.float32))
    got = np.array([1.7e308, -1.7e308, 0.0, 0.0])
    out = Outcome("result", header={"kind": "array", "shape": [4], "dtype": "<f8"}, data=got.tobytes())
    for hidden in (True, False):
        j = judge(case, out, 1e-4, 1e-5, hidden=hidden)
        assert j.verdict == "WA" and j.max_rel_err is None
        cv = to_case_verdict(case, j, 1.0, 0.1)
        assert cv.max_rel_err is None
    assert band(float("inf")) is None and band_text(float("inf")) == "undefined"


def test_deeply_nested_notebook_is_ce(tmp_path):
    (tmp_path / "s.ipynb").write_bytes(b"[" * 200000)
    src = resolve(tmp_path / "s.ipynb", 1 << 20)
    assert src.code is None and "not valid .ipynb JSON" in src.problem


def test_a_problem_without_hidden_cases_grades_all_sets(tmp_path):
    path = make_test_bundle(tmp_path)
    raw = yaml.safe_load(path.read_text())
    raw["cases"]["hidden"] = []
    raw["scoring"]["checks_points"] = raw["scoring"]["max_score"]
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    (tmp_path / "tests" / "data" / "hidden.yaml").unlink()
    v = grade(load_problem(path), ROOT / "reference" / "solution.py", "all")
    assert v.verdict == "AC", v.internal


def test_unusable_variants_file_only_loses_the_hints(tmp_path):
    problem = load_problem(make_test_bundle(tmp_path))
    (tmp_path / "tests" / "data" / "variants.yaml").write_text("schema_version: 1\n")
    v = grade(problem, SUBMISSIONS / "wrong_answer" / "variant_t_minus_1.py", "public")
    assert v.verdict == "WA" and v.internal["variants"].startswith("unusable")


def test_hidden_cases_give_no_counts_and_hints_no_hidden_names(test_problem):
    v = grade(test_problem, SUBMISSIONS / "wrong_answer" / "variant_transposed_w.py", "all")
    doc = json.loads(render(v))
    hidden = [c for c in doc["cases"] if c["set"] == "hidden" and c["verdict"] == "WA"]
    assert hidden and all(" of " not in c["message"].split(":")[0] for c in hidden)
    text = " ".join(doc["feedback"])
    assert "hidden case" in text and not any(c["id"] in text for c in hidden)
