"""Isolation levels: which one this machine allows, bubblewrap's command line, and the bundle's
secrets made unreadable for the `uid` level. The sandbox (sandbox.py) applies them."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Literal

from . import JudgeError
from .problem import Limits

Isolation = Literal["bwrap", "uid", "process"]
SLOT_UID_BASE = 61000          # slot N runs as uid/gid 61000+N (no passwd entry needed)
SLOTS = 64
SECRET_DIRS = ("reference", "tests", ".git", "dist")   # made o-rx in uid mode


def bwrap_argv(scratch: Path, limits: Limits, cache: Path | None) -> list[str]:
    """bubblewrap's arguments: namespaces, an unprivileged uid, read-only system, only the venv,
    the runner and the submission visible, a size-bounded /tmp."""
    # Resolved with the grader's PATH: a missing bubblewrap is the judge's failure (JE), found here.
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        raise JudgeError("bwrap isolation was asked for but bubblewrap is not on PATH (apt-get install bubblewrap)")
    argv = [bwrap, "--unshare-all", "--unshare-user", "--uid", "65534", "--gid", "65534",
            "--die-with-parent", "--new-session", "--disable-userns", "--cap-drop", "ALL",
            "--ro-bind", "/usr", "/usr", "--proc", "/proc", "--dev", "/dev",
            "--size", str(limits.scratch_mb << 20), "--tmpfs", "/tmp",
            "--ro-bind", sys.prefix, "/venv",
            "--ro-bind", str(scratch / "judge"), "/judge",
            "--ro-bind", str(scratch / "submission"), "/submission",
            "--setenv", "HOME", "/tmp", "--chdir", "/tmp"]
    for name in ("lib", "lib64", "bin", "sbin"):
        if os.path.islink(f"/{name}"):
            argv += ["--symlink", os.readlink(f"/{name}"), f"/{name}"]
        elif os.path.isdir(f"/{name}"):
            argv += ["--ro-bind", f"/{name}", f"/{name}"]
    for etc in ("/etc/ld.so.cache", "/etc/localtime", "/etc/nsswitch.conf"):
        if os.path.exists(etc):
            argv += ["--ro-bind", etc, etc]
    if cache is not None and cache.is_dir():
        argv += ["--ro-bind", str(cache), "/cache"]
    # The root is bwrap's own tmpfs, with no size bound: read-only, so only the bounded /tmp is writable.
    return argv + ["--remount-ro", "/"]


_PROBED: Isolation | None = None


def probe() -> Isolation:
    """The best level this machine allows, found once per process by starting a trivial sandbox."""
    global _PROBED
    if _PROBED is None:
        _PROBED = "uid" if os.geteuid() == 0 else "process"
        if shutil.which("bwrap"):
            uid = SLOT_UID_BASE + SLOTS  # a probe-only uid, never a slot's
            pre = (lambda: (os.setgroups([]), os.setgid(uid), os.setuid(uid))) if os.geteuid() == 0 else None
            try:
                ok = subprocess.run(["bwrap", "--unshare-all", "--unshare-user", "--ro-bind", "/", "/",
                                     "--die-with-parent", "true"], preexec_fn=pre, timeout=20,
                                    stdin=subprocess.DEVNULL, capture_output=True).returncode == 0
            except (OSError, subprocess.SubprocessError):
                ok = False
            if ok:
                _PROBED = "bwrap"
    return _PROBED


def secure_bundle(root: Path) -> None:
    """uid mode: the slot users must not read the reference, golden data, tests or history."""
    for name in SECRET_DIRS:
        p = root / name
        if p.is_dir() and p.stat().st_mode & 0o007:
            os.chmod(p, p.stat().st_mode & ~0o007)
