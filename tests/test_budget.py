"""Budgets as judges keep them (README, "Time limits"): a runner the grader stopped keeps the answers
it sent before; every wait ends with the total budget (plus the grader's own cleanup); compiling a
program has its own limit, apart from the run's."""
from __future__ import annotations

import time

import pytest

from conftest import SUBMISSIONS, make_test_bundle, one_case_bundle
from grader import BUNDLE_ROOT, execute, programs
from grader.execute import run
from grader.grade import grade
from grader.host.channel import Stop
from grader.judge.cases import job_cases, load_golden
from grader.outcome import CLEANUP_GRACE_S, RETRY_MARGIN, Execution, Outcome
from grader.problem import load_problem

START_SLACK_S = 3.0      # the grader's own start (sandboxes, golden data) and its verdict, besides cleanup

# Right values from a plain call (x.tolist() on a tracer: not exportable, so no executor run decides them) for
# the two smallest public cases, then a sleep that never ends.
SLEEPER = (BUNDLE_ROOT / "reference" / "solution.py").read_bytes() + b'''

import numpy as _np
_exported = lax_scan_in_module


def lax_scan_in_module(seed, x, hidden, T):
    if hidden >= 12:
        import time
        time.sleep(10 ** 6)
    return _exported(seed, _np.array(x.tolist(), dtype=_np.float32), hidden, T)   # tolist(): no export
'''

# The reference's exported programs for the two smallest public cases, then a sleep while tracing.
SLEEPING_EXPORTER = (BUNDLE_ROOT / "reference" / "solution.py").read_bytes() + b'''

_exported = lax_scan_in_module


def lax_scan_in_module(seed, x, hidden, T):
    if hidden >= 12:
        import time
        time.sleep(10 ** 6)
    return _exported(seed, x, hidden, T)
'''

# Every answer given and `done` sent, then the runner's own exit replaced by a sleep.
HANGS_AFTER_DONE = (BUNDLE_ROOT / "reference" / "solution.py").read_bytes() + b'''

import os as _os
import time as _time
_os._exit = lambda code: _time.sleep(10 ** 6)
'''

# A program XLA needs minutes to compile (a Python loop of 3000 steps, unrolled by jit), exported
# within a second; its run would take microseconds.
COMPILE_BOMB = b'''
import jax
import jax.numpy as jnp


@jax.jit
def _many(x):
    W = jax.random.normal(jax.random.PRNGKey(1), (x.shape[0], x.shape[0]))
    c = jnp.tanh(x @ W)
    for _ in range(3000):
        c = jnp.tanh(c @ W)
    return c


def lax_scan_in_module(seed, x, hidden, T):
    return _many(x)
'''


def _graded(tmp_path, source: bytes, limits: dict, monkeypatch, cpus: int = 1, one_case: bool = False):
    bundle = (one_case_bundle if one_case else make_test_bundle)(tmp_path / "bundle", **limits)
    (tmp_path / "solution.py").write_bytes(source)
    monkeypatch.setattr(execute, "cpus_available", lambda: cpus)
    runs: list[Execution] = []
    real_run = execute.run

    def spy(*a, **k):
        runs.append(real_run(*a, **k))
        return runs[-1]
    import grader.grade
    monkeypatch.setattr(grader.grade, "run", spy)
    t0 = time.monotonic()
    v = grade(load_problem(bundle), tmp_path / "solution.py", "public")
    return v, runs[0], time.monotonic() - t0


def _cases(v) -> list[tuple[str, str, str]]:
    return [(c.id, c.verdict, c.reason.value) for c in v.cases]


@pytest.mark.parametrize("cpus", [1, 2])
def test_a_runner_stopped_by_the_budget_keeps_its_answers(tmp_path, monkeypatch, cpus):
    """Its two answers stand; on one CPU the runners stop early enough to leave the executor its
    reserve for their programs (made generous here: this machine's load is not the test's point)."""
    monkeypatch.setattr(execute, "EXECUTOR_RESERVE_S", 4.0)
    limits = {"load_time_s": 15, "case_time_s": 120, "total_time_s": 20}
    v, ex, wall = _graded(tmp_path, SLEEPER, limits, monkeypatch, cpus)
    assert _cases(v) == [("p01", "AC", "correct"), ("p02", "AC", "correct"),
                         ("p03", "TLE", "total_time_limit"), ("p04", "TLE", "total_time_limit")], v.internal
    assert ex.children == 1                      # its answers were not asked again of a fresh runner
    assert wall <= limits["total_time_s"] + CLEANUP_GRACE_S + START_SLACK_S


def test_speculative_results_of_a_runner_the_budget_stopped_count(tmp_path, monkeypatch):
    """Two CPUs: the executor ran the first programs while the runner slept in the next case; the
    total budget stopped the runner, and those results stand as a cleanly ended runner's would."""
    limits = {"load_time_s": 15, "case_time_s": 120, "total_time_s": 20}
    v, ex, wall = _graded(tmp_path, SLEEPING_EXPORTER, limits, monkeypatch, cpus=2)
    assert _cases(v)[:2] == [("p01", "AC", "correct"), ("p02", "AC", "correct")], (_cases(v), v.internal)
    assert [c.verdict for c in v.cases[2:]] == ["TLE", "TLE"]
    assert all(ex.cases[c].stage == "executor" for c in ("p01", "p02"))
    assert wall <= limits["total_time_s"] + CLEANUP_GRACE_S + START_SLACK_S


