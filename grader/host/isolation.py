"""Isolation levels: which one this machine allows, bubblewrap's command line, the sandbox uids, the
bundle's secrets made unreadable for the `uid` level, and the CPUs a grading may use. The sandbox (sandbox.py) applies them."""
from __future__ import annotations

import fcntl
import os
import random
import resource
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Literal

from .. import JudgeError
from ..problem import Limits
from .proctree import SHARED_SCRATCH, ipc_owners, kill_uid, remove_files_of, remove_ipc_of

Isolation = Literal["bwrap", "uid", "process"]
# Every Sandbox draws its own uid/gid at random from this range (no passwd entry needed). A container
# cannot see another container's processes, and RLIMIT_NPROC and kill(-1) act on a uid across the
# whole kernel, so fixed slot numbers collided; 2^31 - 2^20 choices make a collision between two
# live sandboxes anywhere on the kernel about as likely as 1 in 2^31 per pair. Below 2^31: some
# tools still read uids as signed 32-bit numbers.
UID_RANGE = (1 << 20, 1 << 31)
FALLBACK_FLOOR = 10000         # a user namespace mapping less (rootless, userns-remap): draw above this
CLAIMS = Path("/run/lax-scan-grader")      # one flocked file per uid a grader on this /run holds
SECRET_DIRS = ("reference", "tests", ".git", "dist")   # made o-rx in uid mode


ENV_KEEP_PREFIXES = ("OPENBLAS_",)


def venv_python() -> Path:
    """The interpreter the child runs: this venv's (built from /usr/bin/python3, usable by any uid)."""
    return Path(sys.prefix) / "bin" / "python"


def child_env(home: str, tmp: str) -> dict[str, str]:
    """A child's whole environment (a whitelist, never the grader's): also the fork server's, whose
    interpreter fixes PYTHONHASHSEED and whose JAX import reads JAX_PLATFORMS for every child."""
    env = {"PATH": "/usr/bin:/bin", "HOME": home, "TMPDIR": tmp, "LANG": "C.UTF-8",
           "LC_ALL": "C.UTF-8", "JAX_PLATFORMS": "cpu", "PYTHONDONTWRITEBYTECODE": "1",
           "PYTHONHASHSEED": "0", "TF_CPP_MIN_LOG_LEVEL": "2"}
    env.update({k: v for k, v in os.environ.items() if k.startswith(ENV_KEEP_PREFIXES)})
    return env


def rlimits(lim: Limits, uid: int | None) -> list[tuple[int, int, int]]:
    """(resource, soft, hard) for a child: CPU seconds past the budget, no core, scratch-sized files,
    open files, address space; and processes where it has a slot uid (RLIMIT_NPROC counts per uid)."""
    cpu = int(lim.total_time_s) + 5
    out = [(resource.RLIMIT_CPU, cpu, cpu + 5), (resource.RLIMIT_CORE, 0, 0),
           (resource.RLIMIT_FSIZE, lim.scratch_mb << 20, lim.scratch_mb << 20),
           (resource.RLIMIT_NOFILE, lim.open_files, lim.open_files),
           (resource.RLIMIT_AS, lim.address_space_mb << 20, lim.address_space_mb << 20)]
    if uid is not None:
        out.append((resource.RLIMIT_NPROC, lim.processes, lim.processes))
    return out


def bwrap_argv(scratch: Path, limits: Limits, cache: Path | None, extra_read: tuple[Path, ...] = ()) -> list[str]:
    """bubblewrap's arguments: namespaces, an unprivileged uid, read-only system, only the venv,
    the runner, the submission and the child's own extra folders visible, a size-bounded /tmp."""
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
    for path in extra_read:               # at the same path inside: the child's job names it so
        argv += ["--ro-bind", str(path), str(path)]
    # The root is bwrap's own tmpfs, with no size bound: read-only, so only the bounded /tmp is writable.
    return argv + ["--remount-ro", "/"]


_PROBED: Isolation | None = None


def probe() -> Isolation:
    """The best level this machine allows, found once per process by starting a trivial sandbox."""
    global _PROBED
    if _PROBED is None:
        _PROBED = "uid" if os.geteuid() == 0 else "process"
        claim = UidClaim.take() if os.geteuid() == 0 else None
        if shutil.which("bwrap"):
            uid = claim.uid if claim else -1
            pre = (lambda: (os.setgroups([]), os.setgid(uid), os.setuid(uid))) if os.geteuid() == 0 else None
            try:
                ok = subprocess.run(["bwrap", "--unshare-all", "--unshare-user", "--ro-bind", "/", "/",
                                     "--die-with-parent", "true"], preexec_fn=pre, timeout=20,
                                    stdin=subprocess.DEVNULL, capture_output=True).returncode == 0
            except (OSError, subprocess.SubprocessError):
                ok = False
            if ok:
                _PROBED = "bwrap"
        if claim is not None:
            claim.release()
    return _PROBED


def secure_bundle(root: Path) -> None:
    """uid mode: the slot users must not read the reference, golden data, tests or history."""
    for name in SECRET_DIRS:
        p = root / name
        # .git is a file in a git worktree (a pointer to the main repository's folder)
        if (p.is_dir() or p.is_file()) and not p.is_symlink() and p.stat().st_mode & 0o007:
            os.chmod(p, p.stat().st_mode & ~0o007)


