"""The executor's overlap with the runner (programs.py): where a grading has two CPUs, programs run
while the runner exports the next case. It must change no verdict, use a speculative result only for
the program a cleanly ended runner gave, and stay off where there is one CPU."""
from __future__ import annotations

import pytest

from grader import BUNDLE_ROOT, execute, programs
from grader.outcome import Execution
from grader.grade import grade
from grader.host.isolation import cpus_available

SUBS = BUNDLE_ROOT / "tests" / "submissions"
FILES = [BUNDLE_ROOT / "reference" / "solution.py",
         SUBS / "wrong_answer" / "variant_t_plus_1.py",
         SUBS / "wrong_answer" / "pitfall_python_loop.py",
         SUBS / "run_time_error" / "hostile_forked_programs.py"]
RUN_ALL = programs.Executor.run_all


def _graded(path, problem, monkeypatch, cpus: int) -> tuple[dict, list[int]]:
    """The verdict (without times) and, per run_all, how many speculative results were at hand."""
    monkeypatch.setattr(execute, "cpus_available", lambda: cpus)
    known: list[int] = []

    def spy(self, order):
        known.append(len(self.known))
        return RUN_ALL(self, order)
    monkeypatch.setattr(programs.Executor, "run_all", spy)
    v = grade(problem, path, "public")
    return {"verdict": v.verdict, "score": v.score,
            "cases": [(c.id, c.verdict, c.message) for c in v.cases],
            "checks": [(k.id, k.passed, k.message) for k in v.checks]}, known


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_overlap_changes_no_verdict(path, test_problem, monkeypatch):
    alone, known_alone = _graded(path, test_problem, monkeypatch, 1)
    overlapped, known_overlapped = _graded(path, test_problem, monkeypatch, 2)
    if path.name.startswith("hostile_"):
        # Whether the grader reads the forked child's frames before it sees the runner's death is a
        # race the submission itself runs (it says "died during the case" or "died after answering"
        # either way, in either mode): only the messages may differ.
        for d in (alone, overlapped):
            d["cases"] = [(cid, verdict) for cid, verdict, _message in d["cases"]]
    assert overlapped == alone
    assert known_alone == [0]                      # one CPU: nothing ran beside the runner
    public = len(test_problem.cases_of("public"))
    if path.name == "solution.py":                 # every program ran beside the one runner
        assert known_overlapped == [public]
    if path.name == "hostile_forked_programs.py":
        # Programs did run beside each dying runner (its marker makes each runner's bytes its own);
        # their values never counted (RTE).
        assert known_overlapped and known_overlapped[0] >= public


def test_cpus_are_capped_by_slurm_and_by_batch(monkeypatch):
    monkeypatch.delenv("SLURM_CPUS_PER_TASK", raising=False)
    monkeypatch.delenv("GRADER_CPUS", raising=False)
    full = cpus_available()
    assert full >= 1
    monkeypatch.setenv("GRADER_CPUS", "1")
    assert cpus_available() == 1
    monkeypatch.setenv("GRADER_CPUS", "not a number")
    assert cpus_available() == full
    monkeypatch.setenv("SLURM_CPUS_PER_TASK", "1")
    assert cpus_available() == 1


# The runner holds 450 MiB beside JAX and exports slowly; the program of the smallest case needs
# 480 MB of buffers in the executor (XLA's memory_analysis: temp 480 MB; a process peak of 669 MB).
# Alone, each child fits the 1000 MB budget; at the same time they do not.
HUNGRY = b'''
import time
import numpy as np
import jax, jax.numpy as jnp, flax.linen as nn

HOARD = np.ones(450 << 17)


class LaxScanModule(nn.Module):
    hidden: int
    T: int

    @nn.compact
    def __call__(self, x):
        W = self.param("W", nn.initializers.lecun_normal(), (self.hidden, self.hidden))
        return jax.lax.scan(lambda c, _: (jnp.tanh(c @ W), None), jnp.tanh(x @ W), None, length=self.T)[0]


def lax_scan_in_module(seed, x, hidden, T):
    model = LaxScanModule(hidden, T)
    out = model.apply(model.init(jax.random.PRNGKey(seed), x), x)
    if hidden == 4:                  # a 480 MB matrix the dot must read whole (0.4 s)
        A = (x[0] * jnp.arange(20000 * 6000, dtype=jnp.float32)).reshape(20000, 6000)
        return out + 0 * (A @ jnp.tile(x, 6000 // hidden + 1)[:6000])[0]
    time.sleep(1.0)
    return out + HOARD[0] * 0
'''


