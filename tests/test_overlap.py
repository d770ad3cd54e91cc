"""The executor's overlap with the runner (programs.py): where a grading has two CPUs, programs run
while the runner exports the next case. It must change no verdict, use a speculative result only for
the program a cleanly ended runner gave, and stay off where there is one CPU."""
from __future__ import annotations

import pytest

from grader import BUNDLE_ROOT, execute, programs
from grader.grade import grade
from grader.isolation import cpus_available

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
    assert overlapped == alone
    assert known_alone == [0]                      # one CPU: nothing ran beside the runner
    if path.name in ("solution.py", "hostile_forked_programs.py"):
        # Programs did run beside the runner; for the forged ones their values never counted (RTE).
        assert known_overlapped and known_overlapped[0] == len(test_problem.cases_of("public"))


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
