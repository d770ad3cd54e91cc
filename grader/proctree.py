"""Processes, owners and memory cgroups: find every process of a child tree, measure it, kill it.

Used by the sandbox; nothing here knows about submissions or verdicts.
"""
from __future__ import annotations

import os
import signal
import stat
import time
from pathlib import Path

CGROUP_ROOTS = (Path("/sys/fs/cgroup"), Path("/sys/fs/cgroup/memory"))


HAVE_PROC = os.path.isdir("/proc/self")


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


def kill_uid(uid: int) -> None:
    """Kill every process the slot uid owns, until none is left (forks race with the scan)."""
    for _ in range(100):
        pids = pids_of_uid(uid)
        if not pids:
            return
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        time.sleep(0.01)


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


def remove_files_of(uid: int) -> None:
    """Files a submission left in the machine's shared scratch places (uid runs; call after kill_uid)."""
    for path, st in _shared_entries(uid):      # deepest first, so its folders are empty by then
        try:
            (os.rmdir if stat.S_ISDIR(st.st_mode) else os.unlink)(path)
        except OSError:
            pass    # a folder still holding someone else's file: theirs stays, so does the folder


def make_cgroup(name: str, memory_mb: int) -> Path | None:
    """A memory cgroup (v2, else v1) for the child tree, or None where none is writable."""
    limit = str(memory_mb << 20)
    for root in CGROUP_ROOTS:
        v2 = (root / "cgroup.controllers").exists()
        if not v2 and not (root / "memory.limit_in_bytes").exists():
            continue
        path = root / "lax-scan-grader" / name
        try:
            path.mkdir(parents=True, exist_ok=True)
            if v2:
                (path / "memory.max").write_text(limit)
                (path / "memory.swap.max").write_text("0") if (path / "memory.swap.max").exists() else None
            else:
                (path / "memory.limit_in_bytes").write_text(limit)
            return path
        except OSError:
            try:
                path.rmdir()
            except OSError:
                pass
    return None


def cgroup_pids(cg: Path) -> set[int]:
    try:
        return {int(p) for p in (cg / "cgroup.procs").read_text().split()}
    except (OSError, ValueError):
        return set()


def cgroup_usage(cg: Path) -> int | None:
    """Memory the tree holds that only a kill frees: anonymous + tmpfs/shm pages. Page cache of files
    it wrote is excluded (the kernel reclaims it before an OOM kill; the scratch watchdog bounds those
    files), so a submission writing its own scratch files is not mistaken for an MLE."""
    try:
        stat = dict(line.split() for line in (cg / "memory.stat").read_text().splitlines())
        for anon, shmem in (("anon", "shmem"), ("total_rss", "total_shmem")):
            if anon in stat:
                return int(stat[anon]) + int(stat.get(shmem, 0))
    except (OSError, ValueError):
        pass
    for name in ("memory.current", "memory.usage_in_bytes"):
        try:
            return int((cg / name).read_text())
        except (OSError, ValueError):
            continue
    return None


def cgroup_peak(cg: Path) -> int | None:
    for name in ("memory.peak", "memory.max_usage_in_bytes"):
        try:
            return int((cg / name).read_text())
        except (OSError, ValueError):
            continue
    return None


def cgroup_oom_count(cg: Path | None) -> int:
    """How often the kernel hit this cgroup's memory limit so far (compare before/after a child)."""
    if cg is None:
        return 0
    try:
        if (cg / "memory.events").exists():
            events = dict(line.split() for line in (cg / "memory.events").read_text().splitlines())
            return int(events.get("oom_kill", 0)) + int(events.get("max", 0))
        return int((cg / "memory.failcnt").read_text())
    except (OSError, ValueError):
        return 0
