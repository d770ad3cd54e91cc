"""The grader's end of a sandboxed child: bounded frames from its result pipe, its output counted
with a cap, and a watch that stops at a deadline, a limit, or the death of the child's own process.

Used by execute.py (the runner) and programs.py (the executor). Every frame is validated once, here,
before anything reads it: RUNNER and EXECUTOR below list each frame a child may send and every key
of it, with its type and bounds. A frame outside its table is garbage (the child's fault), an
unknown key is dropped; so no consumer ever meets an absurd value, and nothing a child sends can
make the grader fail.
"""
from __future__ import annotations

import json
import math
import os
import re
import select
import struct
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

from .proctree import HAVE_PROC
from .sandbox import Child, Sandbox
from ..text import LINE_LIMIT, MESSAGE_LIMIT, NAME_LIMIT, safe

MAX_HEADER = 64 * 1024
OUTPUT_HEAD = 4096
WATCH_EVERY = 0.05 if HAVE_PROC else 0.5   # without /proc (macOS) each look runs ps(1)
SCRATCH_EVERY = 0.25               # walking folders costs more than reading the memory counter
MAX_ELEMENTS = 2 ** 62             # a shape's product (of its nonzero dimensions) at most this
WIRE_FLOATS = {"<f2": 2, "<f4": 4, "<f8": 8}   # the only dtypes whose bytes the grader decodes
ML_FLOAT = r"bfloat16|float[468]_e\dm\d[a-z\d]{0,8}"   # orig_dtype: an ml_dtypes float sent as float32
STRICT = "pytest" in sys.modules   # under the tests an unknown key from the executor is a loud bug


class Garbage(ValueError):
    """A frame outside its table: the child's fault (the case it was in is RTE), never the grader's."""


# -- the rules: each takes a value (and a list collecting dropped keys) and returns it cleaned --------
def _ok(v, ok: bool, what: str):
    if not ok:
        raise Garbage(f"a frame with {what}")
    return v
def INT(lo: int, hi: int):
    return lambda v, _d: _ok(v, type(v) is int and lo <= v <= hi, f"an int outside [{lo}, {hi}]")
def REAL(lo: float, hi: float):   # bounds first: math.isfinite of a huge int would overflow
    return lambda v, _d: float(_ok(v, type(v) in (int, float) and lo <= v <= hi and math.isfinite(v),
                                   f"a number outside [{lo}, {hi}]"))
def TEXT(limit: int, multiline: bool = False):   # free text: clipped once, here, by text.safe
    return lambda v, _d: safe(_ok(v, type(v) is str, "a non-string text"), limit, multiline)
def OPT(inner):
    return lambda v, d: None if v is None else inner(v, d)
def LIST(inner, n: int):
    return lambda v, d: [inner(x, d) for x in _ok(v, type(v) is list and len(v) <= n, f"a list over {n}")]
def MAP(value, n: int):                          # a dict of at most n free (clipped) keys
    return lambda v, d: {safe(k, LINE_LIMIT): value(x, d)
                         for k, x in _ok(v, type(v) is dict and len(v) <= n, f"a dict over {n} keys").items()}
def DICT(table: dict):
    """A dict of known keys, each with its rule; an unknown key is dropped (and noted in `d`)."""
    def rule(v, d):
        d += [k for k in _ok(v, type(v) is dict and len(v) <= 64, "a malformed dict") if k not in table]
        return {k: table[k](x, d) for k, x in v.items() if k in table}
    return rule
def MATCH(pattern: str):
    return lambda v, _d: _ok(v, type(v) is str and re.fullmatch(pattern, v) is not None, f"not {pattern}")
def BOOL(v, _d):
    return _ok(v, type(v) is bool, "a non-boolean flag")
def SHAPE(v, d):
    dims, size = LIST(INT(0, 2 ** 63 - 1), 64)(v, d), 1
    for n in dims:            # stop as soon as the product passes its bound: never a huge int
        size *= n or 1
        _ok(v, size <= MAX_ELEMENTS, "a shape of too many elements")
    return dims
