"""What `grader slurm` asks of SLURM: the job script's text, `sbatch --parsable`, and `squeue` for the
array's task states. Only the commands every SLURM login node has are used (no `sacct`: clusters
without accounting have none that works). A command that is absent is the operator's mistake (exit 2);
one that fails or hangs is the engine's (exit 3), with its own first line of error.
"""
from __future__ import annotations

import shlex
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from .. import GraderError, UsageError

COMMAND_TIMEOUT_S = 60.0


class EngineError(GraderError):
    """SLURM's own command failed (the controller is down, a refused submission): exit 3."""

    exit_code = 3


def job_script(grader: Path, problem_path: Path | None, root: Path, folder: Path, tasks: int, cases: str,
               isolation: str | None) -> str:
    """The array job: task I warms the cache (one warm per cache; the others wait and reuse it) and
    grades shard I of `tasks` with one batch job per CPU, into its own shard file (resumable)."""
    g = [str(grader)] + (["--problem", str(Path(problem_path).resolve())] if problem_path else [])
    batch = [*g, "batch", str(root), "--cases", cases] + (["--isolation", isolation] if isolation else [])
    q = " ".join(shlex.quote(w) for w in g)
    return "\n".join([
        "#!/bin/bash",
        f"# Written by `grader slurm` for {root}: array task I grades shard I of {tasks} into shard-I.jsonl.",
        "# It is submitted with --array set to the shards still to grade: rerun that command, not this script.",
        "set -uo pipefail",
        'I="${SLURM_ARRAY_TASK_ID:?submit this with sbatch --array}"',
        'echo "task $I on $(hostname) at $(date -u +%FT%TZ)"',
        "# A cold or damaged cache only makes grading slower: go on without it.",
        f'{q} warm --reuse || echo "warm failed on $(hostname): grading without a warm cache" >&2',
        "exec " + " ".join(shlex.quote(w) for w in batch)
        + ' --jobs "${SLURM_CPUS_PER_TASK:-1}" --shard "$I/' + str(tasks) + '" --out '
        + shlex.quote(str(folder)) + '/shard-"$I".jsonl',
        ""])


@dataclass(frozen=True)
class Engine:
    sbatch: str
    squeue: str

    # Every state in which a task may still write records (SLURM's job_state_string names).
    ACTIVE = frozenset({"PENDING", "RUNNING", "CONFIGURING", "COMPLETING", "SUSPENDED", "REQUEUED",
                        "REQUEUE_FED", "REQUEUE_HOLD", "RESIZING", "SIGNALING", "STAGE_OUT", "STOPPED",
                        "RESV_DEL_HOLD"})

    @classmethod
    def find(cls) -> "Engine":
        found = {name: shutil.which(name) for name in ("sbatch", "squeue")}
        absent = [name for name, path in found.items() if path is None]
        if absent:
            raise UsageError(f"{' and '.join(absent)} not found on PATH: run this where SLURM's commands are "
                             "(a login node), or use `batch --shard I/N` with another engine")
        return cls(found["sbatch"], found["squeue"])

    def submit(self, script: Path, shards: list[int], cpus: int, partition: str | None, extra: list[str],
               folder: Path) -> str:
        argv = [self.sbatch, "--parsable", "--job-name=grader", f"--array={','.join(map(str, shards))}",
                f"--cpus-per-task={cpus}", f"--output={folder}/logs/task-%a.job-%A.out", f"--chdir={folder}"]
        argv += [f"--partition={partition}"] if partition else []
        proc = self._run(argv + list(extra) + [str(script)])
        if proc.returncode != 0:
            raise EngineError(f"sbatch refused the job: {_first_line(proc)}")
        job = proc.stdout.strip().split(";")[0]
        if not job.isdigit():
            raise EngineError(f"sbatch --parsable printed {proc.stdout.strip()[:80]!r}, not a job id")
        return job

    def states(self, job: str) -> dict[str, str]:
        """{array task id: state} of the tasks SLURM still knows; {} once the job is forgotten."""
        proc = self._run([self.squeue, "-h", "-r", "-t", "all", "-j", job, "-o", "%K|%T"])
        if proc.returncode != 0:
            if "Invalid job id" in proc.stderr:
                return {}
            raise EngineError(f"squeue failed: {_first_line(proc)}")
        return parse_states(proc.stdout)

    def active(self, job: str) -> bool:
        return any(s in self.ACTIVE for s in self.states(job).values())

    def _run(self, argv: list[str]) -> subprocess.CompletedProcess:
        try:
            return subprocess.run(argv, capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S,
                                  stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            raise EngineError(f"{Path(argv[0]).name} did not answer in {COMMAND_TIMEOUT_S:.0f} s") from None
        except OSError as e:
            raise EngineError(f"{argv[0]}: cannot run ({e.strerror})") from None


def parse_states(text: str) -> dict[str, str]:
    """squeue's `%K|%T` lines: the array index (or a range still pending as one record, "2-5") and
    its state, which may carry a suffix ("CANCELLED by 0")."""
    out = {}
    for line in text.splitlines():
        task, _, state = line.strip().partition("|")
        if task and state.strip():
            out[task] = state.split()[0]
    return out


def _first_line(proc: subprocess.CompletedProcess) -> str:
    text = (proc.stderr or proc.stdout or "").strip()
    return text.splitlines()[0][:200] if text else f"exit status {proc.returncode}"
