"""Warm JAX's persistent compilation cache with the reference, so graded children load programs
instead of compiling them (`python -m grader warm`; `regen` runs it too).

The reference is the bundle's own trusted code, so it alone runs with the cache writable (no
sandbox uid). It is warmed into a fresh copy that replaces the cache in one rename, so a grader
reading the cache meanwhile never sees a half-written entry. The executor compiles the reference's
exported programs (with the children's pinned XLA options) and writes the cache; each case's output
must reproduce the golden vectors bit for bit.

The reference runs with every time limit WARM_TIME_FACTOR times the student's: it compiles every
case cold, and a busy machine (a setup step beside other jobs, a test suite) must not turn the
student's 50 s budget into a failed warm. A case that still got no result (a time-out, a crash) is run
once more in fresh children before the warm gives up; a value that differs from the golden file is
described exactly (which case, how many elements, by how much) with what to do.

Array tasks that start together (SLURM, one filesystem) must not race: a warm holds an exclusive
flock on `.<cache>.lock` beside the cache folder. A warm that had to wait finds the stamp
(`.<cache>.warmed`, rewritten by every warm) changed and reuses that warm instead of doing it again;
`reuse=True` also reuses an older warm of the same bundle and environment. flock is shared across
nodes on local filesystems and NFSv4 (Linux maps it to POSIX locks there).
"""
from __future__ import annotations

import dataclasses
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
from ..judge.cases import GoldenCase, job_cases, load_golden
from ..judge.drift import REGEN_HINT, agreement
from ..execute import run
from ..problem import Problem
from ..host.jaxcache import jax_cache_dir


WARM_TIME_FACTOR = 10      # trusted code, compiling cold: the student's time limits times this


def trusted_limits(problem: Problem) -> Problem:
    """The problem with every time limit (`*_time_s`) WARM_TIME_FACTOR times longer; memory and the
    other limits stay the student's, so the reference still proves it fits them."""
    limits = problem.limits
    longer = {f.name: getattr(limits, f.name) * WARM_TIME_FACTOR
              for f in dataclasses.fields(limits) if f.name.endswith("_time_s")}
    return dataclasses.replace(problem, limits=dataclasses.replace(limits, **longer))


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
        outcomes = _run_reference(problem, reference, golden, fresh)
        compiled = 0
        for g in golden:
            out = outcomes[g.spec.id]
            why = mismatch(problem, g, np.frombuffer(out.data or b"", dtype="<f4"))
            if why:
                raise JudgeError(f"warming: the reference's exported program does not reproduce case "
                                 f"{g.spec.id} bit for bit ({why}): {REGEN_HINT}")
            compiled += out.stage == "executor"
        _readable(fresh)
        _replace(fresh, target)
    finally:
        shutil.rmtree(fresh, ignore_errors=True)
    return compiled


def _run_reference(problem: Problem, reference: Path, golden: list[GoldenCase], fresh: Path) -> dict:
    """Every case's outcome, from the reference run with trusted_limits; the cases without a result
    are run once more (fresh children) before a JudgeError says which and why."""
    trusted, source, outcomes = trusted_limits(problem), reference.read_bytes(), {}
    todo = list(golden)
    for attempt in (1, 2):
        ex = run(trusted, source, job_cases(todo), isolation="process", warm_cache=fresh)
        if ex.judge_error or ex.load is not None:
            load = ex.load
            what = ex.judge_error or f"loading: {load.status} {load.detail} {(load.error or {}).get('message', '')}"
            if attempt == 2 or ex.judge_error:
                raise JudgeError(f"warming: the reference did not run: {what.strip()}")
            continue
        outcomes.update({g.spec.id: ex.cases[g.spec.id] for g in todo})
        todo = [g for g in todo if outcomes[g.spec.id].status != "result"]
        if not todo:
            return outcomes
    worst = ", ".join(f"{g.spec.id} ({_said(outcomes.get(g.spec.id))})" for g in todo)
    raise JudgeError(f"warming: the reference got no result on case {worst}, twice, with time limits "
                     f"{WARM_TIME_FACTOR}x the student's: is the machine overloaded or short of memory?")


def _said(out) -> str:
    if out is None:
        return "did not load"
    text = " ".join(x for x in (out.status, out.why, out.detail, (out.error or {}).get("message", "")) if x)
    return text.strip()[:200]


def mismatch(problem: Problem, golden: GoldenCase, got: np.ndarray) -> str:
    """'' when `got` is the golden vector bit for bit, else how it differs."""
    want = golden.expected.astype("<f4")
    if got.shape != want.shape:
        return f"{got.size} values where the golden vector has {want.size}"
    differ = got.view("<u4") != want.view("<u4")
    if not differ.any():
        return ""
    diff = np.abs(got.astype(np.float64) - want.astype(np.float64))
    return (f"{int(differ.sum())} of {want.size} elements differ, by at most {float(diff.max()):.3g}, "
            f"{agreement(got, want, problem.rtol, problem.atol):.3g} of the tolerance; the golden files were "
            f"made with other XLA options, library versions or reference")


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