def LEAF(v, d):               # an init variable as observe.py reports it: [shape, dtype]
    _ok(v, type(v) is list and len(v) == 2, "a malformed variable")
    return [SHAPE(v[0], d), TEXT(NAME_LIMIT)(v[1], d)]
def SCALAR(v, d):             # a JAX setting's value
    return TEXT(NAME_LIMIT)(v, d) if type(v) is str else v if v is None or type(v) is bool else COUNT(v, d)


COUNT, ID, SECONDS, IDENT = INT(-2 ** 63, 2 ** 64), TEXT(200), REAL(0.0, 1e7), MATCH(r"[a-z][a-z0-9_]{0,39}")
OBSERVED = DICT({"loop": IDENT, "length": COUNT, "carry": BOOL, "in_module": BOOL, "T": COUNT,
                 "primitive": TEXT(NAME_LIMIT), "methods": LIST(TEXT(NAME_LIMIT), 16),
                 "params": OPT(MAP(LEAF, 64)), "scan_method": OPT(TEXT(100)), "unroll": INT(0, 10 ** 9)})
STRUCTURE = DICT({"ok": BOOL, "reason": IDENT, "trips": OPT(COUNT), "per_trip": OPT(COUNT), "outside": COUNT,
                  "detail": TEXT(LINE_LIMIT)})
MODULE = DICT({"ok": BOOL, "reason": IDENT, "field": TEXT(40), "got": TEXT(80)})
SETTINGS = MAP(SCALAR, 16)
ERROR = {"id": ID, "time_s": SECONDS, "etype": TEXT(NAME_LIMIT), "message": TEXT(MESSAGE_LIMIT, True),
         "frames": LIST(TEXT(LINE_LIMIT), 50), "memory": BOOL}
VALUE = {"id": ID, "time_s": SECONDS, "kind": MATCH("array|none|unconvertible"), "pytype": TEXT(NAME_LIMIT),
         "shape": SHAPE, "dtype": TEXT(NAME_LIMIT), "orig_dtype": MATCH(ML_FLOAT), "error": TEXT(LINE_LIMIT),
         "nbytes": INT(0, 2 ** 62)}
# Every frame each child may send, and every key of it. Nothing else reaches execute.py/programs.py.
BOTH = {"ready": {"pid": INT(1, 2 ** 31)}, "start": {"id": ID}, "done": {}}
RUNNER = {
    **BOTH,
    "load_error": {k: ERROR[k] for k in ("etype", "message", "frames", "memory")},
    "loaded": {"time_s": SECONDS, "settings": SETTINGS, "module": MODULE},
    "program": {"id": ID, "time_s": SECONDS, "observed": OBSERVED, "settings": SETTINGS, "nbytes": INT(0, 2 ** 62)},
    "result": {**VALUE, "fallback": IDENT, "observed": OBSERVED, "settings": SETTINGS, "data_nbytes": INT(0, 2 ** 62)},
    "error": ERROR,
}
EXECUTOR = {
    **BOTH,
    "compiled": {"id": ID, "compile_s": SECONDS},
    "result": {**VALUE, "run_s": SECONDS, "compile_s": SECONDS, "structure": STRUCTURE},
    "error": {**ERROR, "stage": IDENT},
}
TABLES = {"runner": RUNNER, "executor": EXECUTOR,
          None: {t: {**RUNNER.get(t, {}), **EXECUTOR.get(t, {})} for t in {*RUNNER, *EXECUTOR}}}


def check_frame(head, sender: str | None = None) -> dict:
    """The header cleaned by its sender's table (Garbage when it breaks it): every key known and
    bounded, every string safe, a result's bytes consistent with its shape and dtype."""
    table = TABLES[sender]
    _ok(None, type(head) is dict and type(head.get("type")) is str and head["type"] in table, "an unknown type")
    drop: list = []
    out = {"type": head["type"], **DICT(table[head["type"]])({k: v for k, v in head.items() if k != "type"}, drop)}
    assert not (STRICT and drop and sender == "executor"), f"the executor sent keys EXECUTOR lacks: {drop}"
    if out["type"] == "result":
        _value(out)
    return out


