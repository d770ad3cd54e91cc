"""Drive runner children through a submission's cases: frames, deadlines, watchdogs, restarts.

One child loads the submission and runs every case; after a crash, a timeout or a limit it is killed
(whole tree) and a fresh child takes the remaining cases. A failure while loading ends the run.
Everything read from the child is bounded: header sizes, payload sizes, output bytes.
"""
from __future__ import annotations

import math
import os
import select
import signal
import struct
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from . import BUNDLE_ROOT
from .problem import Problem
from .proctree import HAVE_PROC
from .jaxcache import jax_cache_dir
from .sandbox import Isolation, Sandbox
from .text import LINE_LIMIT, MESSAGE_LIMIT, NAME_LIMIT, OUTPUT_LIMIT, safe

Status = Literal["result", "error", "timeout", "memory", "output", "crash", "garbage", "scratch", "not_run"]
MAX_HEADER = 64 * 1024
OVERSIZE_FACTOR = 64   # a result over this many times (hidden,) elements is judged by its header alone
OUTPUT_HEAD = 4096
WATCH_EVERY = 0.05 if HAVE_PROC else 0.5   # without /proc (macOS) each look runs ps(1)
SCRATCH_EVERY = 0.25               # walking folders costs more than reading the memory counter
MEMORY_HINTS = ("bad_alloc", "out of memory", "Cannot allocate memory", "RESOURCE_EXHAUSTED",
                "MemoryError", "failed to allocate")


@dataclass
class Outcome:
    """What happened in one phase (loading, a case, a check) as the grader saw it."""
    status: Status
    time_s: float | None = None
    header: dict | None = None
    data: bytes | None = None
    error: dict | None = None          # the child's description of an exception
    detail: str = ""                   # what the grader itself observed (signal, limit, exit status)
    budget: bool = False               # a timeout because the submission's total time ran out


@dataclass
class Execution:
    isolation: Isolation
    load: Outcome | None = None        # None: loaded fine (in every child)
    cases: dict[str, Outcome] = field(default_factory=dict)
    checks: dict[str, Outcome] = field(default_factory=dict)
    settings: dict | None = None       # JAX settings right after loading
    output_head: str = ""
    output_bytes: int = 0
    children: int = 0
    peak_memory: int = 0
    judge_error: str | None = None
    load_time_s: float | None = None


class _Frames:
    """Incremental parser of the runner's frames, with a bound on every size it accepts."""

    def __init__(self, max_payload: int):
        self.buf = bytearray()
        self.max_payload = max_payload

    def feed(self, data: bytes) -> None:
        self.buf += data

    def next(self) -> tuple[dict, bytes] | None:
        import json
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
        _check_header(head)
        head = sanitize_header(head)
        size = head.get("nbytes", 0)
        if not isinstance(size, int) or size < 0:
            raise ValueError("a negative or non-integer payload size")
        if size > self.max_payload:
            head["oversized"] = True          # judged from its header; the bytes are never read
            del self.buf[:4 + n]
            return head, b""
        if len(self.buf) < 4 + n + size:
            return None
        payload = bytes(self.buf[4 + n:4 + n + size])
        del self.buf[:4 + n + size]
        return head, payload


def _no_constants(name: str):
    raise ValueError(f"{name} in a frame header")


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v >= 0


# Every key a frame header may carry, and what its value must be. The runner writes them, but the
# submission runs in the same process and can forge any frame: nothing it sends may crash the grader.
_SCALAR = (str, int, float, bool, type(None))
HEADER_RULES = {
    "type": lambda v: isinstance(v, str),
    "id": lambda v: isinstance(v, str) and len(v) <= 200,
    **{k: (lambda v: isinstance(v, str)) for k in ("etype", "message", "pytype", "error", "dtype",
                                                   "orig_dtype", "kind")},
    **{k: (lambda v: isinstance(v, bool)) for k in ("passed", "memory", "oversized", "compiled")},
    **{k: (lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 0) for k in ("nbytes", "pid")},
    "time_s": _is_number,
    "shape": lambda v: isinstance(v, list) and len(v) <= 32 and all(
        isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in v),
    "frames": lambda v: isinstance(v, list) and len(v) <= 50 and all(isinstance(f, str) for f in v),
    "settings": lambda v: isinstance(v, dict) and all(isinstance(x, _SCALAR) for x in v.values()),
}


def _check_header(head) -> None:
    if not isinstance(head, dict) or not isinstance(head.get("type"), str):
        raise ValueError("a frame without a type")
    for key, value in head.items():
        rule = HEADER_RULES.get(key)
        if rule is None or not rule(value):
            raise ValueError(f"a frame with an unexpected {key!r}")


# Submission text enters the grader here: every string a header carries is made safe and bounded
# once (grader/text.py), so nothing downstream can fail on it or grow with it.
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