def test_a_runner_that_dies_on_its_own_still_loses_its_answers(test_problem):
    """The rule the budget's stop does not touch: a forked child's frames for a dying parent."""
    v = grade(test_problem, SUBMISSIONS / "run_time_error" / "hostile_forked_programs.py", "public")
    assert v.verdict == "RTE" and all(c.verdict == "RTE" for c in v.cases), _cases(v)


def test_deep_recursion_is_rte_within_a_minute_with_the_shipped_limits():
    problem = load_problem()                    # problem.yaml as shipped: total_time_s 50, all 31 cases
    t0 = time.monotonic()
    v = grade(problem, SUBMISSIONS / "run_time_error" / "hostile_deep_recursion.py", "all")
    wall = time.monotonic() - t0
    assert wall < 60, wall
    assert v.verdict == "RTE", _cases(v)
    reasons = {c.reason.value for c in v.cases}
    assert reasons <= {"exception", "total_time_limit"}, _cases(v)
    assert sum(c.verdict == "RTE" for c in v.cases) >= 3, _cases(v)     # answers the budget did not discard


def test_a_hang_after_done_ends_with_the_budget(tmp_path, monkeypatch):
    """The exit wait after `done` ends with the budget (plus a short grace), whatever EXIT_WAIT_S is."""
    monkeypatch.setattr(execute, "EXIT_WAIT_S", 600.0)
    limits = {"load_time_s": 20, "case_time_s": 8, "total_time_s": 20}
    v, _ex, wall = _graded(tmp_path, HANGS_AFTER_DONE, limits, monkeypatch, one_case=True)
    assert v.verdict == "RTE" and v.cases[0].reason.value == "died_after_answering", (_cases(v), v.internal)
    assert wall <= limits["total_time_s"] + CLEANUP_GRACE_S + START_SLACK_S, wall


def test_a_compile_bomb_is_tle_within_its_compile_limit(tmp_path, monkeypatch):
    problem = load_problem(one_case_bundle(tmp_path / "bundle", load_time_s=20, case_time_s=8,
                                           compile_time_s=3, total_time_s=60))
    cases = job_cases(load_golden(problem, "public").cases)
    monkeypatch.setattr(execute, "cpus_available", lambda: 1)
    t0 = time.monotonic()
    ex = run(problem, COMPILE_BOMB, cases)
    wall = time.monotonic() - t0
    out = ex.cases["p01"]
    assert (out.status, out.why, out.stage) == ("timeout", "compile", "executor"), out
    # Confirmed by one retry with margin: the case's time is the retry's compile, never a run's.
    assert out.compile_s is None and out.time_s <= 3 * RETRY_MARGIN + 8 + 2
    assert wall <= 20 + 8 + 3 + 3 * RETRY_MARGIN + 2 * 2.0


def test_the_reference_reports_its_compile_apart(tmp_path):
    problem = load_problem(one_case_bundle(tmp_path / "bundle"))
    ex = run(problem, (BUNDLE_ROOT / "reference" / "solution.py").read_bytes(),
             job_cases(load_golden(problem, "public").cases))
    out = ex.cases["p01"]
    assert out.status == "result" and out.stage == "executor" and out.compile_s is not None
    assert out.header["compile_s"] >= 0 and out.header["run_s"] >= 0


# -- the executor's compile and run limits, driven by scripted frames ------------------------------
class _Box:
    child = None

    class limits:
        case_time_s, load_time_s, compile_time_s = 0.4, 1.0, 2.0

    def kill(self):
        return 0

    def tree_pids(self):
        return set()

    def hit_memory_limit(self):
        return False


class _ScriptedWatch:
    """Frames after given delays (s); a delay past the deadline is a time-out there."""
    peak, tail = 0, b""

    def __init__(self, script):
        self.script = list(script)

    def next(self, deadline):
        delay, head = self.script.pop(0) if self.script else (10 ** 6, None)
        wake = time.monotonic() + delay
        if wake > deadline:
            time.sleep(max(0.0, deadline - time.monotonic()))
            return Stop("timeout")
        time.sleep(delay)
        return head, b""


def _request(script) -> Outcome:
    executor = programs.Executor(_Box(), Execution(isolation="process"), 64, time.monotonic() + 60)
    executor.watch, executor.ready = _ScriptedWatch(script), True
    executor._send = lambda data, deadline: True
    return executor._run({"id": "A", "hidden": 1, "T": 1, "x": [0.0]}, b"program", 1.0)


def test_a_slow_compile_does_not_eat_the_runs_limit():
    """Compiling takes longer than the whole case limit (0.4 s), within its own (2 s): the run
    still has its 0.4 s."""
    got = _request([(0, {"type": "start", "id": "A"}), (0.7, {"type": "compiled", "id": "A", "compile_s": 0.7}),
                    (0.1, {"type": "result", "id": "A", "kind": "array"})])
    assert got.status == "result" and got.compile_s >= 0.7 and got.time_s < 0.4, got


def test_compile_and_run_time_outs_are_told_apart():
    compile_out = _request([(0, {"type": "start", "id": "A"}), (5, {"type": "compiled", "id": "A"})])
    assert (compile_out.status, compile_out.why) == ("timeout", "compile")
    assert 2.0 <= compile_out.time_s < 2.5
    run_out = _request([(0, {"type": "start", "id": "A"}), (0, {"type": "compiled", "id": "A", "compile_s": 0.0}),
                        (5, {"type": "result", "id": "A"})])
    assert (run_out.status, run_out.why) == ("timeout", "") and 0.4 <= run_out.time_s < 0.9
