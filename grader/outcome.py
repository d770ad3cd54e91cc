"""The run stage's typed values, shared by the runner's driver (execute.py) and the executor's
(programs.py): what the grader saw of each phase, how a stopped child is described, the sizes both
sides bound."""
from __future__ import annotations

import signal
import time
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from . import BUNDLE_ROOT
from .host.isolation import Isolation
from .host.proctree import pss_bytes

if TYPE_CHECKING:
    from .host.channel import Stop, Watch
    from .host.sandbox import Sandbox

Status = Literal["result", "error", "timeout", "memory", "output", "crash", "garbage", "scratch", "not_run"]
OVERSIZE_FACTOR = 64   # a result over this many times (hidden,) elements is judged by its header alone
MAX_PROGRAM = 4 << 20
RETRY_MARGIN = 1.5     # a time-out is confirmed by one retry with this much more time
MEMORY_HINTS = ("bad_alloc", "out of memory", "Cannot allocate memory", "RESOURCE_EXHAUSTED",
                "MemoryError", "failed to allocate")
CHILD_DIR = BUNDLE_ROOT / "grader" / "child"
# Waits past the total budget (README, "Time limits"). A runner that said `done` gets at most this to
# exit once the budget has run out (measured: it exits within 0.05 s of `done`, 0.2 s on a loaded CPU).
EXIT_GRACE_S = 0.5
# The grader's own cleanup once the budget has run out: killing and reaping the trees, the speculative
# thread's last look, the sandboxes' removal (measured on hostile examples stopped by the budget: see
# tests/test_budget.py). A wait for a child's frame never extends past the budget; only cleanup does.
CLEANUP_GRACE_S = 3.0
# How a watch's stop shows that the grader ended the child for a limit, not the child itself.
GRADER_STOPS = ("timeout", "memory", "output", "scratch")


@dataclass
class Outcome:
    """What happened in one phase (loading, a case) as the grader saw it."""
    status: Status
    time_s: float | None = None
    header: dict | None = None         # the values' header (the executor's, or the runner's plain call)
    data: bytes | None = None
    error: dict | None = None          # a child's description of an exception
    detail: str = ""                   # what the grader itself observed (signal, limit, exit status)
    program: bytes | None = None       # the exported program the runner sent
    observed: dict | None = None       # the runner's evidence (observe.py)
    structure: dict | None = None      # the executor's verified structure of the program
    fallback: str | None = None        # why the function could not be exported (its values are the runner's)
    module_run: Outcome | None = None  # fallback: the executor's run of the exported Module
    stage: str = "runner"              # which child the outcome comes from
    settings: dict | None = None       # the runner's JAX settings after the case (a flip shows here)
    why: str = ""                      # a code for how the grader decided it without a result:
                                       # "total" (budget), "dominated" (by `detail`), "crash_run", "died_after",
                                       # "compile" (the executor's compile limit)
    compile_s: float | None = None     # the executor's compilation of the program (apart from time_s)


@dataclass
class Execution:
    isolation: Isolation
    load: Outcome | None = None        # None: loaded fine (in every child)
    cases: dict[str, Outcome] = field(default_factory=dict)
    settings: dict | None = None       # JAX settings right after loading
    module: dict | None = None         # the runner's look at the Module class (observe.py)
    output_head: str = ""
    output_bytes: int = 0
    children: int = 0
    executors: int = 0
    peak_memory: int = 0
    judge_error: str | None = None
    load_time_s: float | None = None


class SampledPss:
    """What a sandbox's tree holds, for the other child's memory budget: PSS (the libraries both map
    count once between them), looked at every `every` seconds while `live()` says so, else the last
    look stands."""

    def __init__(self, box: Sandbox, live: Callable[[], bool] = lambda: True, every: float = 1.0):
        self.box, self.live, self.every, self._pss, self._at = box, live, every, 0, -1.0

    def sample(self) -> None:
        self._pss, self._at = (pss_bytes(self.box.tree_pids()) if self.box.child else 0), time.monotonic()

    def __call__(self) -> int:
        if self.live() and time.monotonic() - self._at >= self.every:
            self.sample()
        return self._pss


def dominate(pending: list[dict], spec: dict, cases: dict[str, Outcome]) -> None:
    """A confirmed time-out decides the cases at least as large in both H and T."""
    for c in pending:
        if c["id"] not in cases and c["hidden"] >= spec["hidden"] and c["T"] >= spec["T"]:
            cases[c["id"]] = Outcome("timeout", detail=spec["id"], why="dominated")


def stopped(stop: Stop, status: int | None, box: Sandbox, watch: Watch, elapsed: float,
             budget_end: float) -> Outcome:
    """The outcome of a child that was stopped or died, from what the grader itself observed."""
    reason = {"timeout": "timeout", "memory": "memory", "output": "output", "garbage": "garbage",
              "scratch": "scratch"}.get(stop.reason)
    tail = watch.tail.decode("utf-8", "replace")
    # An allocation abort says so on stderr, but so could the submission's own prints: the text
    # counts only for a death by signal (abort, segfault), never for a chosen exit status.
    by_signal = status is not None and (status < 0 or status > 128)
    if reason is None and (box.hit_memory_limit() or (by_signal and any(h in tail for h in MEMORY_HINTS))):
        reason = "memory"
    if reason is None and status in (-signal.SIGXCPU, 128 + signal.SIGXCPU):
        reason = "timeout"
    total = reason == "timeout" and time.monotonic() >= budget_end
    return Outcome(reason or "crash", time_s=elapsed, why="total" if total else "",
                   detail=stop.detail if reason == "garbage" else describe_exit(status))


def grader_stopped(stop: Stop, alive: bool, box: Sandbox) -> bool:
    """Whether the grader ended the child for a limit (its watch's deadline or memory, output or
    scratch limit, while the child still lived), or the kernel did at the memory cgroup's limit, and
    not the child itself. Never read from its exit status, which the submission chooses (a SIGXCPU
    it sends itself, 'bad_alloc' printed before an abort)."""
    return (stop.reason in GRADER_STOPS and alive) or box.hit_memory_limit()


def describe_exit(status: int | None) -> str:
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


