"""Start the runner under the best isolation available, apply the limits, and kill the whole tree.

Levels (recorded in the verdict's environment.isolation):
  bwrap    bubblewrap: new user/PID/IPC/UTS/net/cgroup namespaces, uid 65534 inside, read-only system,
           only the venv and the runner visible, a size-bounded private /tmp. Started from an
           unprivileged host uid when the grader is root, so the sandbox never holds root.
  uid      the grader is root but bubblewrap cannot start (e.g. an unprivileged Docker container):
           an unprivileged uid, secrets made unreadable to others, sockets refused by seccomp, and
           where the kernel has Landlock a file-system allowlist (grader/host/landlock.py): it reads only
           the system, its venv, its runner, its submission and `extra_read`, writes only its scratch.
  process  neither (a student's laptop): the limits below, none of the guarantees.
Always: own session, rlimits, PR_SET_PDEATHSIG, a memory cgroup where one is writable, the child's
environment from a whitelist. Each Sandbox draws its own uid at random (isolation.UidClaim), so
every process, file and SysV IPC object its children made can be found by their owner and removed
(by a helper holding that uid, never by root: see proctree), no other sandbox on the kernel shares
its RLIMIT_NPROC count or can signal it, and its scratch folder is readable by that uid alone.
The compilation cache is never readable by a uid on disk: a Sandbox given `cache=` gets a private
copy in its scratch that only its own uid can read (at bwrap bound to /cache).
"""
from __future__ import annotations

import ctypes
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from .. import BUNDLE_ROOT, JudgeError
from ..problem import Limits
from . import landlock, zygote
from .isolation import (Isolation, UidClaim, bwrap_argv, child_env, probe, rlimits, secure_bundle,  # noqa: F401
                        venv_python)
from .jaxcache import private_copy
from .memcg import cgroup_oom_count, make_cgroup, remove_cgroup
from .proctree import (become_subreaper, kill_uid, pids_of_uid, reap_orphans,  # noqa: F401 (tests use them here)
                       remove_files_of, remove_ipc_of)
from .watch import SCRATCH_FILES, TreeWatch  # noqa: F401

# The watchdog kills at memory_mb of anonymous + shm memory; the cgroup's hard limit sits this much
# higher, for the mapped libraries and page cache it also charges, so a hog meets the watchdog (a
# clean MLE) before the kernel's reclaim stalls it at the hard limit (measured: seconds of thrashing).
CGROUP_SLACK_MB = 128
_libc = ctypes.CDLL(None, use_errno=True)


@dataclass
class Child:
    """One running runner process tree."""
    proc: subprocess.Popen
    result_fd: int
    output_fd: int
    uid: int | None
    cgroup: Path | None
    oom_base: int = 0
    started: float = field(default_factory=time.monotonic)
    pids_seen: set[int] = field(default_factory=set)


