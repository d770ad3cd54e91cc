"""The grader's end of a sandboxed child: bounded frames from its result pipe, its output counted
with a cap, and a watch that stops at a deadline, a limit, or the death of the child's own process.

Used by execute.py (the runner) and programs.py (the executor). Everything read from a child is
bounded: header sizes, payload sizes, output bytes. Nothing a child sends can crash the grader.
"""
from __future__ import annotations

import json
import math
import os
import select
import struct
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


def _no_constants(name: str):
    raise ValueError(f"{name} in a frame header")


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v >= 0


def _small_tree(v, depth: int = 0) -> bool:
    """A plain JSON value of bounded depth (the header's size is bounded already)."""
    if isinstance(v, dict):
        return depth < 4 and all(isinstance(k, str) and _small_tree(x, depth + 1) for k, x in v.items())
    if isinstance(v, list):
        return depth < 4 and all(_small_tree(x, depth + 1) for x in v)
    return isinstance(v, (str, int, float, bool, type(None))) and \
        not (isinstance(v, float) and not math.isfinite(v))


# Every key a frame header may carry, and what its value must be. The runner writes them, but the
# submission runs in the same process and can forge any frame: nothing it sends may crash the grader.
_SCALAR = (str, int, float, bool, type(None))
HEADER_RULES = {
    "type": lambda v: isinstance(v, str),
    "id": lambda v: isinstance(v, str) and len(v) <= 200,
    **{k: (lambda v: isinstance(v, str)) for k in ("etype", "message", "pytype", "error", "dtype",
                                                   "orig_dtype", "kind", "fallback", "stage")},
    **{k: (lambda v: isinstance(v, bool)) for k in ("passed", "memory", "oversized")},
    **{k: (lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 0)
       for k in ("nbytes", "pid", "data_nbytes")},
    "time_s": _is_number,
    "run_s": _is_number,
    "shape": lambda v: isinstance(v, list) and len(v) <= 32 and all(
        isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in v),
    "frames": lambda v: isinstance(v, list) and len(v) <= 50 and all(isinstance(f, str) for f in v),
    "settings": lambda v: isinstance(v, dict) and all(isinstance(x, _SCALAR) for x in v.values()),
    **{k: (lambda v: isinstance(v, dict) and _small_tree(v)) for k in ("observed", "structure", "module")},
}


def check_header(head) -> None:
    if not isinstance(head, dict) or not isinstance(head.get("type"), str):
        raise ValueError("a frame without a type")
    for key, value in head.items():
        rule = HEADER_RULES.get(key)
        if rule is None or not rule(value):
            raise ValueError(f"a frame with an unexpected {key!r}")


# Every string a child sends is made safe and bounded here, once, where it enters the grader: valid
# UTF-8, no control characters (but newlines in messages), clipped with one marker.
TEXT_BOUNDS = {"message": (MESSAGE_LIMIT, True), "error": (LINE_LIMIT, False),
               "frames": (LINE_LIMIT, False)}


def sanitize_header(head: dict) -> dict:
    def one(key: str, value):
        limit, multiline = TEXT_BOUNDS.get(key, (NAME_LIMIT, False))
        if isinstance(value, str):
            return safe(value, limit, multiline)
        if isinstance(value, list):
            return [one(key, v) for v in value]
        if isinstance(value, dict):
            return {safe(k, NAME_LIMIT): one(key, v) for k, v in value.items()}
        return value
    return {key: one(key, value) for key, value in head.items()}


class Frames:
    """Incremental parser of a child's frames, with a bound on every size it accepts."""

    def __init__(self, max_payload: int):
        self.buf = bytearray()
        self.max_payload = max_payload

    def feed(self, data: bytes) -> None:
        self.buf += data

    def next(self) -> tuple[dict, bytes] | None:
        if len(self.buf) < 4:
            return None
        (n,) = struct.unpack(">I", self.buf[:4])
        if n == 0 or n > MAX_HEADER:
            raise ValueError(f"a frame header of {n} bytes")
        if len(self.buf) < 4 + n:
            return None
        try:
            head = json.loads(bytes(self.buf[4:4 + n]), parse_constant=_no_constants)
        except (ValueError, RecursionError):
            raise ValueError("a frame header that is not plain JSON") from None
        check_header(head)
        head = sanitize_header(head)
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
                 more_memory: Callable[[], int] = lambda: 0):
        self.box, self.child = box, child
        self.frames = Frames(max_payload)
        self.output_budget, self.more_memory = output_budget, more_memory
        self.output_head, self.output_bytes, self.peak = "", 0, 0
        self.tail = bytearray()
        self.open = {child.result_fd, child.output_fd}
        self.next_watch = self.next_scratch = time.monotonic()
        self.abort: Callable[[], bool] | None = None    # another thread ending the grading says so here

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
            if now >= self.next_watch:
                stop = self._look(now)
                if stop is not None:
                    return stop
                self.next_watch = now + WATCH_EVERY
            if not self.open:
                return Stop("closed")
            ready, _, _ = select.select(list(self.open), [], [], max(0.0, min(deadline, self.next_watch) - now))
            for fd in ready:
                try:
                    data = os.read(fd, 1 << 16)
                except OSError:
                    data = b""
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
            self.drain()
            return Stop("exited")
        return None

    def drain(self, max_reads: int = 64) -> None:
        """What is already in the pipes (the last frames of a child that just exited), bounded: a
        forked grandchild may keep writing."""
        for fd in list(self.open):
            for _ in range(max_reads):
                if not select.select([fd], [], [], 0)[0]:
                    break
                try:
                    data = os.read(fd, 1 << 16)
                except OSError:
                    data = b""
                if not data:
                    self.open.discard(fd)
                    break
                if fd == self.child.output_fd:
                    self._output(data)
                else:
                    self.frames.feed(data)

    def wait_exit(self, timeout_s: float) -> int | None:
        """The child's own exit status if it exits within timeout_s, else None."""
        end = time.monotonic() + timeout_s
        while time.monotonic() < end:
            code = self.child.proc.poll()
            if code is not None:
                return code
            time.sleep(0.005)
        return None