def _used_uids() -> set[int]:
    """Owners of every process, of the entries in the shared scratch places, and of SysV IPC objects
    this grader can see: a uid among them is someone's, never drawn."""
    used = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                used.add(os.stat(f"/proc/{entry}").st_uid)
            except OSError:
                pass
    for top in SHARED_SCRATCH:
        try:
            with os.scandir(top) as it:
                for e in it:
                    try:
                        used.add(e.stat(follow_symlinks=False).st_uid)
                    except OSError:
                        pass
        except OSError:
            pass
    return used | ipc_owners()


def _named(uid: int) -> bool:
    import grp
    import pwd
    for lookup in (pwd.getpwuid, grp.getgrgid):
        try:
            lookup(uid)
            return True
        except KeyError:
            pass
    return False


def _mapped(kind: str) -> list[tuple[int, int]]:
    """[start, end) id ranges this process's user namespace maps (all of them where none is readable)."""
    try:
        rows = [line.split() for line in Path(f"/proc/self/{kind}_map").read_text().splitlines()]
        return [(int(r[0]), int(r[0]) + int(r[2])) for r in rows if len(r) == 3]
    except (OSError, ValueError):
        return [(0, 1 << 32)]


def uid_ranges() -> list[tuple[int, int]]:
    """The [start, end) ranges uids are drawn from: UID_RANGE where the user namespace maps it (the
    uid doubles as the gid, so both maps count), else what it maps above FALLBACK_FLOOR. Empty when
    neither exists: no uid can be drawn (setup.sh refuses such a machine)."""
    def meet(a, b):
        out = []
        for lo, hi in a:
            for lo2, hi2 in b:
                if max(lo, lo2) < min(hi, hi2):
                    out.append((max(lo, lo2), min(hi, hi2)))
        return out
    both = meet(_mapped("uid"), _mapped("gid"))
    return meet(both, [UID_RANGE]) or meet(both, [(FALLBACK_FLOOR, UID_RANGE[1])])


class UidClaim:
    """A uid this grader alone uses while it holds the claim: drawn at random, never one that owns a
    process, a shared-scratch file or an IPC object now, and held by an flock on CLAIMS/uid-N so a
    grader on the same /run that dies leaves a claim the next one can recognise and sweep."""

    def __init__(self, uid: int, handle):
        self.uid, self._handle = uid, handle

    @classmethod
    def take(cls, rng: random.Random | None = None) -> UidClaim:
        CLAIMS.mkdir(mode=0o700, parents=True, exist_ok=True)
        sweep_stale_claims()
        rng = rng or random.SystemRandom()
        used, ranges = _used_uids(), uid_ranges()
        if not ranges:
            raise JudgeError("this user namespace maps no uid above 10000 for the sandbox")
        for _ in range(100):
            lo, hi = max(ranges, key=lambda r: r[1] - r[0])
            uid = rng.randrange(lo, hi)
            if uid in used or _named(uid):
                continue
            # Locked under a private name first, then linked into place: a sweeper never sees an
            # unlocked claim that is in fact live.
            tmp = CLAIMS / f".new-{os.getpid()}-{uid}"
            handle = open(tmp, "w")
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                os.link(tmp, CLAIMS / f"uid-{uid}")
            except FileExistsError:
                handle.close()
                continue
            finally:
                os.unlink(tmp)
            return cls(uid, handle)
        raise JudgeError("could not draw an unused sandbox uid in 100 tries")

    def release(self) -> None:
        if self._handle is not None:
            try:
                os.unlink(CLAIMS / f"uid-{self.uid}")
            except OSError:
                pass
            self._handle.close()
            self._handle = None


def sweep_stale_claims() -> None:
    """Claims whose grader died (the flock is free): what their uid left is killed and removed by
    a helper holding that uid, then the claim goes. A live grader's claim is never touched."""
    try:
        names = [n for n in os.listdir(CLAIMS) if n.startswith("uid-") and n[4:].isdigit()]
    except OSError:
        return
    for name in names:
        try:
            handle = open(CLAIMS / name, "r")
        except OSError:
            continue
        with handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue
            if os.fstat(handle.fileno()).st_nlink == 0:   # released between listdir and open
                continue
            uid = int(name[4:])
            kill_uid(uid)
            remove_files_of(uid)
            remove_ipc_of(uid)
            try:
                os.unlink(CLAIMS / name)
            except OSError:
                pass


def cpus_available() -> int:
    """CPUs this grading may use: its affinity mask, capped by its cgroup's CPU quota (a container's
    --cpus), SLURM's allocation and GRADER_CPUS (batch's share per worker)."""
    n = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    try:
        folder = Path("/sys/fs/cgroup") / Path(Path("/proc/self/cgroup").read_text().split("::", 1)[1]
                                                 .strip()).relative_to("/")
    except (OSError, IndexError, ValueError):
        folder = Path("/sys/fs/cgroup")
    for cg in (folder, *folder.parents):
        try:
            quota, period = (cg / "cpu.max").read_text().split()
            if quota != "max":
                n = min(n, max(1, int(quota) // int(period)))
        except (OSError, ValueError):
            pass
        if cg == Path("/sys/fs/cgroup"):
            break
    for var in ("SLURM_CPUS_PER_TASK", "GRADER_CPUS"):
        value = os.environ.get(var, "")
        if value.isdigit() and int(value) > 0:
            n = min(n, int(value))
    return n
