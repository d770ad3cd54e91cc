"""Warm JAX's persistent compilation cache with the reference, so graded children load programs
instead of compiling them (`python -m grader warm`; `regen` runs it too).

The reference is the bundle's own trusted code, so it alone runs with the cache writable (no
sandbox uid). It is warmed into a fresh copy that replaces the cache in one rename, so a grader
reading the cache meanwhile never sees a half-written entry. Both paths of the runner are warmed:
compiled (jit with hidden and T static) and plain (JAX's op-by-op programs), and both must
reproduce the golden vectors bit for bit, which proves jit changes no number on this machine.
"""
from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import JudgeError, UsageError
from .cases import job_cases, load_golden
from .execute import run
from .problem import Problem
from .jaxcache import jax_cache_dir


@dataclass(frozen=True)
class Warmed:
    cache: Path
    entries: int
    size_bytes: int
    seconds: float
    compiled_cases: int


def warm(problem: Problem, cache: Path | None = None) -> Warmed:
    t0 = time.monotonic()
    target = cache or jax_cache_dir()
    if target is None:
        raise UsageError("GRADER_JAX_CACHE is empty: there is no cache to warm")
    reference = problem.reference_path
    if not reference.is_file():
        raise UsageError(f"{reference}: no reference solution to warm the cache with")
    golden = [g for s in ("public", "hidden") for g in load_golden(problem, s).cases]
    target.parent.mkdir(parents=True, exist_ok=True)
    fresh = target.parent / f".{target.name}.warming-{os.getpid()}"
    shutil.rmtree(fresh, ignore_errors=True)
    if target.is_dir():
        shutil.copytree(target, fresh, symlinks=False)
    else:
        fresh.mkdir()
    try:
        # The executor compiles the reference's exported programs and writes the cache: a student's
        # program that lowers to the same StableHLO then compiles nothing.
        ex = run(problem, reference.read_bytes(), job_cases(golden), isolation="process", warm_cache=fresh)
        if ex.judge_error or ex.load is not None:
            raise JudgeError(f"warming: the reference did not run: {ex.judge_error or ex.load}")
        compiled = 0
        for g in golden:
            out = ex.cases[g.spec.id]
            got = np.frombuffer(out.data or b"", dtype="<f4")
            if out.status != "result" or got.tobytes() != g.expected.astype("<f4").tobytes():
                raise JudgeError(f"warming: the reference's exported program does not reproduce case "
                                 f"{g.spec.id} bit for bit: run `make regen`")
            compiled += out.stage == "executor"
        _readable(fresh)
        _replace(fresh, target)
    finally:
        shutil.rmtree(fresh, ignore_errors=True)
    files = [f for f in target.rglob("*") if f.is_file()]
    return Warmed(target, len(files), sum(f.stat().st_size for f in files), time.monotonic() - t0, compiled)


def _readable(folder: Path) -> None:
    """Sandbox uids read the cache: folders 0755, files 0644, whatever the umask was."""
    os.chmod(folder, 0o755)
    for dirpath, dirs, files in os.walk(folder):
        for name in dirs:
            os.chmod(os.path.join(dirpath, name), 0o755)
        for name in files:
            os.chmod(os.path.join(dirpath, name), 0o644)


def _replace(fresh: Path, target: Path) -> None:
    old = target.parent / f".{target.name}.old-{os.getpid()}"
    if target.exists():
        os.rename(target, old)
    os.rename(fresh, target)
    shutil.rmtree(old, ignore_errors=True)
