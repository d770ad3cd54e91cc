"""Processes and what they leave: find every process of a child tree or slot uid, measure it, kill
it, and remove the files and SysV IPC objects a slot uid left in shared places. Whatever is done to a
slot's things is done by a helper holding only that slot's uid (as_uid), never by root.

Used by the sandbox; nothing here knows about submissions or verdicts.
"""
from __future__ import annotations

import ctypes
import os
import signal
import stat
import time
from pathlib import Path

HAVE_PROC = os.path.isdir("/proc/self")
_LIBC = ctypes.CDLL(None, use_errno=True)


def _ps_table() -> dict[int, tuple[int, int]]:
    """pid -> (ppid, rss bytes) from ps(1): systems without /proc (macOS running the handout)."""
    import subprocess
    try:
        text = subprocess.run(["ps", "-A", "-o", "pid=,ppid=,rss="], capture_output=True, text=True,
                              timeout=5).stdout
    except (OSError, subprocess.SubprocessError):
        return {}
    out = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 3 and all(p.isdigit() for p in parts):
            out[int(parts[0])] = (int(parts[1]), int(parts[2]) * 1024)
    return out


def rss_bytes(pids: set[int]) -> int:
    """Resident memory of these processes."""
    if not HAVE_PROC:
        table = _ps_table()
        return sum(table[p][1] for p in pids if p in table)
    page, total = os.sysconf("SC_PAGE_SIZE"), 0
    for pid in pids:
        try:
            total += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * page
        except (OSError, ValueError, IndexError):
            pass
    return total


def pss_bytes(pids: set[int], stop_above: int | None = None) -> int:
    """Proportional set size of these processes: a page shared by n of them counts 1/n in each, so
    a fork swarm's copy-on-write pages count once (RSS counts them once per process). ~2.5 ms per
    JAX-sized process, so callers confirm with it only past a limit; the sum stops early once it
    passes stop_above. Falls back to RSS for a process without smaps_rollup (kernel < 4.14)."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/smaps_rollup", "rb") as f:
                for line in f:
                    if line.startswith(b"Pss:"):
                        total += int(line.split()[1]) * 1024
                        break
        except FileNotFoundError:
            total += rss_bytes({pid}) if os.path.exists(f"/proc/{pid}") else 0
        except (OSError, ValueError, IndexError):
            pass
        if stop_above is not None and total > stop_above:
            break
    return total


def ppid_map() -> dict[int, int]:
    if not HAVE_PROC:
        return {pid: ppid for pid, (ppid, _rss) in _ps_table().items()}
    out = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
                out[int(entry)] = int(stat[stat.rindex(")") + 2:].split()[1])
            except (OSError, ValueError, IndexError):
                pass
    return out


def descendants(roots: set[int]) -> set[int]:
    """The live processes among roots and everything below them. Pass the pids found last time as
    roots too: a grandchild whose parent died is reparented away, and only that memory still finds it."""
    parents = ppid_map()
    tree, grew = set(roots), True
    while grew:
        new = {p for p, pp in parents.items() if pp in tree and p not in tree}
        tree |= new
        grew = bool(new)
    return {p for p in tree if p in parents}


def pids_of_uid(uid: int) -> set[int]:
    """Live (non-zombie) processes owned by uid."""
    pids = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.stat(f"/proc/{entry}").st_uid == uid:
                    stat = Path(f"/proc/{entry}/stat").read_text()
                    if stat[stat.rindex(")") + 2] != "Z":
                        pids.add(int(entry))
            except (OSError, ValueError):
                pass
    return pids


def as_uid(uid: int, work, timeout_s: float = 10.0) -> bool:
    """Run work() in a forked helper holding only the slot uid's rights, so it can do nothing the
    submission could not have done itself (a link swapped in by a concurrent process cannot make
    root act on a file of root's). True when the helper finished cleanly within timeout_s."""
    parent = os.getpid()
    pid = os.fork()
    if pid == 0:                     # the helper: no imports, no return to the caller's code
        code = 1
        try:
            signal.signal(signal.SIGINT, signal.SIG_IGN)      # the caller's handlers are not its
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            os.setgroups([])
            os.setgid(uid)
            os.setuid(uid)
            _LIBC.prctl(1, signal.SIGKILL)   # PR_SET_PDEATHSIG (after setuid, which clears it): it dies
            if os.getppid() != parent:       # with a grader killed mid-cleanup, never outlives it
                os._exit(1)
            work()
            code = 0
        finally:
            os._exit(code)
    deadline = time.monotonic() + timeout_s
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status) == 0
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)     # our own unreaped child: its pid cannot have been reused
            os.waitpid(pid, 0)
            return False
        time.sleep(0.002)