def test_memory_both_children_need_at_once_is_judged_alone(tmp_path, monkeypatch):
    """Both children share one budget. Beside the runner, the executor's run meets it first (the
    runner is charged the executor's idle size, not a program's buffers), and that run is decided
    again alone: no case is MLE, since neither child alone passes the limit."""
    from conftest import make_test_bundle
    from grader.problem import load_problem
    problem = load_problem(make_test_bundle(tmp_path / "b", memory_mb=1000))
    sub = tmp_path / "hungry.py"
    sub.write_bytes(HUNGRY)
    statuses: list[str] = []
    real_run = programs.Executor._run

    def spy(self, case, program, margin):
        got = real_run(self, case, program, margin)
        statuses.append(got.status)
        return got
    monkeypatch.setattr(programs.Executor, "_run", spy)
    monkeypatch.setattr(execute, "cpus_available", lambda: 2)
    v = grade(problem, sub, "public")
    assert [(c.id, c.verdict) for c in v.cases] == [(c.id, "AC") for c in v.cases], \
        [(c.id, c.verdict, c.message) for c in v.cases]
    assert "memory" in statuses, statuses      # the overflow did happen, beside the runner


class _Box:
    """Just enough of a Sandbox for Executor's bookkeeping, with no child process."""
    child = None

    class limits:
        case_time_s, load_time_s, compile_time_s = 1.0, 1.0, 1.0

    def kill(self):
        return 0

    def tree_pids(self):
        return set()


def _executor(cases: dict) -> programs.Executor:
    import time
    ex = Execution(isolation="process", cases=cases)
    return programs.Executor(_Box(), ex, 64, time.monotonic() + 60)


def test_a_speculative_result_is_dominated_as_it_would_be_alone(monkeypatch):
    """B's program already ran beside the runner, but A (smaller) times out when run alone: B is
    TLE by dominance, as in the sequential order, not the speculative result."""
    from grader.outcome import Outcome
    a, b = {"id": "A", "hidden": 4, "T": 5}, {"id": "B", "hidden": 8, "T": 10}
    cases = {c["id"]: Outcome("result", 0.1, program=c["id"].encode() * 8) for c in (a, b)}
    executor = _executor(cases)
    executor.known[programs._key("B", cases["B"].program)] = Outcome("result", 0.2, data=b"x")
    executor.watch, executor.ready = object(), True
    monkeypatch.setattr(programs.Executor, "_run", lambda self, case, program, margin: Outcome("timeout", margin))
    executor.run_all([a, b])
    assert executor.ex.cases["A"].status == "timeout" and executor.ex.cases["A"].why == ""
    assert executor.ex.cases["B"].status == "timeout" and executor.ex.cases["B"].why == "dominated"


def test_an_executor_that_fails_to_start_beside_the_runner_is_nobodys_fault_yet():
    """Beside the runner (a submission's memory, its processes) a start that fails is retried alone
    by run_all; only a start that fails alone is the grader's (JE)."""
    from grader.host.channel import Stop

    class Watch:
        peak = 0

        def next(self, deadline):
            return Stop("memory")
    for judge, expected in ((False, None), (True, "the executor did not start: memory (exited with status 0)")):
        executor = _executor({})
        executor.watch = Watch()
        assert executor._await_ready(judge=judge) is False
        assert executor.ex.judge_error == expected and executor.watch is None