def _value(head: dict) -> None:
    """A result's parts agree: the values' bytes are exactly its shape in a float the grader decodes
    (any other dtype is only a name, for a WA message), and orig_dtype names what float32 holds."""
    kind, dtype, shape = head.get("kind"), head.get("dtype"), head.get("shape")
    data = head.get("data_nbytes", head.get("nbytes", 0))    # the runner's fallback: a program follows
    _ok(None, kind is not None and data <= head.get("nbytes", 0), "a result without a kind, or bytes it lacks")
    _ok(None, (shape is not None and dtype is not None) if kind == "array" else (shape is None and not data),
        "a result whose kind, shape and dtype disagree")
    _ok(None, "orig_dtype" not in head or dtype in ("<f4", "float32"), "an orig_dtype not sent as float32")
    _ok(None, not data or (dtype in WIRE_FLOATS and data == math.prod(shape) * WIRE_FLOATS[dtype]),
        "bytes that are not its shape in a decodable float")


class Frames:
    """Incremental parser of a child's frames, with a bound on every size it accepts."""

    def __init__(self, max_payload: int, sender: str | None = None):
        self.buf = bytearray()
        self.max_payload, self.sender = max_payload, sender

    def feed(self, data: bytes) -> None:
        self.buf += data

    def next(self) -> tuple[dict, bytes] | None:
        if len(self.buf) < 4:
            return None
        (n,) = struct.unpack(">I", self.buf[:4])
        if n == 0 or n > MAX_HEADER:
            raise Garbage(f"a frame header of {n} bytes")
        if len(self.buf) < 4 + n:
            return None
        try:
            head = json.loads(bytes(self.buf[4:4 + n]), parse_constant=lambda name: _ok(name, False, name))
        except (ValueError, RecursionError):
            raise Garbage("a frame header that is not plain JSON") from None
        head = check_frame(head, self.sender)
        size = head.get("nbytes", 0)
        if size > self.max_payload:
            head["oversized"] = True          # judged from its header; the bytes are never read
            del self.buf[:4 + n]
            return head, b""
        if len(self.buf) < 4 + n + size:
            return None
        payload = bytes(self.buf[4 + n:4 + n + size])
        del self.buf[:4 + n + size]
        return head, payload


def encode_frame(header: dict, payload: bytes = b"") -> bytes:
    data = json.dumps(header).encode()
    return struct.pack(">I", len(data)) + data + payload


@dataclass
class Stop:
    """Why a watch ended without a frame."""
    reason: str        # "timeout" | "memory" | "output" | "scratch" | "garbage" | "exited" | "closed"
    detail: str = ""


