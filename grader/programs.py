"""Drive the executor child: it checks and runs the programs the runner exported, on each case's real
input, and its outputs are what the case is judged on. It never loads submission code.

One executor starts beside the runner (so JAX's import is paid while the submission loads) and runs
the programs one request at a time. A program that crashes, hangs or exhausts memory in it is that
case's RTE, TLE or MLE, and a fresh executor takes the rest; an executor that cannot start at all is
the grader's failure (JE).

Overlap: where the grading has a CPU for each child (cpus_available), a thread runs each program as
soon as the runner sends it, while the runner exports the next case. Those runs are speculative: a
runner's answers count only once it has ended cleanly, so a result is used only for the very program
bytes the final answer carries. A resource verdict comes only from a run alone: a memory limit met
while the runner still worked beside it is run again afterwards, and a time-out counts only as the
first try, which the retry with margin (alone) confirms or not; either stops the speculation.

Compilation is budgeted apart from the run (as Kattis and DOMjudge do): from the request to the
executor's `compiled` frame a program has `compile_time_s` (deserializing, screening and XLA's compile,
a cache read when the cache was warmed with it), and from there to its result `case_time_s`. A
time-out in either is retried once with margin, and a confirmed one decides the larger programs.
"""
from __future__ import annotations

import hashlib
import os
import select
import threading
import time
from queue import Queue
from typing import Callable

from .host.channel import Stop, Watch, encode_frame
from .host.sandbox import Sandbox
from .outcome import (CHILD_DIR, CLEANUP_GRACE_S, MAX_PROGRAM, RETRY_MARGIN, Execution, Outcome, SampledPss,
                      describe_exit, dominate, stopped)


def _key(case_id: str, program: bytes) -> tuple[str, bytes]:
    return case_id, hashlib.sha256(program).digest()


