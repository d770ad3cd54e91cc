"""The comparison stage: shape -> dtype -> finite -> tolerance, with messages that say what differed."""
from __future__ import annotations

import numpy as np
import pytest

from grader.cases import GoldenCase
from grader.compare import band, band_text, judge, within_tolerance
from grader.execute import Outcome
from grader.problem import CaseSpec

RTOL, ATOL = 1e-4, 1e-5
EXPECTED = np.array([0.5, -0.25, 1e-3, 0.0], dtype=np.float32)


def _case(set_="public"):
    return GoldenCase(CaseSpec("c1", set_, 3, 4, 2, 9), np.zeros(4, np.float32), EXPECTED)


def _result(arr, **extra):
    arr = np.asarray(arr)
    head = {"kind": "array", "shape": list(arr.shape), "dtype": arr.dtype.newbyteorder("<").str, **extra}
    return Outcome("result", header=head, data=arr.astype(arr.dtype.newbyteorder("<")).tobytes())


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_any_real_float_within_tolerance_is_ac(dtype):
    got = EXPECTED.astype(np.float64) + 1e-6
    j = judge(_case(), _result(got.astype(dtype)), RTOL, ATOL, hidden=False)
    assert j.verdict == "AC", j.message
    assert ("returned as" in j.message) == (dtype != np.float32)


def test_tolerance_rule_is_atol_plus_rtol_times_expected():
    a = np.array([1.0, 0.0])
    assert within_tolerance(a + [1e-4 + 1e-5 - 1e-9, 1e-5], a, RTOL, ATOL)
    assert not within_tolerance(a + [1e-4 + 1e-5 + 1e-7, 0], a, RTOL, ATOL)
    assert not within_tolerance(np.array([np.nan, 0.0]), a, RTOL, ATOL)
    assert not within_tolerance(a[:1], a, RTOL, ATOL)


@pytest.mark.parametrize("outcome,verdict,fragment", [
    (Outcome("result", header={"kind": "none"}), "WA", "returned None; expected a float array of shape (4,)"),
    (Outcome("result", header={"kind": "unconvertible", "pytype": "builtins.object", "error": "x"}), "WA",
     "not an array"),
    (_result(np.zeros((3, 4), np.float32)), "WA", "shape (3, 4), expected (4,) (that looks like the stacked"),
    (_result(np.zeros((1, 4), np.float32)), "WA", "shape (1, 4)"),
    (_result(np.zeros((0, 4), np.float32)), "WA", "shape (0, 4)"),
    (_result(np.zeros(4, np.int32)), "WA", "dtype int32, expected a real floating dtype"),
    (_result(np.zeros(4, np.complex64)), "WA", "dtype complex64"),
    (_result(np.array([np.nan, 0, 0, 0], np.float32)), "WA", "1 of 4 entries are NaN or infinite"),
    (Outcome("result", header={"kind": "array", "shape": [100_000_000], "dtype": "<f4", "oversized": True}),
     "WA", "100000000 elements"),
    (Outcome("result", header={"kind": "array", "shape": [4], "dtype": "<f4"}, data=b"\0" * 3), "RTE",
     "malformed"),
    (Outcome("error", error={"etype": "NotImplementedError", "message": "todo"}), "RTE", "not implemented yet"),
    (Outcome("error", error={"etype": "MemoryError", "message": "", "memory": True}), "MLE", "out of memory"),
    (Outcome("error", error={"etype": "ValueError", "message": "bad\nmore", "frames": ["line 3, in f: x"]}),
     "RTE", "ValueError: bad more [line 3, in f: x]"),  # later lines kept: JAX puts detail there
    (Outcome("timeout"), "TLE", "time limit"),
    (Outcome("memory"), "MLE", "memory limit"),
    (Outcome("output"), "OLE", "printed too much"),
    (Outcome("crash", detail="killed by SIGSEGV"), "RTE", "SIGSEGV"),
])
def test_outcomes_map_to_verdicts_with_messages(outcome, verdict, fragment):
    j = judge(_case(), outcome, RTOL, ATOL, hidden=False)
    assert j.verdict == verdict and fragment in j.message, j.message


def test_public_wrong_values_show_entries_hidden_only_bands():
    got = EXPECTED.copy()
    got[1] = 0.125
    pub = judge(_case("public"), _result(got), RTOL, ATOL, hidden=False)
    assert pub.verdict == "WA" and "[1] got 0.125, expected -0.25" in pub.message
    hid = judge(_case("hidden"), _result(got), RTOL, ATOL, hidden=True)
    assert hid.verdict == "WA" and "≈1e0" in hid.message
    for value in ("-0.25", "0.25", "0.125", "0.5", "0.001"):
        assert value not in hid.message


def test_bands_are_decades():
    assert band(0.0123) == pytest.approx(0.01) and band(0.0) == 0.0 and band(None) is None
    assert band_text(0.0123) == "≈1e-2" and band_text(None) == "undefined"
