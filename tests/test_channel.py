"""The channel validates every frame from either child once, before anything reads it
(grader/host/channel.py): what the children really send passes, anything outside a frame's table is
garbage or dropped, and the two forged headers that once made the grader fail are RTE, never JE."""
from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import time

import ml_dtypes
import numpy as np
import pytest

from grader import grade as grade_module
from grader.child import common
from grader.execute import _answer
from grader.host import channel
from grader.host.channel import Frames, Garbage, check_frame
from grader.host.sandbox import Child
from grader.judge.cases import load_golden
from grader.outcome import Execution, Outcome


def _frame(head: dict, payload: bytes = b"") -> bytes:
    data = json.dumps(head).encode()
    return struct.pack(">I", len(data)) + data + payload


def _parse(head: dict, payload: bytes = b"", sender=None, max_payload: int = 1 << 20):
    f = Frames(max_payload, sender)
    f.feed(_frame(head, payload))
    return f.next()


# -- what the children really send passes ----------------------------------------------------------
@pytest.mark.parametrize("value", [
    np.ones(4, np.float32), np.ones(4, np.float64), np.ones(4, np.float16), np.ones(4, ml_dtypes.bfloat16),
    np.ones((3, 4), np.float32), np.ones(4, np.int32), np.array(["a", "b"]), np.ones(4, np.complex64),
    np.zeros((0, 5), np.float32), np.ones(2, dtype="f4,f4"), None, object(), np.ones(10**5, np.float32),
])
def test_what_encode_sends_passes_both_tables(value):
    head, data = common.encode(value, max_elements=1000)
    for sender, extra in (("runner", {"fallback": "numpy", "data_nbytes": len(data)}), ("executor", {"run_s": 0.1})):
        got, payload = _parse({"type": "result", "id": "p01", "time_s": 0.5, **head, **extra}, data, sender)
        assert payload == data and got["kind"] == head["kind"]
        if "shape" in head:
            assert got["shape"] == head["shape"]


def test_what_describe_sends_passes():
    try:
        raise ValueError("x" * 5000)
    except ValueError as e:
        head = common.describe(e, __file__)
    got, _ = _parse({"type": "error", "id": "h01", "time_s": 0.1, **head}, sender="runner")
    assert got["etype"] == "ValueError" and len(got["message"]) <= 2000
    got, _ = _parse({"type": "load_error", **head}, sender="runner")
    assert got["type"] == "load_error"


def test_observed_structure_module_settings_and_the_new_keys_pass():
    observed = {"loop": "scan", "length": 5, "carry": True, "in_module": True, "T": 5, "methods": ["__call__"],
                "params": {"params/W": [[4, 4], "float32"]}, "scan_method": "__call__", "unroll": 2}
    got, _ = _parse({"type": "program", "id": "p01", "time_s": 0.2, "observed": observed,
                     "settings": dict(common.PINNED), "nbytes": 3}, b"abc", "runner")
    assert got["observed"] == observed and got["settings"] == common.PINNED
    structure = {"ok": False, "reason": "w_not_from_init", "trips": None, "per_trip": None, "outside": 0}
    got, _ = _parse({"type": "result", "id": "p01", "time_s": 0.2, "run_s": 0.1, "compile_s": 0.05,
                     "structure": structure, "kind": "array", "shape": [4], "dtype": "<f4", "nbytes": 16},
                    b"\0" * 16, "executor")
    assert got["structure"] == structure and got["compile_s"] == 0.05
    assert _parse({"type": "compiled", "id": "p01", "compile_s": 1.5}, sender="executor")[0]["compile_s"] == 1.5
    module = {"ok": False, "reason": "field_type", "field": "T", "got": "<class 'float'>"}
    assert _parse({"type": "loaded", "time_s": 1.0, "settings": {}, "module": module}, sender="runner")[0]["module"] == module


# -- and nothing else ---------------------------------------------------------------------------
RESULT = {"type": "result", "id": "p01", "time_s": 0.1, "kind": "array", "shape": [4], "dtype": "<f4", "nbytes": 16}


