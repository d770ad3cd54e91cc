"""Drive a submission's cases through the runner child, then its programs through the executor.

The runner loads the submission once and exports every case's program; after a crash, a timeout or
a limit its tree is killed and a fresh runner takes the remaining cases. A runner the grader stopped
(a time limit, the total budget, a memory, output or scratch limit) keeps the answers it sent before;
one that dies on its own (a crash, a signal, an exit without `done`, garbage frames), whatever it sent
before (a forked grandchild can write frames), has its in-progress case judged RTE and its other
answers asked again of a fresh runner. The executor (programs.py) starts beside it, imports JAX while
the runner loads, and runs each program: as it arrives where the grading has two CPUs (speculatively:
it counts only for a runner that ends cleanly or that the grader stopped), else after the runner.

Time (README, "Time limits"): a per-case limit for each child, and one total budget for the whole
submission; every wait (a runner's exit after `done`, the executor's last programs, the speculative
thread) ends by the budget plus CLEANUP_GRACE_S, so any submission gets its verdict within
`total_time_s` plus the grader's own cleanup.
Cases run smallest first; a case whose time-out is confirmed by one retry with margin decides the
cases that dominate it (H and T both at least as large) without waiting, and after a few runners in
a row died on their first case the remaining cases are not run.
"""
from __future__ import annotations

import time
from pathlib import Path

from .host.channel import Stop, Watch
from .host.isolation import cpus_available
from .host.jaxcache import jax_cache_dir
from .host.sandbox import Isolation, Sandbox
from .outcome import (CHILD_DIR, EXIT_GRACE_S, MAX_PROGRAM, OVERSIZE_FACTOR, RETRY_MARGIN, Execution, Outcome,
                      SampledPss, describe_exit, dominate, grader_stopped, stopped)
from .problem import Problem
from .programs import Executor
from .text import OUTPUT_LIMIT, safe

CRASH_RUN = 3          # runners in a row that die on their first case end the run
EXIT_WAIT_S = 5.0      # a runner that said done must exit (status 0) within this, or by the budget's end
                       # plus EXIT_GRACE_S, whichever comes first
EXECUTOR_RESERVE_S = 1.0   # on one CPU, the budget each answered program keeps for the executor after the
                           # runners (measured: a cold compile and run, 0.65-0.9 s on an idle CPU)


def run(problem: Problem, source: bytes, cases: list[dict], *, isolation: Isolation | None = None,
        warm_cache: Path | None = None, extra_job: dict | None = None) -> Execution:
    """Grade-side driver: run `cases` (inputs only); never raises for the submission's behaviour. A
    JudgeError escapes only when a sandbox itself cannot work. `warm_cache`: trusted code only (the
    reference, by `warm`): the executor writes JAX's compilation cache there. `extra_job`: keys for
    the runner's job (`function`: another entry point, for validate's probes)."""
    limits = problem.limits
    budget_end = time.monotonic() + limits.total_time_s
    max_elements = max((c["hidden"] for c in cases), default=1) * OVERSIZE_FACTOR
    order = sorted(cases, key=lambda c: (c["hidden"] * max(c["T"], 1), c["hidden"], c["T"]))
    with Sandbox(limits, isolation, secrets_root=problem.root) as rbox, \
            Sandbox(limits, rbox.isolation, cache=warm_cache or jax_cache_dir(), secrets_root=problem.root,
                    cache_writable=warm_cache is not None) as ebox:
        ex = Execution(isolation=rbox.isolation)
        executor = Executor(ebox, ex, max_elements, budget_end, other_memory=SampledPss(rbox, every=0.25))
        executor.start()
        speculating = cpus_available() >= 2
        if speculating:                  # a CPU for each child: programs run while the runner exports
            executor.speculate()
        reserve = 0.0 if speculating else EXECUTOR_RESERVE_S

        def runners_end(answered: dict[str, Outcome]) -> float:
            """The runners' share of the budget: on one CPU the executor runs only after them, so each
            program answered so far keeps `reserve` of it (at most half the budget) for its run."""
            waiting = sum(o.status == "result" and bool(o.program) for o in (*ex.cases.values(), *answered.values()))
            return budget_end - min(reserve * waiting, limits.total_time_s / 2)
        job = {"function": problem.function, "module_class": problem.module_class,
               "max_elements": max_elements, **(extra_job or {})}
        try:
            _runners(rbox, source, job, order, ex, runners_end, max_elements, executor.memory_bytes,
                     executor.offer)
            ex.peak_memory = max(ex.peak_memory, rbox.memory_peak() or 0)
            rbox.close()
            if ex.load is None and ex.judge_error is None:
                executor.end_speculation(order)
                executor.run_all(order)
        finally:
            try:
                executor.cancel()        # the thread, if anything above ended early
            finally:
                executor.close()
        ex.peak_memory = max(ex.peak_memory, ebox.memory_peak() or 0)
        if ex.load is not None or ex.judge_error is not None:
            for c in cases:
                ex.cases.setdefault(c["id"], Outcome("not_run", detail="not run"))
    ex.output_head = safe(ex.output_head, OUTPUT_LIMIT, multiline=True)
    return ex