class Executor:
    def __init__(self, box: Sandbox, ex: Execution, max_elements: int, budget_end: float,
                 other_memory: Callable[[], int] = lambda: 0):
        self.box, self.ex = box, ex
        self.max_elements, self.budget_end = max_elements, budget_end
        self.other_memory = other_memory
        self.watch: Watch | None = None
        self.input_fd: int | None = None
        self.ready = False
        # The runner is charged what an idle executor holds (as when the executor only waits for it):
        # sampled until the first program runs, then frozen, whatever the programs leave behind.
        self._ran = False
        self.memory_bytes = SampledPss(box, lambda: not self._ran)
        self._error: BaseException | None = None  # what ended the thread, raised in the caller's
        self.known: dict[tuple[str, bytes], Outcome] = {}
        self._queue: Queue | None = None
        self._thread: threading.Thread | None = None
        self._wanted: set | None = None
        self._alone_at: float | None = None      # from then on the runner is gone: a run is alone
        self.tried_once: set[str] = set()        # cases whose first (speculative) run timed out
        self._off = self._cancelled = False
        self._starter: int | None = None          # the thread that started the current executor

    # -- speculation (a thread, while the runner exports) ----------------------------------------
    def speculate(self) -> None:
        self._queue = Queue()
        self._thread = threading.Thread(target=self._speculate, name="executor", daemon=True)
        self._thread.start()

    def offer(self, case: dict, answer: Outcome) -> None:
        """The runner has just sent this case's answer: run its program now, if speculating."""
        if self._queue is not None and answer.status == "result" and answer.program:
            self._queue.put((case, answer.program))

    def _speculate(self) -> None:
        try:
            self._speculate_all()
        except BaseException as e:  # noqa: BLE001 - a JudgeError, or a bug: the grading's, not lost
            self._error = e

    def _speculate_all(self) -> None:
        while True:
            item = self._queue.get()
            if item is None or self._cancelled:
                return
            case, program = item
            key = _key(case["id"], program)
            if self._off or key in self.known or (self._wanted is not None and key not in self._wanted) \
                    or time.monotonic() >= self.budget_end or len(program) > MAX_PROGRAM:
                continue
            alone = self._alone_at is not None and time.monotonic() >= self._alone_at
            if self.watch is None:
                self.start()
            if not self.ready and not self._await_ready(judge=alone):
                self._off = True          # beside the runner a failed start is no one's fault yet:
                continue                  # run_all starts an executor alone, and judges that one
            got = self._run(case, program, 1.0)
            if self._cancelled:
                return
            if got.status == "timeout" or got.status == "not_run" or (got.status == "memory" and not alone):
                self._off = True          # run_all decides it and what it dominates, alone
                if got.status == "timeout" and got.why != "total":
                    self.tried_once.add(case["id"])     # only a first try: the retry alone decides
            else:
                self.known[key] = got

    def end_speculation(self, order: list[dict]) -> None:
        """The runners are done: the thread finishes the programs that are final answers, skips the
        rest, and stops."""
        if self._thread is None:
            return
        self._wanted = {_key(c["id"], self.ex.cases[c["id"]].program) for c in order if self._needs_run(c["id"])}
        self._alone_at = time.monotonic()
        self._queue.put(None)
        self._joined(self.budget_end + CLEANUP_GRACE_S)
        error, self._error = self._error, None
        if error is not None:
            raise error

    def cancel(self) -> None:
        """Stop the thread at once (the grading ends without the executor's runs); no-op when done.
        Its error, if any, is dropped: what ended the grading early stands."""
        if self._thread is None:
            return
        self._cancelled = True
        self._queue.put(None)
        self._joined()                # its watch and its writes stop within one look (Watch.abort)
        self._cancelled = False
        self._error = None

    def _joined(self, by: float | None = None) -> None:
        """Join the thread; one still at work at `by` (its runs end with the budget: a safety net)
        is cancelled, and stops within one look."""
        self._thread.join(None if by is None else max(0.0, by - time.monotonic()))
        if self._thread.is_alive():
            self._cancelled = True
            self._thread.join()
            self._cancelled = False
        self._thread = None
        # A child's PR_SET_PDEATHSIG fires when the *thread* that started it ends: an executor the
        # thread started is about to be killed, so it is stopped now and run_all starts its own.
        if self.watch is not None and self._starter != threading.get_ident():
            self._stop()

    def start(self) -> None:
        staged = self.box.stage(None, CHILD_DIR, {"role": "executor"}, script="executor.py")
        read_end, self.input_fd = os.pipe()
        try:
            child = self.box.start(staged, stdin_fd=read_end, script="executor.py")
        finally:
            os.close(read_end)
        self.ex.executors += 1
        self._starter = threading.get_ident()
        self.watch = Watch(self.box, child, self.max_elements * 8 + (1 << 16), self.box.limits.output_bytes,
                           self.other_memory)
        self.watch.abort = lambda: self._cancelled
        self.ready = False

    def _await_ready(self, judge: bool = True) -> bool:
        """Wait for the executor's `ready`. A failure is the grader's (JE) only when `judge`: the
        executor started alone, where nothing of the submission's can have disturbed it."""
        got = self.watch.next(min(time.monotonic() + self.box.limits.load_time_s, self.budget_end))
        if isinstance(got, tuple) and got[0]["type"] == "ready":
            self.ready = True
            if not self._ran:
                self.memory_bytes.sample()
            return True
        status = self._stop()
        if judge and not self._cancelled and \
                not (isinstance(got, Stop) and got.reason == "timeout" and time.monotonic() >= self.budget_end):
            what = got.reason if isinstance(got, Stop) else f"a {got[0]['type']!r} frame"
            self.ex.judge_error = f"the executor did not start: {what} ({describe_exit(status)})"
        return False

    def _stop(self) -> int | None:
        status = self.box.kill()
        if self.input_fd is not None:
            os.close(self.input_fd)
            self.input_fd = None
        if self.watch is not None:
            self.ex.peak_memory = max(self.ex.peak_memory, self.watch.peak)
        self.watch = None
        return status

    def close(self) -> None:
        if self.watch is not None:
            self._stop()

    def run_all(self, order: list[dict]) -> None:
        """Run every case whose runner answer carries a program, smallest first (the runner's order);
        a program the thread already ran for that answer keeps its result."""
        retried: set[str] = set(self.tried_once)
        queue = [c for c in order if self._needs_run(c["id"])]
        while queue:
            case = queue.pop(0)
            out = self.ex.cases[case["id"]]
            known = self.known.pop(_key(case["id"], out.program), None)
            if known is not None:         # in order, so a confirmed time-out dominates as it would alone
                self._decide(case, known)
                continue
            if time.monotonic() >= self.budget_end:
                self._decide(case, Outcome("timeout", why="total", stage="executor"))
                continue
            if self.watch is None:
                self.start()
            if not self.ready and not self._await_ready():
                if self.ex.judge_error is None:       # the budget ran out while it started
                    self._decide(case, Outcome("timeout", why="total", stage="executor"))
                    continue
                return
            got = self._run(case, out.program, RETRY_MARGIN if case["id"] in retried else 1.0)
            if got.status == "timeout" and got.why != "total" and case["id"] not in retried:
                retried.add(case["id"])               # confirm once, with margin, before it decides others
                queue.insert(0, case)
                continue
            self._decide(case, got)
            if got.status == "timeout" and got.why != "total":
                decided: dict[str, Outcome] = {}
                dominate(queue, case, decided)     # a confirmed time-out decides the larger programs
                for cid, outcome in decided.items():
                    self._decide({"id": cid}, outcome)
                queue = [c for c in queue if c["id"] not in decided]

    def _needs_run(self, case_id: str) -> bool:
        out = self.ex.cases.get(case_id)
        return out is not None and out.status == "result" and bool(out.program)

    def _decide(self, case: dict, got: Outcome) -> None:
        """Put the executor's answer where the case is judged: the case itself (export path), or
        beside the runner's values (fallback: the Module's run, for the check points)."""
        prior = self.ex.cases[case["id"]]
        got.stage = "executor"
        if prior.fallback:
            prior.module_run = got
        else:
            got.observed, got.program, got.settings = prior.observed, prior.program, prior.settings
            if got.time_s is not None and prior.time_s is not None:
                got.time_s += prior.time_s          # the case's time: its export, then its run
            self.ex.cases[case["id"]] = got

    def _run(self, case: dict, program: bytes, margin: float) -> Outcome:
        """Compile and run one program: `compile_time_s` and `case_time_s`, each times `margin`."""
        if len(program) > MAX_PROGRAM:
            return Outcome("error", error={"etype": "UnfitProgram", "message": "too_large"}, stage="executor")
        request = encode_frame({"type": "run", "id": case["id"], "hidden": case["hidden"], "T": case["T"],
                                "x": case["x"], "max_elements": self.max_elements, "nbytes": len(program)},
                               program)
        self._ran = True
        limits, since = self.box.limits, time.monotonic()   # the phase's start: request, then `compiled`
        deadline = min(since + limits.compile_time_s * margin, self.budget_end)
        if not self._send(request, deadline):
            return self._failed(Stop("closed"), since, compiling=True)
        phase, compile_s = "sent", None
        while True:
            got = self.watch.next(deadline)
            if isinstance(got, Stop):
                return self._failed(got, since, compiling=phase != "running")
            head, payload = got
            kind, now, ours = head["type"], time.monotonic(), head.get("id") == case["id"]
            if ours and phase == "sent" and kind == "start":
                phase = "compiling"
                continue
            if ours and phase == "compiling" and kind == "compiled":
                phase, compile_s, since = "running", now - since, now
                deadline = min(now + limits.case_time_s * margin, self.budget_end)
                continue
            if ours and phase != "sent" and kind in ("result", "error"):   # a screen error or a shape-only
                if kind == "error":                                        # result comes before any compile
                    return Outcome("error", now - since, header=head, error=head, compile_s=compile_s)
                if head.get("oversized"):
                    self._stop()
                return Outcome("result", now - since, header=head, data=payload, structure=head.get("structure"),
                               compile_s=compile_s)
            self._stop()       # the executor never sends anything else: its channel is broken
            self.ex.judge_error = f"the executor sent an unexpected {kind!r} frame"
            return Outcome("not_run", detail="judge error")

    def _send(self, data: bytes, deadline: float) -> bool:
        view = memoryview(data)
        while view:
            if time.monotonic() >= deadline or self._cancelled:
                return False
            _, ready, _ = select.select([], [self.input_fd], [], min(0.05, max(0.0, deadline - time.monotonic())))
            if ready:
                try:
                    view = view[os.write(self.input_fd, view[:1 << 16]):]
                except OSError:
                    return False
        return True

    def _failed(self, stop: Stop, start: float, compiling: bool = False) -> Outcome:
        """The executor died or was stopped on this program: the case's outcome, and a fresh one next."""
        watch, elapsed = self.watch, time.monotonic() - start   # the grader's cleanup is not the case's
        status = self._stop()
        out = stopped(stop, status, self.box, watch, elapsed, self.budget_end)
        out.stage = "executor"
        if out.status == "timeout" and not out.why and compiling:
            out.why = "compile"           # its compile limit, not the run's
        return out