def run(problem: Problem, source: bytes, cases: list[dict], *, isolation: Isolation | None = None,
        checks: list[dict] | None = None, extra_job: dict | None = None,
        warm_cache: Path | None = None) -> Execution:
    """Grade-side driver: run `cases` (inputs only) and the structure checks; never raises for the
    submission's behaviour. A JudgeError escapes only when the sandbox itself cannot work.
    `warm_cache`: trusted code only (the reference, by `warm`): the child writes JAX's compilation
    cache there; every other child reads the bundle's cache and cannot write it."""
    limits = problem.limits
    max_elements = max((c["hidden"] for c in cases), default=1) * OVERSIZE_FACTOR
    job = {"function": problem.function, "module_class": problem.module_class,
           "max_elements": max_elements, "checks": checks or [],
           "jit": os.environ.get("GRADER_JIT", "1") != "0", **(extra_job or {})}
    cache = warm_cache or jax_cache_dir()
    with Sandbox(limits, isolation, cache=cache, secrets_root=problem.root,
                 cache_writable=warm_cache is not None) as box:
        ex = Execution(isolation=box.isolation)
        pending = list(cases)
        pending_checks = list(checks or [])
        budget_end = time.monotonic() + limits.total_time_s
        loaded_before = False
        while pending or pending_checks:
            if time.monotonic() >= budget_end:
                for c in pending:
                    ex.cases[c["id"]] = Outcome("timeout", detail="not run: the total time limit ran out",
                                                budget=True)
                break
            staged = box.stage(source, BUNDLE_ROOT / "grader", {**job, "cases": pending,
                                                                 "checks": pending_checks})
            progress = len(ex.cases) + len(ex.checks)
            last = _run_child(box, staged, ex, budget_end, max_elements * 8)
            if ex.load is not None and loaded_before:
                # The file loaded before, so this is no CE: a fresh child that cannot load again (the
                # budget ran out, or the submission misbehaves on a second load) ends the pending
                # cases and checks with that outcome; the results already judged stand.
                failed, ex.load = ex.load, None
                for c in pending:
                    ex.cases.setdefault(c["id"], failed)
                for c in pending_checks:
                    ex.checks.setdefault(c["id"], failed)
                break
            loaded_before = loaded_before or ex.settings is not None
            if ex.load is not None or ex.judge_error is not None:
                break
            if len(ex.cases) + len(ex.checks) == progress:  # died between phases: never loop forever
                stuck = last or Outcome("garbage", detail="the runner ended without answering")
                if pending:
                    ex.cases[pending[0]["id"]] = stuck
                else:
                    ex.checks[pending_checks[0]["id"]] = stuck
            pending = [c for c in pending if c["id"] not in ex.cases]
            pending_checks = [c for c in pending_checks if c["id"] not in ex.checks]
        if ex.load is not None or ex.judge_error is not None:
            for c in cases:
                ex.cases.setdefault(c["id"], Outcome("not_run", detail="not run"))
        peak = box.memory_peak()
        if peak:
            ex.peak_memory = max(ex.peak_memory, peak)
    ex.output_head = safe(ex.output_head, OUTPUT_LIMIT, multiline=True)
    return ex