class Sandbox(TreeWatch):
    """Owns a uid, a scratch folder, and at most one running child at a time.

    `extra_read`: folders or files this sandbox's children may read besides the system, the venv,
    the runner and the submission (Landlock at uid, read-only binds at the same path at bwrap); the
    uid must reach them (o+x on the parents, readable by it). `cache`: the compilation cache, copied
    for this sandbox's uid alone; a Sandbox made without it cannot read any cache at any level."""

    def __init__(self, limits: Limits, isolation: Isolation | None = None, cache: Path | None = None,
                 secrets_root: Path | None = None, cache_writable: bool = False,
                 extra_read: tuple[Path, ...] = ()):
        self.limits = limits
        self.cache = cache
        self.cache_writable = cache_writable
        self.extra_read = tuple(Path(p).resolve() for p in extra_read)
        self.is_root = os.geteuid() == 0
        self.isolation: Isolation = isolation or os.environ.get("GRADER_ISOLATION") or probe()  # type: ignore
        if self.isolation not in ("bwrap", "uid", "process"):
            raise JudgeError(f"unknown isolation level {self.isolation!r}")
        if self.isolation == "uid" and not self.is_root:
            raise JudgeError("uid isolation needs a root grader")
        if cache_writable and self.isolation != "process":
            raise JudgeError("only trusted code, run without a sandbox uid, may write the compilation cache")
        self._claim = UidClaim.take() if self.is_root and self.isolation != "process" else None
        self.uid = self._claim.uid if self._claim is not None else None
        if self.uid is not None:     # the slot's orphans die here, not as zombies under a lazy init
            become_subreaper()
        self.scratch = Path(tempfile.mkdtemp(prefix="lax-grader-"))
        if self.uid is not None and cache is not None and cache.is_dir():
            self.cache = private_copy(cache, self.scratch / "cache", self.uid)
        self.landlock_abi = landlock.abi() if self.isolation == "uid" else None
        self.child: Child | None = None
        self._pss = (0.0, 0, 0)        # (when, rss then, pss then): the last PSS confirmation
        self._ruleset: landlock.Ruleset | None = None
        self._staged_from: Path | None = None
        # GRADER_NO_CGROUP=1 forces the RLIMIT_AS + RSS-watchdog fallback (what a machine without a
        # writable memory cgroup gets), so both ways to MLE stay tested.
        use_cgroup = self.is_root and os.environ.get("GRADER_NO_CGROUP", "") in ("", "0")
        name = f"uid-{self.uid}" if self.uid is not None else f"pid-{os.getpid()}-{id(self):x}"  # one per Sandbox
        self.cgroup = make_cgroup(name, limits.memory_mb + CGROUP_SLACK_MB) if use_cgroup else None
        if self.isolation == "uid":
            secure_bundle(BUNDLE_ROOT)
            if secrets_root is not None and secrets_root != BUNDLE_ROOT:
                secure_bundle(secrets_root)

    # -- uid ---------------------------------------------------------------------------------
    @staticmethod
    def _clean_slot(uid: int) -> None:
        """Every process (its dead reaped), shared-scratch file and SysV IPC object of the slot uid,
        gone. Only between children: a running child's status belongs to its Popen."""
        kill_uid(uid)
        reap_orphans(uid)
        remove_files_of(uid)
        remove_ipc_of(uid)

    def _for_slot(self, path: Path, mode: int) -> None:
        """Readable by this slot's uid only (root:slot gid; the child's gid is its uid): another
        slot's submission, a concurrent student's, must not read this one's code."""
        if self.uid is not None:
            os.chown(path, -1, self.uid)
        os.chmod(path, mode if self.uid is not None else mode & 0o700)

    # -- start -------------------------------------------------------------------------------
    def stage(self, source: bytes | None, child_dir: Path, job: dict, script: str = "runner.py") -> dict:
        """Lay out the scratch folder for one child: the sandbox-side package (grader/child) and, for
        the runner, the submission (the executor gets none: source None). Returns the job as the child
        will see it."""
        if self.uid is not None:     # what a previous child of this submission left in shared places
            self._clean_slot(self.uid)
        # The slot uid may pass through the scratch folder (bwrap binds from it) but not list it.
        os.chmod(self.scratch, 0o711 if self.uid is not None else 0o700)
        for sub in ("judge", "submission", "work", "home", "tmp"):
            shutil.rmtree(self.scratch / sub, ignore_errors=True)
            (self.scratch / sub).mkdir(mode=0o700)
        for sub in ("judge", "submission"):
            self._for_slot(self.scratch / sub, 0o750)
        self._staged_from = Path(child_dir).resolve()
        for path in sorted(child_dir.glob("*.py")):
            shutil.copyfile(path, self.scratch / "judge" / path.name)
            self._for_slot(self.scratch / "judge" / path.name, 0o640)
        inside = Path("/") if self.isolation == "bwrap" else self.scratch
        if source is not None:
            (self.scratch / "submission" / "solution.py").write_bytes(source)
            self._for_slot(self.scratch / "submission" / "solution.py", 0o640)
            job = {**job, "submission": str(inside / "submission" / "solution.py")}
        if self.isolation == "uid":
            job["seccomp"] = True      # uid mode's only network barrier: the runner loads it first
        if self.cache is not None and self.cache.is_dir():
            job["compilation_cache"] = "/cache" if self.isolation == "bwrap" else str(self.cache)
            job["cache_writable"] = self.cache_writable
        if self.uid is not None:
            for sub in ("work", "home", "tmp"):
                os.chown(self.scratch / sub, self.uid, self.uid)
                os.chmod(self.scratch / sub, 0o700)
        return job

    def start(self, job: dict, stdin_fd: int | None = None, script: str = "runner.py") -> Child:
        """Start the child's `script` (from the staged judge folder); `stdin_fd` becomes its fd 0
        (the executor's requests), else /dev/null. At `uid` and `process` the runner and the executor
        are forked from the fork server (grader/host/zygote.py), made the same process as below."""
        import json
        result_r, result_w = os.pipe()
        out_r, out_w = os.pipe()
        job = {**job, "result_fd": result_w}
        job_file = self.scratch / "judge" / "job.json"
        job_file.write_text(json.dumps(job))
        self._for_slot(job_file, 0o640)
        inside_judge = "/judge" if self.isolation == "bwrap" else str(self.scratch / "judge")
        py = "/venv/bin/python" if self.isolation == "bwrap" else str(venv_python())
        argv = [py, "-I", f"{inside_judge}/{script}", f"{inside_judge}/job.json"]
        if self.isolation == "bwrap":
            argv = bwrap_argv(self.scratch, self.limits, self.cache, self.extra_read) + argv
        cwd = None if self.isolation == "bwrap" else str(self.scratch / "work")
        self._ruleset = None
        try:
            # Built per child: its rules hold the inodes of folders stage() has just made afresh.
            self._ruleset = landlock.Ruleset.build(self._grants()) if self.landlock_abi else None
            proc = None    # the bundle's runner and executor, forked where they can be (not at bwrap)
            if self.isolation != "bwrap" and script in zygote.SCRIPTS and self._staged_from == zygote.CHILD:
                request = {"script": script[:-3], "argv": argv[2:], "cwd": cwd, "env": self._env(),
                           "uid": self.uid, "cgroup": str(self.cgroup) if self.cgroup is not None else None,
                           "rlimits": rlimits(self.limits, self.uid), "result_fd": result_w,
                           "landlock": self._ruleset is not None, "cpus": sorted(os.sched_getaffinity(0))}
                proc = zygote.fork(request, stdin_fd, out_w, result_w, self._ruleset and self._ruleset.fd, argv)
            if proc is None:
                proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL if stdin_fd is None else stdin_fd,
                                        stdout=out_w, stderr=out_w,
                                        pass_fds=(result_w,), cwd=cwd, env=self._env(),
                                        preexec_fn=self._preexec, close_fds=True)
        except (OSError, subprocess.SubprocessError) as e:
            for fd in (result_r, result_w, out_r, out_w):
                os.close(fd)
            raise JudgeError(f"could not start the runner ({self.isolation}): {e}") from None
        finally:
            if self._ruleset is not None:
                self._ruleset.close()
                self._ruleset = None
        os.close(result_w)
        os.close(out_w)
        self.child = Child(proc, result_r, out_r, self.uid, self.cgroup, cgroup_oom_count(self.cgroup))
        self.oom_killed = False
        self._pss = (0.0, 0, 0)
        return self.child

    def _grants(self) -> list[landlock.Grant]:
        """What a uid child may read and write (see landlock.SYSTEM_READ for the system part)."""
        read = [Path(sys.prefix).resolve(), Path(sys.base_prefix).resolve(),
                Path(os.path.realpath(sys.executable)).parent, self.scratch / "judge",
                self.scratch / "submission", *self.extra_read]
        if self.cache is not None:
            read.append(self.cache)
        return landlock.child_grants(read, [self.scratch / sub for sub in ("work", "home", "tmp")])

    def _env(self) -> dict[str, str]:
        if self.isolation == "bwrap":
            return child_env("/tmp", "/tmp")
        return child_env(str(self.scratch / "home"), str(self.scratch / "tmp"))

    def _preexec(self) -> None:
        """In the forked child, before exec: session, death signal, cgroup, limits, then the uid
        (grader/child/zygote.py's become() does the same for a child of the fork server)."""
        os.setsid()
        if self.cgroup is not None:
            (self.cgroup / "cgroup.procs").write_text(str(os.getpid()))
        for what, soft, hard in rlimits(self.limits, self.uid):
            try:
                resource.setrlimit(what, (soft, hard))
            except (ValueError, OSError):
                if self.uid is not None:  # a sandbox must have every limit; a laptop gets what it allows
                    raise
        if self.uid is not None:
            os.setgroups([])
            os.setgid(self.uid)
            os.setuid(self.uid)
        if hasattr(_libc, "prctl"):  # Linux: PR_SET_PDEATHSIG, after setuid (which clears it)
            _libc.prctl(1, signal.SIGKILL)
        if self._ruleset is not None:    # last: it raises rather than let the child run unconfined
            self._ruleset.enforce()

    # -- end ---------------------------------------------------------------------------------
    def kill(self) -> int | None:
        """SIGKILL the whole tree and reap the direct child; returns its wait status code."""
        child = self.child
        if child is None:
            return None
        if child.uid is not None:    # bwrap too runs as the slot uid: everything dies by owner
            kill_uid(child.uid)
        for _ in range(0 if child.uid is not None else 50):    # no uid: by cgroup or ancestry
            pids = self.tree_pids() | ({child.proc.pid} if child.proc.poll() is None else set())
            if not pids:
                break
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
            try:
                os.killpg(child.proc.pid, signal.SIGKILL)
            except OSError:
                pass
            time.sleep(0.01)
        if child.proc.poll() is None:
            child.proc.kill()        # our own unreaped child: its pid cannot belong to anyone else
        code = child.proc.wait()
        self.oom_killed = self.hit_memory_limit()    # read while the child is still ours
        if child.uid is not None:    # the tree's dead, reparented here (after the wait: never the child's own status)
            reap_orphans(child.uid)
        for fd in (child.result_fd, child.output_fd):
            try:
                os.close(fd)
            except OSError:
                pass
        self.child = None
        return code

    def close(self) -> None:
        self.kill()
        if self.uid is not None:
            self._clean_slot(self.uid)
        shutil.rmtree(self.scratch, ignore_errors=True)
        if self.cgroup is not None:
            remove_cgroup(self.cgroup)
        if self._claim is not None:      # last: until now no other sandbox can draw this uid
            self._claim.release()
            self._claim = None

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
