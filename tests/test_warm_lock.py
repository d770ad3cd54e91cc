"""Two warms of one cache at once (array tasks starting together): one warms, the other waits on the
lock beside the cache folder and reuses that warm; both succeed and nothing half-written is left."""
from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import yaml

from conftest import ROOT, one_case_bundle


def _small_bundle(dest: Path) -> Path:
    """One public and one hidden case, with the reference: a warm of a few seconds."""
    path = one_case_bundle(dest)
    raw = yaml.safe_load(path.read_text())
    raw["cases"]["hidden"] = raw["cases"]["hidden"][:1]
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    golden = dest / "tests" / "data" / "hidden.yaml"
    data = yaml.safe_load(golden.read_text())
    data["cases"] = data["cases"][:1]
    golden.write_text(yaml.safe_dump(data, sort_keys=False))
    shutil.copytree(ROOT / "reference", dest / "reference")
    return path


def _blocked_on(lock: Path) -> int:
    """How many processes wait for a flock on this file (/proc/locks marks waiters with '->')."""
    ino = os.stat(lock).st_ino
    lines = Path("/proc/locks").read_text().splitlines()
    return sum(1 for ln in lines if "->" in ln and "FLOCK" in ln and ln.split()[-3].endswith(f":{ino}"))


def _warm(problem: Path, cache: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "grader", "--problem", str(problem), "warm", "--cache",
                             str(cache), *extra], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def test_two_concurrent_warms_share_one_and_never_fail(tmp_path):
    problem = _small_bundle(tmp_path / "bundle")
    cache = tmp_path / "caches" / "jax"
    cache.parent.mkdir()
    lock = cache.parent / ".jax.lock"
    # Hold the lock ourselves until both warms wait on it, so they really start together.
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    fcntl.flock(fd, fcntl.LOCK_EX)
    procs = [_warm(problem, cache), _warm(problem, cache)]
    try:
        end = time.monotonic() + 120
        while _blocked_on(lock) < 2 and time.monotonic() < end and all(p.poll() is None for p in procs):
            time.sleep(0.1)
        assert _blocked_on(lock) == 2, [p.communicate() for p in procs if p.poll() is not None]
    finally:
        os.close(fd)
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    said = sorted(out.split(" ", 1)[0] for out, _err in outs)
    assert said == ["reused", "warmed"], outs
    entries = [f for f in cache.rglob("*") if f.is_file()]
    assert entries, "the cache is empty"
    leftovers = [p.name for p in cache.parent.iterdir() if ".warming-" in p.name or ".old-" in p.name]
    assert leftovers == []
    # A later task with --reuse finds the stamp of that warm and compiles nothing.
    again = _warm(problem, cache, "--reuse")
    out, err = again.communicate(timeout=120)
    assert again.returncode == 0 and out.startswith("reused"), (out, err)