def _run_child(box: Sandbox, job: dict, ex: Execution, budget_end: float,
               max_payload: int) -> Outcome | None:
    """Run one child until it is done or stopped; returns how it ended (None: it said done)."""
    limits = box.limits
    child = box.start(job)
    ex.children += 1
    frames = _Frames(max_payload)
    phase, phase_id = "hello", None
    start = time.monotonic()
    deadline = min(start + limits.load_time_s, budget_end)
    out_count, killed_for = 0, None
    open_fds = {child.result_fd, child.output_fd}
    next_watch = next_scratch = phase_start = start
    tail = bytearray()

    def finish(outcome: Outcome) -> None:
        nonlocal phase
        if phase == "hello":
            # A restarted runner still starting when the submission's total time runs out: the
            # remaining cases are TLE (the caller sees the spent budget), not a judge error.
            if not (outcome.status == "timeout" and time.monotonic() >= budget_end):
                ex.judge_error = f"the runner stopped before it started: {outcome.detail or outcome.status}"
        elif phase == "load":
            ex.load = outcome
        elif phase == "case":
            ex.cases[phase_id] = outcome
        elif phase == "check":
            ex.checks[phase_id] = outcome
        phase = "over"

    while phase not in ("over", "done") and open_fds:
        now = time.monotonic()
        if now >= deadline:
            killed_for = "timeout"
            break
        if now >= next_watch:
            used = box.memory_bytes()
            ex.peak_memory = max(ex.peak_memory, used)
            # At a cgroup's limit the kernel may reclaim and stall for seconds before an OOM kill:
            # the first time the limit is hit already decides MLE.
            if used > limits.memory_mb << 20 or box.hit_memory_limit():
                killed_for = "memory"
                break
            if box.isolation != "bwrap" and now >= next_scratch:
                if box.over_scratch():
                    killed_for = "scratch"
                    break
                next_scratch = now + SCRATCH_EVERY
            next_watch = now + WATCH_EVERY
        ready, _, _ = select.select(list(open_fds), [], [], max(0.0, min(deadline, next_watch) - now))
        for fd in ready:
            try:
                data = os.read(fd, 1 << 16)
            except OSError:
                data = b""
            if not data:
                open_fds.discard(fd)
                continue
            if fd == child.output_fd:
                if len(ex.output_head.encode()) < OUTPUT_HEAD:
                    ex.output_head += data[:OUTPUT_HEAD].decode("utf-8", "replace")
                tail = (tail + data)[-OUTPUT_HEAD:]
                out_count += len(data)
                ex.output_bytes += len(data)
                if out_count > limits.output_bytes:
                    killed_for = "output"
                continue
            frames.feed(data)
            try:
                while phase not in ("over", "done") and (frame := frames.next()) is not None:
                    before = phase
                    phase, phase_id, deadline = _on_frame(frame, phase, phase_id, deadline, ex, limits,
                                                          budget_end, finish, phase_start)
                    if phase != before:
                        phase_start = time.monotonic()
            except ValueError as e:
                killed_for = "garbage"
                tail += f"\n[result channel: {e}]".encode()
        if killed_for:
            break

    if phase == "done":
        box.kill()
        return None
    status = box.kill()
    detail = _describe_exit(status)
    tail_text = tail.decode("utf-8", "replace")
    # An allocation abort says so on stderr, but so could the submission's own prints: the text
    # counts only for a death by signal (abort, segfault), never for a chosen exit status.
    by_signal = status is not None and (status < 0 or status > 128)
    if killed_for is None and (box.hit_memory_limit() or
                               (by_signal and any(h in tail_text for h in MEMORY_HINTS))):
        killed_for = "memory"
    if killed_for is None and status in (-signal.SIGXCPU, 128 + signal.SIGXCPU):
        killed_for = "timeout"
    elapsed = time.monotonic() - phase_start     # the phase's own time: what its limit bounds
    budget = killed_for == "timeout" and time.monotonic() >= budget_end
    if budget:
        detail = "the total time limit ran out"
    outcome = Outcome({"timeout": "timeout", "memory": "memory", "output": "output", "garbage": "garbage",
                       "scratch": "scratch", None: "crash"}[killed_for], time_s=elapsed, detail=detail,
                      budget=budget)
    if phase == "hello":
        ex.output_head = ex.output_head or tail_text
    if phase == "load":
        ex.load_time_s = elapsed
    finish(outcome)
    return outcome


def _on_frame(frame, phase, phase_id, deadline, ex: Execution, limits, budget_end, finish, phase_start):
    head, payload = frame
    kind = head["type"]
    now = time.monotonic()
    if phase == "hello" and kind == "ready":
        return "load", None, min(now + limits.load_time_s, budget_end)
    if phase == "load" and kind == "loaded":
        ex.settings = head.get("settings")
        ex.load_time_s = now - phase_start
        return "between", None, min(now + limits.case_time_s, budget_end)
    if phase == "load" and kind == "load_error":
        finish(Outcome("error", error=head))
        return "over", None, deadline
    if phase == "between" and kind == "start" and isinstance(head.get("id"), str):
        is_check = head["id"].startswith("check:")
        return ("check" if is_check else "case"), head["id"].removeprefix("check:"), \
            min(now + limits.case_time_s, budget_end)
    if phase == "case" and kind in ("result", "error") and head.get("id") == phase_id:
        ex.cases[phase_id] = Outcome("result" if kind == "result" else "error",
                                     time_s=now - phase_start, header=head, data=payload,
                                     error=head if kind == "error" else None)
        if head.get("oversized"):        # the channel is out of step now: end this child
            ex.cases[phase_id].detail = "oversized"
            return "over", None, deadline
        return "between", None, min(now + limits.case_time_s, budget_end)
    if phase == "check" and kind == "check" and head.get("id") == phase_id:
        ex.checks[phase_id] = Outcome("result", header=head)
        return "between", None, min(now + limits.case_time_s, budget_end)
    if phase == "between" and kind == "done":
        return "done", None, deadline
    raise ValueError(f"an unexpected {kind!r} frame while {phase} {phase_id or ''}".rstrip())


def _describe_exit(status: int | None) -> str:
    if status is None:
        return "no process"
    if status < 0 or status > 128:
        num = -status if status < 0 else status - 128
        try:
            name = signal.Signals(num).name
        except ValueError:
            name = f"signal {num}"
        return f"killed by {name}"
    return f"exited with status {status}"