def _runners(box: Sandbox, source: bytes, job: dict, order: list[dict], ex: Execution, end, max_elements: int,
             more_memory, offer) -> None:
    """Runners until every case has an answer, by `end(answers of the current runner)`, the runners'
    share of the budget; `offer(case, outcome)` hears each answer as it comes (the executor may run
    its program at once; it counts only if the grader stopped the runner or it ended cleanly)."""
    pending = list(order)
    loaded_before, crash_run, retried = False, 0, set()
    while pending:
        if time.monotonic() >= end({}):
            for c in pending:
                ex.cases[c["id"]] = Outcome("timeout", why="total")
            return
        staged = box.stage(source, CHILD_DIR, {**job, "cases": pending})
        answered: dict[str, Outcome] = {}
        ended = _run_child(box, staged, ex, end, max_elements * 8 + MAX_PROGRAM, answered, more_memory,
                           lambda cid, outcome: offer(next(c for c in pending if c["id"] == cid), outcome))
        if ex.judge_error is not None:
            return
        if ex.load is not None:
            if not loaded_before:
                return                    # CE (or a load limit): the whole run ends
            # The file loaded before, so this is no CE: a fresh runner that cannot load again ends
            # the pending cases with that outcome; the results already judged stand.
            failed, ex.load = ex.load, None
            for c in pending:
                ex.cases.setdefault(c["id"], failed)
            return
        loaded_before = True
        if ended is None:                 # a clean end: every answer stands
            ex.cases.update(answered)
            pending = [c for c in pending if c["id"] not in ex.cases]
            continue
        case_id, outcome, kept = ended
        if kept:                          # the grader stopped it: what it answered before stands
            ex.cases.update(answered)
            if case_id is None:           # stopped between cases: the next case it had not answered
                case_id = next((c["id"] for c in pending if c["id"] not in answered), None)
            if case_id is None:           # every case answered, stopped before its `done`
                pending = []
                continue
        elif case_id is None and answered:  # died between cases: the first answer it gave takes the blame
            case_id = next(iter(answered))
            outcome = Outcome("crash", outcome.time_s, detail=outcome.detail, why="died_after")
        elif case_id is None:             # died before its first case: that case's outcome
            case_id = pending[0]["id"]
        spec = next(c for c in pending if c["id"] == case_id)
        if outcome.status == "timeout" and outcome.why != "total" and case_id not in retried:
            retried.add(case_id)          # confirm a time-out once before it decides other cases
            job = {**job, "retry": case_id}
            pending = [spec] + [c for c in pending if c["id"] != case_id and c["id"] not in ex.cases]
            continue
        ex.cases[case_id] = outcome
        # Runners that die on their first case, or after answering (a fork wrote their frames), in a row.
        died = outcome.status == "crash" and (not answered or outcome.why == "died_after")
        crash_run = crash_run + 1 if died else 0
        if outcome.status == "timeout" and outcome.why != "total":
            dominate(pending, spec, ex.cases)
        if crash_run >= CRASH_RUN:
            for c in pending:
                ex.cases.setdefault(c["id"], Outcome("not_run", detail=str(CRASH_RUN), why="crash_run"))
        pending = [c for c in pending if c["id"] not in ex.cases]


