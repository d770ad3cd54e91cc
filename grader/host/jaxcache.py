"""JAX's persistent compilation cache as the sandbox uses it: where it is, and keeping it safe.

Warmed by trusted code (`python -m grader warm`); graded children only read it, and only a Sandbox
given it, through a private copy for that Sandbox's uid (the original stays the grader's alone).
Before copying, entries the grader does not own are dropped, so a submission cannot plant a program
that the next student's run would load.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

from .. import BUNDLE_ROOT, JudgeError


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


def private_copy(cache: Path, copy: Path, uid: int) -> Path | None:
    """A copy of the cache that uid alone may read (root:uid, 0750/0640; the caller puts it inside a
    folder others cannot list). The original is made the grader's alone (0700), so no sandbox uid
    reads it directly: a Sandbox given the cache reads its copy, one not given it reads none.
    ~100 ms for the warmed reference's 1.3 MiB. None (grading without a cache, slower) on failure."""
    harden_cache(cache)          # entries the grader does not own are dropped first
    try:
        os.chmod(cache, os.stat(cache).st_mode & 0o700)
        shutil.copytree(cache, copy, symlinks=True, ignore_dangling_symlinks=True)
        for dirpath, dirs, files in os.walk(copy):
            for name in dirs + files + [""]:
                path = os.path.join(dirpath, name) if name else dirpath
                if os.path.islink(path):
                    os.unlink(path)        # harden_cache dropped them; one made since is not ours
                    continue
                os.chown(path, 0, uid)
                os.chmod(path, 0o750 if os.path.isdir(path) else 0o640)
    except OSError:
        shutil.rmtree(copy, ignore_errors=True)
        return None
    return copy


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