def _kill_all_of_own_uid() -> None:
    try:
        os.kill(-1, signal.SIGKILL)      # every process this uid may signal, atomically, never itself
    except ProcessLookupError:
        pass


def kill_uid(uid: int, rounds: int = 100) -> bool:
    """Kill every process the slot uid owns, by a helper running as that uid that signals -1: no
    scan-then-kill by pid, which a pid reused by another user's process could turn against it.
    Repeated while processes remain (one forking between rounds, or one stuck in the kernel). The
    dead are left for their reaper: the sandbox that owns the uid reaps its own (reap_orphans)."""
    for _ in range(rounds):
        if not pids_of_uid(uid):
            return True
        as_uid(uid, _kill_all_of_own_uid)
        time.sleep(0.005)
    return not pids_of_uid(uid)


def become_subreaper() -> bool:
    """Make this process the reaper of its orphaned descendants (PR_SET_CHILD_SUBREAPER).

    A fork swarm's processes are orphans once their parents die; a kernel reparents them to init,
    and an init that never reaps (a container's or a VM's, as measured on this machine kind) leaves
    them zombies forever. A zombie still counts toward its uid's RLIMIT_NPROC, so the next child
    started at that uid could not even start a thread, and every zombie holds a pid of the machine.
    Reparented here, they are reaped by reap_orphans."""
    return HAVE_PROC and _LIBC.prctl(36, 1, 0, 0, 0) == 0


def reap_orphans(uid: int) -> int:
    """Reap the zombie children of this process owned by uid (a slot's orphans, reparented here).
    Call it only when no Popen of this process still waits for a child of that uid: its status
    would be lost. Returns how many were reaped."""
    if not HAVE_PROC:
        return 0
    me, reaped = os.getpid(), 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            if os.stat(f"/proc/{entry}").st_uid != uid:
                continue
            stat = Path(f"/proc/{entry}/stat").read_text()
            state, ppid = stat[stat.rindex(")") + 2:].split()[:2]
        except (OSError, ValueError):
            continue
        if state == "Z" and int(ppid) == me:
            try:
                if os.waitpid(int(entry), os.WNOHANG)[0]:
                    reaped += 1
            except ChildProcessError:
                pass
    return reaped


SHARED_SCRATCH = ("/tmp", "/var/tmp", "/dev/shm", "/run/lock", "/dev/mqueue")


def _shared_entries(uid: int):
    """Entries a slot uid made in the machine's world-writable places, deepest first.

    It can only create entries in a world-writable folder or below one it owns, so only those are
    walked (never a root-owned tree such as a pytest temp folder), and links are never followed."""
    stack = [Path(top) for top in SHARED_SCRATCH]
    found: list[tuple[str, os.stat_result]] = []
    while stack:
        folder = stack.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            try:
                st = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            is_dir = entry.is_dir(follow_symlinks=False)
            if is_dir and (st.st_uid == uid or st.st_mode & 0o002):
                stack.append(Path(entry.path))
            if st.st_uid == uid:
                found.append((entry.path, st))
    return sorted(found, key=lambda e: -e[0].count("/"))


def shared_usage(uid: int) -> tuple[int, int]:
    """(bytes, entries) a slot uid holds in the shared scratch places; the scratch watchdog bounds it."""
    entries = _shared_entries(uid)
    return sum(st.st_blocks * 512 for _p, st in entries), len(entries)


