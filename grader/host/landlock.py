"""Landlock (Linux >= 5.13): a file-system allowlist for `uid` children, with no privilege needed.

In `uid` mode a child shares the host's file system: without this, any world-readable file on the
machine (another checkout of the bundle, with its reference and golden data) is readable by the slot
uid. The grader builds a ruleset before the fork (`Ruleset.build`); the child's preexec applies it
(`Ruleset.enforce`, after setuid, with PR_SET_NO_NEW_PRIVS) so that the runner reads only what it was
given and writes only its scratch. The strongest access set the kernel's ABI knows is handled:
  ABI 1 file-system rights   2 REFER (renames/links across folders)   3 TRUNCATE
  ABI 4 TCP bind/connect (no rule: all denied)   5 IOCTL on devices
  ABI 6 scoping: no abstract unix socket or signal reaches a process outside the child's domain
  ABI 7 only adds audit-log flags: nothing more to deny.
Where the kernel has none, `abi()` is None: recorded in the verdict (environment.landlock) and the
level falls back to uid + permissions (docs/sandbox-hardening.md says what that loses).
"""
from __future__ import annotations

import ctypes
import os
import platform
from dataclasses import dataclass
from pathlib import Path

# Syscall numbers: the same on every architecture (allocated after the tables were unified).
_CREATE, _ADD_RULE, _RESTRICT = 444, 445, 446
_VERSION = 1                       # LANDLOCK_CREATE_RULESET_VERSION
_PATH_BENEATH = 1                  # LANDLOCK_RULE_PATH_BENEATH
_PR_SET_NO_NEW_PRIVS = 38
_libc = ctypes.CDLL(None, use_errno=True)

EXECUTE, WRITE_FILE, READ_FILE, READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
REMOVE_DIR, REMOVE_FILE, MAKE_CHAR, MAKE_DIR, MAKE_REG = 1 << 4, 1 << 5, 1 << 6, 1 << 7, 1 << 8
MAKE_SOCK, MAKE_FIFO, MAKE_BLOCK, MAKE_SYM = 1 << 9, 1 << 10, 1 << 11, 1 << 12
REFER, TRUNCATE, IOCTL_DEV = 1 << 13, 1 << 14, 1 << 15
NET_BIND_TCP, NET_CONNECT_TCP = 1 << 0, 1 << 1
SCOPE_ABSTRACT_UNIX_SOCKET, SCOPE_SIGNAL = 1 << 0, 1 << 1
# Rights a rule on a regular file (not a folder) may carry; anything else there is EINVAL.
FILE_RIGHTS = EXECUTE | WRITE_FILE | READ_FILE | TRUNCATE | IOCTL_DEV
READ = EXECUTE | READ_FILE | READ_DIR
WRITE = READ_FILE | READ_DIR | WRITE_FILE | REMOVE_DIR | REMOVE_FILE | MAKE_DIR | MAKE_REG | MAKE_SYM | MAKE_FIFO \
    | MAKE_SOCK | REFER | TRUNCATE


class _RulesetAttr(ctypes.Structure):
    _fields_ = [("handled_access_fs", ctypes.c_uint64), ("handled_access_net", ctypes.c_uint64),
                ("scoped", ctypes.c_uint64)]


class _PathBeneath(ctypes.Structure):
    _pack_ = 1                     # the kernel's struct is __attribute__((packed)): 12 bytes
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


def _syscall(*args) -> int:
    if not hasattr(_libc, "syscall"):
        return -1
    return _libc.syscall(*args)


_ABI: int | None | bool = False


def abi() -> int | None:
    """The kernel's Landlock ABI version, or None (not Linux, too old, or disabled at boot)."""
    global _ABI
    if _ABI is False:
        _ABI = None
        if platform.system() == "Linux":
            got = _syscall(ctypes.c_long(_CREATE), None, ctypes.c_size_t(0), ctypes.c_uint32(_VERSION))
            _ABI = got if got > 0 else None
    return _ABI     # type: ignore[return-value]


