"""The comparison stage: shape -> dtype -> finite -> tolerance, with messages that say what differed."""
from __future__ import annotations

import numpy as np
import pytest

from grader.judge.cases import GoldenCase
from grader.judge.compare import ACCEPTED_FLOATS, band, band_text, judge, within_tolerance
from grader.outcome import Outcome
from grader.problem import CaseSpec
from grader.judge.reasons import Reason

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


# -- accepted dtypes: one source of truth (compare.ACCEPTED_FLOATS), each tested ------------------
EXACT = np.array([0.5, -0.25, 0.125, 0.0], dtype=np.float32)      # representable in every float
ROUGH = np.array([0.7021739, -0.5434749, 0.24749792, -0.6809031], dtype=np.float32)


def _case_with(expected, set_="public"):
    return GoldenCase(CaseSpec("c1", set_, 3, 4, 2, 9), np.zeros(4, np.float32), expected)


def _as(name: str, values: np.ndarray, raw_bf16: bool = False) -> Outcome:
    """What the runner sends for a result of dtype `name`: ml_dtypes floats converted to float32
    with `orig_dtype` (or, `raw_bf16`, the bfloat16 bits themselves)."""
    if name == "bfloat16":
        bits = (values.astype("<f4").view("<u4") + 0x8000) >> 16          # round to nearest
        if raw_bf16:
            data = bits.astype("<u2").tobytes()
            return Outcome("result", header={"kind": "array", "shape": [4], "dtype": "bfloat16"}, data=data)
        return _result((bits << 16).astype("<u4").view("<f4"), orig_dtype="bfloat16")
    return _result(values.astype(name))


@pytest.mark.parametrize("name", sorted(ACCEPTED_FLOATS))
def test_every_accepted_float_is_ac_when_its_values_are_right(name):
    j = judge(_case_with(EXACT), _as(name, EXACT), RTOL, ATOL, hidden=False)
    assert (j.verdict, j.reason) == ("AC", Reason.CORRECT), j.message
    assert ("returned as " + name in j.message) == (name != "float32")


def test_raw_bfloat16_bits_are_decoded_too():
    j = judge(_case_with(EXACT), _as("bfloat16", EXACT, raw_bf16=True), RTOL, ATOL, hidden=False)
    assert (j.verdict, j.reason) == ("AC", Reason.CORRECT)


@pytest.mark.parametrize("name", ["bfloat16", "float16"])
@pytest.mark.parametrize("hidden", [False, True])
def test_low_precision_rounding_is_precision_too_low_not_a_wrong_type(name, hidden):
    j = judge(_case_with(ROUGH, "hidden" if hidden else "public"), _as(name, ROUGH), RTOL, ATOL, hidden=hidden)
    assert (j.verdict, j.reason) == ("WA", Reason.PRECISION_TOO_LOW), j.message
    assert j.message.startswith(f"precision too low: returned as {name}") and "dtype" not in j.message


def test_far_off_low_precision_values_are_wrong_values_naming_the_dtype():
    j = judge(_case_with(ROUGH), _as("bfloat16", -ROUGH), RTOL, ATOL, hidden=False)
    assert (j.verdict, j.reason) == ("WA", Reason.WRONG_VALUES) and j.message.endswith("(returned as bfloat16)")


@pytest.mark.parametrize("head", [{"dtype": "<f4", "orig_dtype": "float8_e4m3fn"}, {"dtype": "<i4"},
                                  {"dtype": "|V2"}, {"dtype": "E" * 100}])
def test_other_dtypes_are_a_wrong_dtype_listing_the_accepted_ones(head):
    out = Outcome("result", header={"kind": "array", "shape": [4], **head}, data=b"\0" * 16)
    j = judge(_case_with(EXACT), out, RTOL, ATOL, hidden=False)
    assert (j.verdict, j.reason) == ("WA", Reason.WRONG_DTYPE)
    assert all(n in j.message for n in ACCEPTED_FLOATS)


def test_a_total_time_out_says_so_from_its_code_not_its_wording():
    assert judge(_case(), Outcome("timeout", why="total"), RTOL, ATOL, False).reason is Reason.TOTAL_TIME_LIMIT
    assert judge(_case(), Outcome("timeout", detail="total"), RTOL, ATOL, False).reason is Reason.TIME_LIMIT
    dominated = judge(_case(), Outcome("timeout", detail="h03", why="dominated"), RTOL, ATOL, False)
    assert dominated.reason is Reason.TIME_DOMINATED and "case h03" in dominated.message
    assert judge(_case(), Outcome("crash", detail="exited with status 1", why="died_after"), RTOL, ATOL,
                 False).reason is Reason.DIED_AFTER_ANSWERING


# -- what a case's message may say: everything for public cases, only the grader's for hidden ones ------
SECRET = "0.123456789"          # stands for a hidden input the submission wrote into what it sent
FORGED_OUTCOMES = {
    "exception": Outcome("error", error={"etype": "ValueError", "message": f"x was {SECRET}",
                                         "frames": [f"line 3, in f: raise ValueError({SECRET})"]}),
    "own_exception_type": Outcome("error", error={"etype": f"E{SECRET[2:]}", "message": SECRET, "frames": []}),
    "not_implemented": Outcome("error", error={"etype": "NotImplementedError", "message": SECRET}),
    "out_of_memory": Outcome("error", error={"etype": "MemoryError", "message": SECRET, "memory": True}),
    "wrong_shape": _result(np.zeros(123456, np.float32)),
    "stacked": _result(np.zeros((123456, 4), np.float32)),
    "oversized": Outcome("result", header={"kind": "array", "shape": [123456, 7], "dtype": "<f4", "oversized": True}),
    "wrong_dtype": Outcome("result", header={"kind": "array", "shape": [4], "dtype": f"<U{SECRET[2:]}"}),
    "not_finite": _result(np.array([np.nan, 1.0, 2.0, 3.0], np.float32)),
    "not_an_array": Outcome("result", header={"kind": "unconvertible", "pytype": f"C{SECRET}", "error": SECRET}),
    "crashed": Outcome("crash", detail="exited with status 123"),
    "died_after": Outcome("crash", detail="exited with status 123", why="died_after"),
    "unfit": Outcome("error", error={"etype": "UnfitProgram", "message": SECRET}),
    "not_exported": Outcome("result", header={"kind": "none"}, fallback=SECRET),
}


@pytest.mark.parametrize("name", list(FORGED_OUTCOMES))
def test_a_hidden_case_says_only_the_graders_own_values(name):
    from grader.judge.compare import to_case_verdict
    out = FORGED_OUTCOMES[name]
    hidden = to_case_verdict(_case("hidden"), judge(_case("hidden"), out, RTOL, ATOL, hidden=True), 1.0, 0.1)
    public = to_case_verdict(_case(), judge(_case(), out, RTOL, ATOL, hidden=False), 1.0, 0.1)
    assert hidden.reason == public.reason and hidden.verdict == public.verdict
    for secret in (SECRET, SECRET[2:], "123456", "123"):
        assert secret not in hidden.message, hidden.message
    if name in ("exception", "wrong_shape", "not_an_array", "crashed"):
        assert any(s in public.message for s in (SECRET, "123456", "123")), public.message   # public: all of it
    if name == "exception":
        assert hidden.message.startswith("your function raised ValueError on this hidden case")
    if name == "own_exception_type":
        assert "an exception of its own type" in hidden.message
