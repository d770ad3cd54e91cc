"""Drive the executor child: it checks and runs the programs the runner exported, on each case's real
input, and its outputs are what the case is judged on. It never loads submission code.

One executor starts beside the runner (so JAX's import is paid while the submission loads) and runs
the programs one request at a time. A program that crashes, hangs or exhausts memory in it is that
case's RTE, TLE or MLE, and a fresh executor takes the rest; an executor that cannot start at all is
the grader's failure (JE).
"""
from __future__ import annotations

import os
import select
import time

from .channel import Stop, Watch, encode_frame
from .execute import CHILD_DIR, MAX_PROGRAM, RETRY_MARGIN, Execution, Outcome, _describe_exit, _stopped, dominate
from .proctree import pss_bytes
from .sandbox import Sandbox


class Executor:
    def __init__(self, box: Sandbox, ex: Execution, max_elements: int, budget_end: float):
        self.box, self.ex = box, ex
        self.max_elements, self.budget_end = max_elements, budget_end
        self.watch: Watch | None = None
        self.input_fd: int | None = None
        self.ready = False
        self._pss, self._pss_at = 0, -1.0

    def memory_bytes(self) -> int:
        """What the executor holds while the runner works (PSS: the libraries both map count once
        between them), looked at once a second: it idles then."""
        if self.watch is None:
            return 0
        now = time.monotonic()
        if now - self._pss_at >= 1.0:
            self._pss, self._pss_at = pss_bytes(self.box.tree_pids()), now
        return self._pss

    def start(self) -> None:
        staged = self.box.stage(None, CHILD_DIR, {"role": "executor"}, script="executor.py")
        read_end, self.input_fd = os.pipe()
        try:
            child = self.box.start(staged, stdin_fd=read_end, script="executor.py")
        finally:
            os.close(read_end)
        self.ex.executors += 1
        self.watch = Watch(self.box, child, self.max_elements * 8 + (1 << 16), self.box.limits.output_bytes)
        self.ready = False

    def _await_ready(self) -> bool:
        got = self.watch.next(min(time.monotonic() + self.box.limits.load_time_s, self.budget_end))
        if isinstance(got, tuple) and got[0]["type"] == "ready":
            self.ready = True
            return True
        if not (isinstance(got, Stop) and got.reason == "timeout" and time.monotonic() >= self.budget_end):
            what = got.reason if isinstance(got, Stop) else f"a {got[0]['type']!r} frame"
            status = self._stop()
            self.ex.judge_error = f"the executor did not start: {what} ({_describe_exit(status)})"
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
        """Run every case whose runner answer carries a program, smallest first (the runner's order)."""
        retried: set[str] = set()
        queue = [c for c in order if self._needs_run(c["id"])]
        while queue:
            case = queue.pop(0)
            out = self.ex.cases[case["id"]]
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
            limit = self.box.limits.case_time_s * (RETRY_MARGIN if case["id"] in retried else 1.0)
            got = self._run(case, out.program, limit)
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

    def _run(self, case: dict, program: bytes, limit: float) -> Outcome:
        if len(program) > MAX_PROGRAM:
            return Outcome("error", error={"etype": "UnfitProgram", "message": "too_large"}, stage="executor")
        request = encode_frame({"type": "run", "id": case["id"], "hidden": case["hidden"], "T": case["T"],
                                "x": case["x"], "max_elements": self.max_elements, "nbytes": len(program)},
                               program)
        start = time.monotonic()
        deadline = min(start + limit, self.budget_end)
        if not self._send(request, deadline):
            return self._failed(Stop("closed"), start)
        phase = "sent"
        while True:
            got = self.watch.next(deadline)
            if isinstance(got, Stop):
                return self._failed(got, start)
            head, payload = got
            if phase == "sent" and head["type"] == "start" and head.get("id") == case["id"]:
                phase = "running"
                continue
            if phase == "running" and head["type"] in ("result", "error") and head.get("id") == case["id"]:
                elapsed = time.monotonic() - start
                if head["type"] == "error":
                    return Outcome("error", elapsed, header=head, error=head)
                if head.get("oversized"):
                    self._stop()
                return Outcome("result", elapsed, header=head, data=payload, structure=head.get("structure"))
            self._stop()       # the executor never sends anything else: its channel is broken
            self.ex.judge_error = f"the executor sent an unexpected {head['type']!r} frame"
            return Outcome("not_run", detail="judge error")

    def _send(self, data: bytes, deadline: float) -> bool:
        view = memoryview(data)
        while view:
            if time.monotonic() >= deadline:
                return False
            _, ready, _ = select.select([], [self.input_fd], [], max(0.0, deadline - time.monotonic()))
            if ready:
                try:
                    view = view[os.write(self.input_fd, view[:1 << 16]):]
                except OSError:
                    return False
        return True

    def _failed(self, stop: Stop, start: float) -> Outcome:
        """The executor died or was stopped on this program: the case's outcome, and a fresh one next."""
        watch = self.watch
        status = self._stop()
        out = _stopped(stop, status, self.box, watch, time.monotonic() - start, self.budget_end)
        out.stage = "executor"
        return out