def _purge(folder: int, uid: int, depth: int = 0) -> None:
    """Remove what uid owns below the folder open as `folder`, deepest first, by names relative to
    open folders (never a path, never through a link). Runs as uid (see remove_files_of)."""
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return
    for entry in entries:
        try:
            st = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        is_dir = stat.S_ISDIR(st.st_mode)
        if is_dir and (st.st_uid == uid or st.st_mode & 0o002) and depth < 200:
            if st.st_uid == uid:
                try:             # its owner may have made it unreadable; as its owner we may undo that
                    os.chmod(entry.name, 0o700, dir_fd=folder)
                except OSError:
                    pass
            try:
                sub = os.open(entry.name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=folder)
            except OSError:
                sub = -1
            if sub >= 0:
                same = os.fstat(sub)
                if (same.st_dev, same.st_ino) == (st.st_dev, st.st_ino):   # not swapped since the stat
                    _purge(sub, uid, depth + 1)
                os.close(sub)
        if st.st_uid == uid:
            try:
                if is_dir:
                    os.rmdir(entry.name, dir_fd=folder)
                else:
                    os.unlink(entry.name, dir_fd=folder)
            except OSError:
                pass    # a folder still holding someone else's file: theirs stays, so does the folder


def _purge_shared_scratch(uid: int) -> None:
    for top in SHARED_SCRATCH:
        try:
            folder = os.open(top, os.O_RDONLY | os.O_DIRECTORY)
        except OSError:
            continue
        _purge(folder, uid)
        os.close(folder)


def remove_files_of(uid: int, timeout_s: float = 30.0) -> bool:
    """Files a submission left in the machine's shared scratch places (call after kill_uid). A
    helper running as uid walks and deletes: it can remove nothing the uid could not."""
    return as_uid(uid, lambda: _purge_shared_scratch(uid), timeout_s)


_SYSV = {"shm": "shmctl", "msg": "msgctl", "sem": "semctl"}


def _ipc_rows():
    """(kind, the id column's name, row) for every SysV IPC object in this IPC namespace."""
    for kind in _SYSV:
        try:
            lines = Path(f"/proc/sysvipc/{kind}").read_text().splitlines()
        except OSError:
            continue
        head = lines[0].split() if lines else []
        for line in lines[1:]:
            yield kind, (head[1] if len(head) > 1 else ""), dict(zip(head, line.split()))


def ipc_of(uid: int) -> list[tuple[str, int]]:
    """(kind, id) of the SysV shared memory segments, queues and semaphore sets that uid owns or
    made, in this IPC namespace (the host's, for uid isolation)."""
    found = []
    for kind, id_key, row in _ipc_rows():
        try:
            if uid in (int(row["uid"]), int(row["cuid"])):
                found.append((kind, int(row[id_key])))
        except (KeyError, ValueError, IndexError):
            continue
    return found


def ipc_owners() -> set[int]:
    """Every uid that owns or made a SysV IPC object in this namespace."""
    found = set()
    for _kind, _id_key, row in _ipc_rows():
        found |= {int(row[k]) for k in ("uid", "cuid") if row.get(k, "").isdigit()}
    return found


def _remove_own_ipc(uid: int) -> None:
    libc = _LIBC                         # loaded before the fork: no loader work in the helper
    for kind, ident in ipc_of(uid):
        # IPC_RMID (0): a segment still attached goes when its last user detaches (all are dead).
        if kind == "sem":
            libc.semctl(ident, 0, 0)
        else:
            getattr(libc, _SYSV[kind])(ident, 0, None)


def remove_ipc_of(uid: int) -> bool:
    """SysV IPC objects a slot uid left: they outlive every process and stay charged to the slot's
    memory cgroup. Removed by a helper running as uid (owner or creator may remove)."""
    if not ipc_of(uid):
        return True
    return as_uid(uid, lambda: _remove_own_ipc(uid))