@pytest.mark.parametrize("change, payload", [
    ({"shape": [10 ** 2200, 10 ** 2200]}, b"\0" * 16),          # the 4401-digit product
    ({"shape": [2 ** 40, 2 ** 40]}, b"\0" * 16),
    ({"shape": [1] * 65}, b"\0" * 16),
    ({"dtype": "|S4"}, b"\0" * 16),                              # bytes the grader would decode as strings
    ({"dtype": ">f4"}, b"\0" * 16),
    ({"dtype": "bfloat16", "nbytes": 8}, b"\0" * 8),
    ({"nbytes": 12}, b"\0" * 12),                                # bytes that are not its shape
    ({"orig_dtype": "int4"}, b"\0" * 16),
    ({"orig_dtype": "bfloat16", "dtype": "<f8", "nbytes": 32}, b"\0" * 32),
    ({"kind": "none"}, b"\0" * 16),
    ({"kind": "sometimes"}, b"\0" * 16),
    ({"time_s": 1e300}, b"\0" * 16),
    ({"time_s": -1}, b"\0" * 16),
    ({"time_s": True}, b"\0" * 16),
    ({"shape": [4.0]}, b"\0" * 16),
    ({"shape": [True]}, b"\0" * 16),
    ({"observed": {"loop": "Scan!"}}, b"\0" * 16),
    ({"observed": {"length": 10 ** 30}}, b"\0" * 16),
    ({"observed": {"params": {"p": [[10 ** 30], "f4"]}}}, b"\0" * 16),
    ({"observed": {"methods": ["m"] * 100}}, b"\0" * 16),
    ({"settings": {f"k{i}": 1 for i in range(17)}}, b"\0" * 16),
    ({"structure": {"reason": "x" * 41}}, b"\0" * 16),
    ({"type": "oversized"}, b"\0" * 16),
])
def test_a_frame_outside_its_table_is_garbage(change, payload):
    with pytest.raises(Garbage):
        _parse({**RESULT, **change}, payload)


def test_unknown_keys_are_dropped_from_the_runner_and_loud_from_the_executor(monkeypatch):
    head, _ = _parse({**RESULT, "anything": 1, "oversized": True, "observed": {"loop": "scan", "new": 1}},
                     b"\0" * 16, "runner")
    assert "anything" not in head and "oversized" not in head and head["observed"] == {"loop": "scan"}
    with pytest.raises(AssertionError, match="anything"):
        _parse({**RESULT, "anything": 1}, b"\0" * 16, "executor")
    monkeypatch.setattr(channel, "STRICT", False)      # production: dropped
    assert "anything" not in _parse({**RESULT, "anything": 1}, b"\0" * 16, "executor")[0]


def test_each_sender_has_its_own_table():
    with pytest.raises(Garbage):
        check_frame({"type": "compiled", "id": "p01", "compile_s": 1.0}, "runner")
    with pytest.raises(Garbage):
        check_frame({"type": "program", "id": "p01", "nbytes": 0}, "executor")
    assert "structure" not in check_frame({**RESULT, "nbytes": 0, "structure": {"ok": True}}, "runner")


def test_the_watch_knows_its_child_from_the_script_it_runs():
    class Proc:
        def __init__(self, args):
            self.args = args

    class Kid:
        def __init__(self, args):
            self.proc = Proc(args)
    assert channel._sender(Kid(["bwrap", "--x", "py", "-I", "/judge/executor.py", "/judge/job.json"])) == "executor"
    assert channel._sender(Kid(["py", "-I", "/judge/runner.py", "/judge/job.json"])) == "runner"
    assert channel._sender(Kid("py runner.py")) is None


# -- the two regressions, through the grading --------------------------------------------------
def _grade_with(problem, tmp_path, cases: dict, mp) -> object:
    ex = Execution(isolation="process", cases=cases, module={"ok": True, "reason": "ok"}, children=1)
    mp.setattr(grade_module, "run", lambda *a, **k: ex)
    path = tmp_path / "solution.py"
    path.write_text("def lax_scan_in_module(seed, x, hidden, T):\n    return x\n")
    return grade_module.grade(problem, path, "public", "process")


def _through_channel(head: dict, payload: bytes) -> Outcome:
    try:
        got = _parse(head, payload, "runner")
    except Garbage as e:
        return Outcome("garbage", detail=str(e))
    return _answer(*got, 0.1)