def _run_child(box: Sandbox, job: dict, ex: Execution, end, max_payload: int,
               answered: dict[str, Outcome], more_memory, offer) -> tuple[str | None, Outcome, bool] | None:
    """Run one runner until it is done or stopped. None: it ended cleanly after `done` (its answers
    are in `answered`); else (the case it was in, or None between cases; how it ended; whether the
    grader stopped it, so that its answers stand)."""
    limits = box.limits
    child = box.start(job)
    ex.children += 1
    watch = Watch(box, child, max_payload, limits.output_bytes, more_memory)
    phase, case_id = "hello", None
    start = phase_start = time.monotonic()

    def by(t: float) -> float:                 # the runners' share of the budget ends every wait
        return min(t, end(answered))
    deadline = by(start + limits.load_time_s)
    wanted = {c["id"] for c in job["cases"]}

    def case_limit(cid: str) -> float:
        return limits.case_time_s * (RETRY_MARGIN if job.get("retry") == cid else 1.0)
    stop: Stop | None = None
    while stop is None:
        got = watch.next(deadline)
        if isinstance(got, Stop):
            stop = got
            break
        head, payload = got
        kind, now = head["type"], time.monotonic()
        if phase == "hello" and kind == "ready":
            phase, phase_start, deadline = "load", now, by(now + limits.load_time_s)
        elif phase == "load" and kind == "loaded":
            ex.settings, ex.module = head.get("settings"), head.get("module")
            ex.load_time_s = now - phase_start
            phase, deadline = "between", by(now + limits.case_time_s)
        elif phase == "load" and kind == "load_error":
            ex.load = Outcome("error", error=head)
            _end(box, watch, ex)
            return None
        elif phase == "between" and kind == "start" and head.get("id") in wanted and head["id"] not in answered:
            phase, case_id, phase_start = "case", head["id"], now
            deadline = by(now + case_limit(case_id))
        elif phase == "case" and kind in ("program", "result", "error") and head.get("id") == case_id:
            answered[case_id] = _answer(head, payload, now - phase_start)
            if head.get("oversized"):      # the channel is out of step now: end this child
                stop = Stop("garbage", "oversized")
                break
            offer(case_id, answered[case_id])
            phase, case_id = "between", None
            deadline = by(now + limits.case_time_s)   # to the next case's start
        elif phase == "between" and kind == "done":
            code = watch.wait_exit(min(EXIT_WAIT_S, max(0.0, end(answered) - time.monotonic()) + EXIT_GRACE_S))
            _end(box, watch, ex)
            if code == 0:
                return None
            detail = describe_exit(code) if code is not None else "it did not exit after finishing"
            return None, Outcome("crash", detail=detail), False
        else:
            stop = Stop("garbage", f"an unexpected {kind!r} frame while {phase} {case_id or ''}".rstrip())
    elapsed = time.monotonic() - phase_start     # until the grader stopped it: cleanup is the grader's
    alive = child.proc.poll() is None            # read before the kill: had it ended on its own?
    status = _end(box, watch, ex)
    outcome = stopped(stop, status, box, watch, elapsed, end(answered))
    kept = grader_stopped(stop, alive, box)
    if phase == "hello":
        if not (outcome.status == "timeout" and time.monotonic() >= end(answered)):
            ex.judge_error = f"the runner stopped before it started: {outcome.detail or outcome.status}"
        else:
            ex.load = Outcome("timeout", why="total")
        return None
    if phase == "load":
        ex.load, ex.load_time_s = outcome, outcome.time_s
        return None
    return (case_id if phase == "case" else None), outcome, kept


def _answer(head: dict, payload: bytes, elapsed: float) -> Outcome:
    kind = head["type"]
    if kind == "error":
        return Outcome("error", elapsed, header=head, error=head)
    if kind == "program":
        return Outcome("result", elapsed, program=payload, observed=head.get("observed"),
                       settings=head.get("settings"))
    split = min(head.get("data_nbytes", 0), len(payload))
    return Outcome("result", elapsed, header=head, data=payload[:split], program=payload[split:] or None,
                   observed=head.get("observed"), fallback=head.get("fallback") or "unknown",
                   settings=head.get("settings"))


def _end(box: Sandbox, watch: Watch, ex: Execution) -> int | None:
    status = box.kill()
    ex.output_bytes += watch.output_bytes
    if len(ex.output_head.encode()) < 4096:
        ex.output_head += watch.output_head
    ex.peak_memory = max(ex.peak_memory, watch.peak)
    return status