class Watch:
    """Reads one child: frames from its result pipe, its output counted against the cap, its
    memory (with `more_memory`, what the grader's other child holds) against the limit, its scratch,
    and its own process's liveness (a forked grandchild can keep the pipes open after it died)."""

    def __init__(self, box: Sandbox, child: Child, max_payload: int, output_budget: int,
                 more_memory: Callable[[], int] = lambda: 0, sender: str | None = None):
        self.box, self.child = box, child
        self.frames = Frames(max_payload, sender or _sender(child))
        self.output_budget, self.more_memory = output_budget, more_memory
        self.output_head, self.output_bytes, self.peak = "", 0, 0
        self.tail = bytearray()
        self.open = {child.result_fd, child.output_fd}
        self.next_watch = self.next_scratch = time.monotonic()
        self.abort: Callable[[], bool] | None = None    # another thread ending the grading says so here
        self.exited = False     # its own process ended: what it wrote before is still read first
        self.after_exit = 0     # bytes read since then

    def next(self, deadline: float) -> tuple[dict, bytes] | Stop:
        """The next frame, or why there is none before the deadline."""
        while True:
            if self.abort is not None and self.abort():
                return Stop("closed", "aborted")
            try:
                frame = self.frames.next()
            except ValueError as e:
                self.tail += f"\n[result channel: {e}]".encode()
                return Stop("garbage", str(e))
            if frame is not None:
                return frame
            now = time.monotonic()
            if now >= deadline:
                return Stop("timeout")
            if self.exited:     # frames it sent before it ended come first, then the exit
                got = self.drain()
                self.after_exit += got
                # a forked grandchild writing on is read up to one more frame, never to the deadline
                if got == 0 or self.after_exit > self.frames.max_payload + MAX_HEADER + 4:
                    return Stop("exited")
                if self.output_bytes > self.output_budget:
                    return Stop("output")
                continue
            if now >= self.next_watch:
                stop = self._look(now)
                if stop is not None:
                    return stop
                self.next_watch = now + WATCH_EVERY
                if self.exited:
                    continue
            if not self.open:
                return Stop("closed")
            ready, _, _ = select.select(list(self.open), [], [], max(0.0, min(deadline, self.next_watch) - now))
            for fd in ready:
                data = _read(fd)
                if not data:
                    self.open.discard(fd)
                elif fd == self.child.output_fd:
                    if self._output(data):
                        return Stop("output")
                else:
                    self.frames.feed(data)

    def _output(self, data: bytes) -> bool:
        if len(self.output_head.encode()) < OUTPUT_HEAD:
            self.output_head += data[:OUTPUT_HEAD].decode("utf-8", "replace")
        self.tail = (self.tail + data)[-OUTPUT_HEAD:]
        self.output_bytes += len(data)
        return self.output_bytes > self.output_budget

    def _look(self, now: float) -> Stop | None:
        box = self.box
        # One budget for the runner and the executor together (they share the platform's box): this
        # tree gets what the other child leaves, and a fork swarm is confirmed with PSS against that.
        limit, other = box.limits.memory_mb << 20, self.more_memory()
        used = box.memory_bytes(limit - other)
        self.peak = max(self.peak, used + other)
        # At a cgroup's limit the kernel may reclaim and stall for seconds before an OOM kill:
        # the first time the limit is hit already decides MLE.
        if used + other > limit or box.hit_memory_limit():
            return Stop("memory")
        if box.isolation != "bwrap" and now >= self.next_scratch:
            if box.over_scratch():
                return Stop("scratch")
            self.next_scratch = now + SCRATCH_EVERY
        if self.child.proc.poll() is not None:
            self.exited = True
        return None

    def drain(self, max_reads: int = 64) -> int:
        """What is already in the pipes (the last frames of a child that just exited), bounded: a
        forked grandchild may keep writing. How many bytes it read."""
        got = 0
        for fd in list(self.open):
            for _ in range(max_reads):
                if not select.select([fd], [], [], 0)[0]:
                    break
                data = _read(fd)
                if not data:
                    self.open.discard(fd)
                    break
                got += len(data)
                if fd == self.child.output_fd:
                    self._output(data)
                else:
                    self.frames.feed(data)
        return got

    def wait_exit(self, timeout_s: float) -> int | None:
        """The child's own exit status if it exits within timeout_s, else None."""
        end = time.monotonic() + timeout_s
        while (code := self.child.proc.poll()) is None and time.monotonic() < end:
            time.sleep(0.005)
        return code


def _read(fd: int) -> bytes:
    try:
        return os.read(fd, 1 << 16)
    except OSError:
        return b""


def _sender(child: Child) -> str | None:
    """Which child's table applies, from the script it runs (None: either's keys)."""
    args = child.proc.args if isinstance(child.proc.args, list) and len(child.proc.args) >= 2 else ["", ""]
    return {"runner.py": "runner", "executor.py": "executor"}.get(os.path.basename(str(args[-2])))
