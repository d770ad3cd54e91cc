"""Raw material for `validate`, measured in children (the grader process never imports JAX):

- the probe: the reference's own source with a function appended, run through the normal sandboxed
  runner. Per case it returns one float64 vector: the reference's float32 result (exactly, as
  float64) and the same recurrence in float64 numpy with the same W;
- cold gradings: a correct solution graded as a student's program meets it on a platform, by a fresh
  `python -m grader grade --cases all` process pinned to one CPU (its sandboxed children inherit the
  affinity, so the executor runs after the runner, as on a one-CPU box) with an empty compilation
  cache of its own (GRADER_JAX_CACHE: a new folder; never the bundle's warmed one). Two such gradings
  run side by side only when asked, each on its own core.
"""
from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import BUNDLE_ROOT
from ..judge.cases import GoldenCase
from ..judge.drift import reference_outputs
from ..problem import Problem, validation_files
from .quality import ColdRun, cold_run

# Pins itself to one core, then becomes the given command: what it starts inherits the affinity.
PIN = ("import os, sys; os.sched_setaffinity(0, {int(sys.argv[1])}); "
       "os.execv(sys.executable, [sys.executable, *sys.argv[2:]])")

FUNCTION = "_validate_probe"
_PROBE = '''

# ---- appended by grader/instructor/probe.py (validate only) ----
def _validate_probe(seed, x, hidden, T):
    import numpy as _vp_np
    ref = _vp_np.asarray({function}(seed, x, hidden, T))
    W = {module_class}(hidden=hidden, T=T).init(jax.random.PRNGKey(seed), x)["params"]["W"]
    W = _vp_np.asarray(W, _vp_np.float64)
    c = _vp_np.tanh(_vp_np.asarray(x, _vp_np.float64) @ W)
    for _ in range(T):
        c = _vp_np.tanh(c @ W)
    ref64 = ref.astype(_vp_np.float64) if ref.dtype == _vp_np.float32 else _vp_np.full(hidden, _vp_np.nan)
    return _vp_np.concatenate([ref64.reshape(-1)[:hidden], c])
'''


@dataclass(frozen=True)
class ProbeResult:
    reference: dict[str, np.ndarray]       # case id -> float32 result of the reference
    float64: dict[str, np.ndarray]         # case id -> the same W and recurrence in float64


def source_for(problem: Problem, reference: bytes) -> bytes:
    """The reference plus the probe function (the reference must `import jax` at its top level)."""
    code = _PROBE.format(function=problem.function, module_class=problem.module_class)
    return reference + code.encode()


def run_probe(problem: Problem, reference: bytes, cases: list[GoldenCase], isolation=None) -> ProbeResult:
    """RuntimeError (with the reason) when the reference does not load or a case does not return."""
    raw = reference_outputs(problem, source_for(problem, reference), cases, isolation, function=FUNCTION)
    ref, f64 = {}, {}
    for c in cases:
        v = raw[c.spec.id].astype(np.float64).reshape(-1)
        h = c.spec.hidden
        if v.shape != (2 * h,):
            raise RuntimeError(f"case {c.spec.id}: the probe returned {v.shape[0]} values, not {2 * h}")
        ref[c.spec.id] = v[:h].astype(np.float32)
        f64[c.spec.id] = v[h:]
    return ProbeResult(ref, f64)


def one_cpu_cores(jobs: int) -> list[int]:
    """The cores cold gradings are pinned to, one per grading running at once (the last first)."""
    cpus = sorted(os.sched_getaffinity(0), reverse=True)
    return cpus[:max(1, min(jobs, len(cpus)))]


def grade_cold(problem_file: Path, label: str, path: Path, cpu: int, isolation=None,
               timeout_s: float = 600.0) -> ColdRun:
    """One cold grading on core `cpu`; a grading that gives no verdict is a ColdRun without one."""
    with tempfile.TemporaryDirectory(prefix="validate-cold-") as tmp:
        os.chmod(tmp, 0o755)
        cache = Path(tmp) / "jax-cache"
        cache.mkdir()
        argv = [sys.executable, "-c", PIN, str(cpu), "-m", __name__, str(problem_file), str(path), isolation or ""]
        try:
            done = subprocess.run(argv, cwd=BUNDLE_ROOT, env={**os.environ, "GRADER_JAX_CACHE": str(cache)},
                                  stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout_s)
        except subprocess.TimeoutExpired:
            return ColdRun(label, None, False, f"no verdict within {timeout_s:g} s", {}, 0.0, cpu)
    try:
        doc = json.loads(done.stdout.strip().splitlines()[-1])
        return cold_run(label, doc["verdict"], doc["phases"], cpu)
    except (ValueError, KeyError, TypeError, IndexError):
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return ColdRun(label, None, False, f"exit status {done.returncode}: {last[:200]}", {}, 0.0, cpu)


def _cold_main(problem_file: str, path: str, isolation: str) -> None:
    """The pinned process: grade `path` on every case as `grade` does, and print its verdict with the
    phase times of each case from the grading's own Execution (export + run, and compile, where the
    verdict shows only their sum or less), as one JSON line."""
    from .. import grade as pipeline
    from ..judge.verdict import to_json
    from ..problem import load_problem
    seen = []
    run = pipeline.run

    def spy(*args, **kwargs):
        seen.append(run(*args, **kwargs))
        return seen[-1]
    pipeline.run = spy                 # this process's own grading: it only listens
    v = pipeline.grade(load_problem(problem_file), path, "all", isolation or None)
    phases = {}
    for cid, out in (seen[-1].cases.items() if seen else ()):
        parts = [out] + ([out.module_run] if out.fallback and out.module_run is not None else [])
        compiles = [o.compile_s for o in parts if o.compile_s is not None]
        phases[cid] = {"case_s": sum(o.time_s for o in parts if o.time_s is not None),
                       **({"compile_s": sum(compiles)} if compiles else {})}
    print(json.dumps({"verdict": to_json(v), "phases": phases}), flush=True)


def cold_gradings(problem_file: Path, files: list[tuple[str, Path]], total_time_s: float, isolation=None,
                  jobs: int = 1, progress=None) -> list[ColdRun]:
    """ColdRuns in `files` order; up to `jobs` at once, each on a core no other of them uses."""
    cores: queue.Queue[int] = queue.Queue()
    for cpu in one_cpu_cores(jobs):
        cores.put(cpu)

    def one(item: tuple[str, Path]) -> ColdRun:
        cpu = cores.get()
        try:
            run = grade_cold(problem_file, item[0], item[1], cpu, isolation, 1.5 * total_time_s + 120)
        finally:
            cores.put(cpu)
        if progress:
            progress(run)
        return run

    with ThreadPoolExecutor(max_workers=cores.qsize()) as pool:
        return list(pool.map(one, files))


def correct_solutions(problem: Problem, skip_examples: bool) -> list[tuple[str, Path]]:
    """(label, path) of every correct solution validate knows: the reference, the accepted examples
    (.py and .ipynb; not with --skip-examples), and problem.yaml's validation.accepted."""
    accepted = problem.root / "tests" / "submissions" / "accepted"
    found = [problem.reference_path]
    if not skip_examples and accepted.is_dir():
        found += sorted(f for f in accepted.iterdir() if f.suffix in (".py", ".ipynb") and not f.is_symlink())
    out, seen = [], set()
    for f in [*found, *validation_files(problem)]:
        if f.resolve() not in seen:
            seen.add(f.resolve())
            out.append((str(f.relative_to(problem.root)) if f.is_relative_to(problem.root) else str(f), f))
    return out


if __name__ == "__main__":
    _cold_main(*sys.argv[1:4])