def handled(version: int) -> tuple[int, int, int]:
    """(file-system rights, network rights, scopes) that ABI `version` can deny."""
    fs = (1 << 13) - 1
    if version >= 2:
        fs |= REFER
    if version >= 3:
        fs |= TRUNCATE
    if version >= 5:
        fs |= IOCTL_DEV
    net = NET_BIND_TCP | NET_CONNECT_TCP if version >= 4 else 0
    scoped = SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL if version >= 6 else 0
    return fs, net, scoped


@dataclass(frozen=True)
class Grant:
    path: Path
    access: int          # READ or WRITE (trimmed to what the ABI handles and the file type allows)


@dataclass
class Ruleset:
    """A built ruleset: an open file descriptor (close-on-exec) the child's preexec enforces."""
    fd: int
    abi: int

    @classmethod
    def build(cls, grants: list[Grant]) -> Ruleset | None:
        """None where the kernel has no Landlock. A path that does not exist is skipped (a system
        without /lib64); a path that exists and cannot be added is an OSError (the judge's fault)."""
        version = abi()
        if version is None:
            return None
        fs, net, scoped = handled(version)
        attr = _RulesetAttr(fs, net, scoped)
        fd = _syscall(ctypes.c_long(_CREATE), ctypes.byref(attr), ctypes.c_size_t(ctypes.sizeof(attr)),
                      ctypes.c_uint32(0))
        if fd < 0:
            raise OSError(ctypes.get_errno(), f"landlock_create_ruleset: {os.strerror(ctypes.get_errno())}")
        try:
            for grant in grants:
                _add(fd, grant, fs)
        except BaseException:
            os.close(fd)
            raise
        return cls(fd, version)

    def enforce(self) -> None:
        """In the forked child (after setuid): no new privileges, then the domain. Raises on failure
        so the child never runs unconfined."""
        if _libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS)")
        if _syscall(ctypes.c_long(_RESTRICT), ctypes.c_int(self.fd), ctypes.c_uint32(0)) != 0:
            raise OSError(ctypes.get_errno(), "landlock_restrict_self")

    def close(self) -> None:
        try:
            os.close(self.fd)
        except OSError:
            pass


def _add(ruleset_fd: int, grant: Grant, fs: int) -> None:
    try:
        # O_PATH follows links: a rule on /lib (-> usr/lib) covers the folder it names.
        target = os.open(grant.path, os.O_PATH | os.O_CLOEXEC)
    except FileNotFoundError:
        return
    try:
        access = grant.access & fs
        if not os.path.isdir(f"/proc/self/fd/{target}"):
            access &= FILE_RIGHTS
        rule = _PathBeneath(access, target)
        if _syscall(ctypes.c_long(_ADD_RULE), ctypes.c_int(ruleset_fd), ctypes.c_int(_PATH_BENEATH),
                    ctypes.byref(rule), ctypes.c_uint32(0)) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"landlock_add_rule {grant.path}: {os.strerror(err)}")
    finally:
        os.close(target)


# What any Python + JAX child reads on a Debian-like system besides its venv and scratch: libraries
# and the interpreter's stdlib (/usr, and /lib* which may be links into it), the loader's cache, time
# zone and name-service files, what XLA reads under /proc and /sys (CPU topology, cgroup CPU quota),
# and the harmless device nodes. Nothing of /home, /root, /work, /opt, /srv, /tmp, /var is in it.
SYSTEM_READ = ("/usr", "/lib", "/lib32", "/lib64", "/libx32", "/bin", "/sbin", "/etc/ld.so.cache",
               "/etc/localtime", "/etc/nsswitch.conf", "/etc/passwd", "/etc/group", "/etc/os-release",
               "/proc", "/sys/devices/system", "/sys/fs/cgroup", "/sys/kernel/mm/transparent_hugepage",
               "/dev/zero", "/dev/urandom", "/dev/random")
DEVICES_WRITE = ("/dev/null", "/dev/full")


def child_grants(read: list[Path], write: list[Path]) -> list[Grant]:
    """The system set plus the child's own folders (venv, runner code, submission: read; its work,
    home and tmp: write, but never execute: no binary it wrote can be exec'd)."""
    grants = [Grant(Path(p), READ) for p in SYSTEM_READ]
    grants += [Grant(Path(p), READ | WRITE_FILE | TRUNCATE) for p in DEVICES_WRITE]
    grants += [Grant(p, READ) for p in read]
    return grants + [Grant(p, WRITE) for p in write]
