"""Warm JAX's persistent compilation cache with the reference, so graded children load programs
instead of compiling them (`python -m grader warm`; `regen` runs it too).

The reference is the bundle's own trusted code, so it alone runs with the cache writable (no
sandbox uid). It is warmed into a fresh copy that replaces the cache in one rename, so a grader
reading the cache meanwhile never sees a half-written entry. Both paths of the runner are warmed:
compiled (jit with hidden and T static) and plain (JAX's op-by-op programs), and both must
reproduce the golden vectors bit for bit, which proves jit changes no number on this machine.

Array tasks that start together (SLURM, one filesystem) must not race: a warm holds an exclusive
flock on `.<cache>.lock` beside the cache folder. A warm that had to wait finds the stamp
(`.<cache>.warmed`, rewritten by every warm) changed and reuses that warm instead of doing it again;
`reuse=True` also reuses an older warm of the same bundle and environment. flock is shared across
nodes on local filesystems and NFSv4 (Linux maps it to POSIX locks there).
"""
from __future__ import annotations

import fcntl
import json
import os
import shutil
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import JudgeError, UsageError
from ..judge.cases import job_cases, load_golden
from ..execute import run
from ..problem import Problem
from ..host.jaxcache import jax_cache_dir


@dataclass(frozen=True)
class Warmed:
    cache: Path
    entries: int
    size_bytes: int
    seconds: float
    compiled_cases: int
    reused: bool = False     # another warm of the same bundle filled it; nothing was compiled here


def warm(problem: Problem, cache: Path | None = None, reuse: bool = False) -> Warmed:
    t0 = time.monotonic()
    target = cache or jax_cache_dir()
    if target is None:
        raise UsageError("GRADER_JAX_CACHE is empty: there is no cache to warm")
    target = Path(target).resolve()
    reference = problem.reference_path
    if not reference.is_file():
        raise UsageError(f"{reference}: no reference solution to warm the cache with")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        lock = os.open(target.parent / f".{target.name}.lock", os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as e:
        raise UsageError(f"{target}: cannot create the cache's folder or lock ({e.strerror})") from None
    try:
        before = _stamp(target)
        fcntl.flock(lock, fcntl.LOCK_EX)     # the loser of a race waits here for the winner's warm
        after = _stamp(target)
        want = _identity(problem)
        if after and after.get("identity") == want and target.is_dir() and (reuse or after != before):
            return _summary(target, t0, 0, reused=True)
        compiled = _warm_locked(problem, reference, target)
        _write_stamp(target, want)
        return _summary(target, t0, compiled)
    finally:
        os.close(lock)                       # releases the flock


def _identity(problem: Problem) -> dict:
    """What a reused warm must share: the bundle's code and data, and the library versions."""
    from ..grade import bundle_fingerprint, environment
    return {"bundle": bundle_fingerprint(problem.root), "env": environment("process")}


def _stamp_path(target: Path) -> Path:
    return target.parent / f".{target.name}.warmed"


def _stamp(target: Path) -> dict | None:
    try:
        data = json.loads(_stamp_path(target).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _write_stamp(target: Path, identity: dict) -> None:
    # A fresh nonce each time: a waiting warm compares the whole stamp, so even a warm of the same
    # identity it started after tells it "done while you waited".
    from ..judge.verdict import write_atomic
    write_atomic(_stamp_path(target), json.dumps({"identity": identity, "nonce": uuid.uuid4().hex}))


def _summary(target: Path, t0: float, compiled: int, reused: bool = False) -> Warmed:
    files = [f for f in target.rglob("*") if f.is_file()]
    return Warmed(target, len(files), sum(f.stat().st_size for f in files), time.monotonic() - t0,
                  compiled, reused)


def _warm_locked(problem: Problem, reference: Path, target: Path) -> int:
    golden = [g for s in ("public", "hidden") for g in load_golden(problem, s).cases]
    # Unique across nodes sharing the folder (pids are not): mkdtemp's random suffix.
    fresh = Path(tempfile.mkdtemp(prefix=f".{target.name}.warming-", dir=target.parent))
    fresh.rmdir()
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
    return compiled


def _readable(folder: Path) -> None:
    """The grader's alone (0700 / 0600, whatever the umask was): no sandbox uid reads the cache
    itself; an executor gets a private copy (jaxcache.private_copy), a runner gets none."""
    os.chmod(folder, 0o700)
    for dirpath, dirs, files in os.walk(folder):
        for name in dirs:
            os.chmod(os.path.join(dirpath, name), 0o700)
        for name in files:
            os.chmod(os.path.join(dirpath, name), 0o600)


def _replace(fresh: Path, target: Path) -> None:
    old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
    old.rmdir()
    if target.exists():
        os.rename(target, old)
    os.rename(fresh, target)
    shutil.rmtree(old, ignore_errors=True)