@pytest.mark.parametrize("change", [{"shape": [10 ** 2200, 10 ** 2200]}, {"dtype": "|S4"}])
def test_forged_fallback_headers_are_rte_not_je(change, test_problem, tmp_path):
    golden = load_golden(test_problem, "public").cases
    cases = {}
    for g in golden:
        data = g.expected.astype("<f4").tobytes()
        head = {"type": "result", "id": g.spec.id, "time_s": 0.1, "kind": "array", "shape": [g.spec.hidden],
                "dtype": "<f4", "fallback": "concrete_values", "observed": {"loop": "unknown", "T": g.spec.T},
                "data_nbytes": len(data), "nbytes": len(data) + 4, **change}
        out = _through_channel(head, data + b"prog")
        if out.status == "result":
            out.module_run = Outcome("result", header={"kind": "array", "shape": [g.spec.hidden], "dtype": "<f4"},
                                     data=data, structure={"ok": True, "reason": "ok"}, stage="executor")
        cases[g.spec.id] = out
    with pytest.MonkeyPatch.context() as mp:
        v = _grade_with(test_problem, tmp_path, cases, mp)
    assert v.verdict == "RTE", v.internal
    assert {c.reason.value for c in v.cases} == {"channel_corrupted"}


def test_another_dtype_without_bytes_is_only_a_name_for_a_wa(test_problem, tmp_path):
    """`|S4` (or any dtype the grader does not decode) sent as the runner sends it, without bytes:
    a wrong dtype, WA, worded for the public case and withheld for a hidden one."""
    golden = load_golden(test_problem, "public").cases
    cases = {g.spec.id: _through_channel({"type": "result", "id": g.spec.id, "time_s": 0.1, "kind": "array",
                                          "shape": [g.spec.hidden], "dtype": "|S4", "fallback": "numpy",
                                          "observed": {"loop": "unknown", "T": g.spec.T}}, b"")
             for g in golden}
    with pytest.MonkeyPatch.context() as mp:
        v = _grade_with(test_problem, tmp_path, cases, mp)
    assert v.verdict == "WA" and {c.reason.value for c in v.cases} == {"wrong_dtype"}
    assert all(c.message.startswith("dtype bytes32") for c in v.cases), [c.message for c in v.cases]


# -- a child that ends right after its last frames ---------------------------------------------
class _ExitedBox:
    isolation = "process"

    class limits:
        memory_mb = 1 << 20

    def memory_bytes(self, _limit):
        return 0

    def hit_memory_limit(self):
        return False

    def over_scratch(self):
        return False


def _dead_child(write) -> tuple[channel.Watch, tuple[int, int]]:
    """A watch on a child whose process already ended; `write(fd)` fills its result pipe first
    (and closes fd, or hands it to a writer that outlives the child)."""
    r, w = os.pipe()
    out_r, out_w = os.pipe()
    write(w)
    os.close(out_w)
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()                                      # dead before the watch looks at its pipes
    child = Child(proc=proc, result_fd=r, output_fd=out_r, uid=None, cgroup=None)
    return channel.Watch(_ExitedBox(), child, 1 << 20, 1 << 20, sender="runner"), (r, out_r)


def test_frames_written_before_an_exit_are_read_before_the_exit():
    """The watch looks at the child's liveness on a timer; a child that writes ready, loaded and start
    and then exits (os._exit(0) in the student's function) may be seen dead before its pipe is read.
    Its frames still come first, then the exit: the grader must not think it never started (JE)."""
    frames = b"".join(_frame(h) for h in ({"type": "ready", "pid": 7}, {"type": "loaded", "time_s": 0.1},
                                          {"type": "start", "id": "p01"}))

    def write(w):
        os.write(w, frames)
        os.close(w)
    watch, fds = _dead_child(write)
    kinds = []
    while not isinstance(got := watch.next(time.monotonic() + 5), channel.Stop):
        kinds.append(got[0]["type"])
    assert kinds == ["ready", "loaded", "start"]
    assert got.reason == "exited"
    for fd in fds:
        os.close(fd)


def test_a_grandchild_writing_on_after_the_exit_does_not_hold_the_watch():
    """After its process ended, the watch reads at most about one more frame's worth: a forked
    grandchild that keeps the result pipe full cannot keep the case open until its deadline."""
    frame = _frame({"type": "start", "id": "p01"})
    writers = []

    def write(w):                                    # the grandchild: valid frames, without end
        writers.append(subprocess.Popen(
            [sys.executable, "-c", f"import os\nwhile True: os.write(1, {frame * 1000!r})"], stdout=w))
        os.close(w)
    watch, fds = _dead_child(write)
    try:
        start = time.monotonic()
        frames = 0
        while not isinstance(got := watch.next(start + 30), channel.Stop):
            frames += 1
        assert got.reason == "exited"
        assert time.monotonic() - start < 10
        assert frames * len(frame) < 8 << 20
    finally:
        writers[0].kill()
        writers[0].wait()
        for fd in fds:
            os.close(fd)
