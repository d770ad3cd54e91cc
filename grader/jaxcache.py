"""JAX's persistent compilation cache as the sandbox uses it: where it is, and keeping it safe.

Warmed by trusted code (`python -m grader warm`); graded children only read it. Before a slot uid
reads it, entries the grader does not own are dropped, so a submission cannot plant a program that
the next student's run would load.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

from . import BUNDLE_ROOT, JudgeError


def jax_cache_dir() -> Path | None:
    """JAX's persistent compilation cache: GRADER_JAX_CACHE if set (empty: none), else the bundle's
    .cache/jax, filled by `python -m grader warm`. A missing folder only makes grading slower."""
    env = os.environ.get("GRADER_JAX_CACHE")
    if env is not None:
        return Path(env).resolve() if env else None
    return BUNDLE_ROOT / ".cache" / "jax" / cpu_tag()


def cpu_tag() -> str:
    """Cached programs are machine code for the CPU that compiled them, and JAX's cache key does not
    say which CPU that was: one cache per CPU model and feature set, so a bundle warmed on one machine
    and graded on another compiles afresh instead of running instructions its CPU lacks."""
    try:
        lines = Path("/proc/cpuinfo").read_text(errors="replace").splitlines()
    except OSError:
        return "cpu-unknown"
    keep = sorted({ln.strip() for ln in lines if ln.startswith(("model name", "flags", "Features", "CPU part"))})
    import hashlib
    return "cpu-" + hashlib.sha256("\n".join(keep).encode()).hexdigest()[:12]


def reachable_by_others(cache: Path) -> bool:
    try:
        return os.stat(cache).st_mode & 0o005 == 0o005 and \
            all(os.stat(p).st_mode & 0o001 for p in cache.resolve().parents)
    except OSError:
        return False


def harden_cache(cache: Path) -> None:
    """Before a slot uid reads the cache: entries the grader does not own are dropped (a submission
    could have planted them to serve wrong programs to the next student) and nothing stays writable
    by group or others. Cheap: a few hundred entries."""
    me = os.geteuid()
    for dirpath, dirs, files in os.walk(cache):
        for name in files + dirs:
            path = os.path.join(dirpath, name)
            try:
                st = os.lstat(path)
                if st.st_uid != me or os.path.islink(path):
                    (shutil.rmtree if name in dirs and not os.path.islink(path) else os.unlink)(path)
                elif st.st_mode & 0o022:
                    os.chmod(path, st.st_mode & ~0o022)
            except OSError:
                pass
    try:
        st = os.stat(cache)
        if st.st_uid != me:
            raise JudgeError(f"{cache}: the compilation cache is not owned by the grader's user")
        if st.st_mode & 0o022:
            os.chmod(cache, st.st_mode & ~0o022)
    except FileNotFoundError:
        pass
