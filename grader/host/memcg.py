"""The child's memory cgroup: created below the grader's own cgroup (never at the hierarchy's root,
which would escape the limits the grader itself runs under), measured, and asked whether the kernel
killed something for memory. Where none can be made, the sandbox falls back to its RSS watchdog.

Used by the sandbox; nothing here knows about submissions or verdicts.
"""
from __future__ import annotations

from pathlib import Path

GROUP = "lax-scan-grader"      # one folder below the grader's cgroup holds every slot's cgroup


def _unescape(field: str) -> str:
    """mountinfo writes space, tab, newline and backslash in paths as octal escapes."""
    for code, char in (("\\040", " "), ("\\011", "\t"), ("\\012", "\n"), ("\\134", "\\")):
        field = field.replace(code, char)
    return field


def own_cgroup(cgroup_text: str | None = None, mountinfo_text: str | None = None) -> tuple[Path, bool] | None:
    """(folder of this process's memory cgroup, whether it is cgroup v2), or None when neither a v1
    `memory` hierarchy nor a v2 one is mounted here. The texts default to /proc/self's."""
    try:
        cgroup_text = Path("/proc/self/cgroup").read_text() if cgroup_text is None else cgroup_text
        mountinfo_text = Path("/proc/self/mountinfo").read_text() if mountinfo_text is None else mountinfo_text
    except OSError:
        return None
    v1 = v2 = None
    for line in cgroup_text.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        if parts[0] == "0" and parts[1] == "":
            v2 = parts[2]
        elif "memory" in parts[1].split(","):
            v1 = parts[2]
    for line in mountinfo_text.splitlines():
        left, sep, right = line.partition(" - ")
        fields, fs = left.split(), right.split()
        if not sep or len(fields) < 5 or len(fs) < 3:
            continue
        if v1 is not None and fs[0] == "cgroup" and "memory" in fs[2].split(","):
            want, is_v2 = v1, False
        elif v1 is None and v2 is not None and fs[0] == "cgroup2":
            want, is_v2 = v2, True
        else:
            continue
        # The mount shows the hierarchy from its own root (a container's mount starts at its cgroup).
        root, point = _unescape(fields[3]).rstrip("/"), Path(_unescape(fields[4]))
        if want != root and not want.startswith(root + "/"):
            continue
        return point / want[len(root):].lstrip("/"), is_v2
    return None


def _enable_memory(cg: Path) -> None:
    """v2: let cg's children have memory limits. Raises OSError when the kernel refuses (EBUSY while
    processes sit in a non-root cg, the grader's own case) or memory is not delegated here."""
    if "memory" not in (cg / "cgroup.controllers").read_text().split():
        raise OSError(f"memory controller not available in {cg}")
    if "memory" not in (cg / "cgroup.subtree_control").read_text().split():
        (cg / "cgroup.subtree_control").write_text("+memory")


def make_cgroup(name: str, memory_mb: int, parent: tuple[Path, bool] | None = None) -> Path | None:
    """A memory cgroup for the child tree below the grader's own (parent, default own_cgroup()),
    limited to memory_mb with no swap; None wherever that cannot be done (never an error)."""
    found = own_cgroup() if parent is None else parent
    if found is None:
        return None
    base, v2 = found
    group, path, limit = base / GROUP, base / GROUP / name, str(memory_mb << 20)
    try:
        if v2:
            _enable_memory(base)
        group.mkdir(exist_ok=True)
        if v2:
            _enable_memory(group)
        path.mkdir(exist_ok=True)
        if v2:
            (path / "memory.max").write_text(limit)
            if (path / "memory.swap.max").exists():
                (path / "memory.swap.max").write_text("0")
        else:
            (path / "memory.limit_in_bytes").write_text(limit)
        return path
    except OSError:
        for leftover in (path, group):      # the group only if no other slot uses it
            try:
                leftover.rmdir()
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
    """How many processes the kernel OOM-killed in this cgroup so far (compare before/after a child).
    Only kills count: merely reaching the limit (v2 `max`, v1 failcnt) also happens when page cache
    of the child's allowed scratch files is reclaimed, which is not an MLE. v1 kernels before 4.13
    have no oom_kill counter; there failcnt is the only sign left."""
    if cg is None:
        return 0
    try:
        if (cg / "memory.events").exists():
            events = dict(line.split() for line in (cg / "memory.events").read_text().splitlines())
            return int(events.get("oom_kill", 0))
        control = (cg / "memory.oom_control").read_text() if (cg / "memory.oom_control").exists() else ""
        for line in control.splitlines():
            key, _, value = line.partition(" ")
            if key == "oom_kill":
                return int(value)
        return int((cg / "memory.failcnt").read_text())
    except (OSError, ValueError):
        return 0


def _populated(cg: Path) -> bool:
    """Whether any task, a dying one included, still counts in cg. v2's `populated` drops only
    when the last thread has left; cgroup.procs lists thread-group leaders and so misses a killed
    JAX process whose leader is already a zombie while its other threads are still exiting."""
    try:
        for line in (cg / "cgroup.events").read_text().splitlines():
            key, _, value = line.partition(" ")
            if key == "populated":
                return value.strip() != "0"
    except OSError:
        pass
    try:
        return bool((cg / "tasks").read_text().split() or (cg / "cgroup.procs").read_text().split())
    except OSError:
        return False


def remove_cgroup(cg: Path, timeout_s: float = 10.0) -> bool:
    """Remove the child's cgroup once its last task is gone. rmdir fails (EBUSY) while a task is
    still exiting, and the sandbox's kill only waits for live, non-zombie processes of its uid:
    so first every task left in the cgroup is killed (cgroup.kill, Linux >= 5.14: it holds only
    what the sandbox put there), then rmdir is retried until it succeeds. True when it is gone."""
    import time
    deadline = time.monotonic() + timeout_s
    while True:
        if _populated(cg) and (cg / "cgroup.kill").exists():
            try:
                (cg / "cgroup.kill").write_text("1")
            except OSError:
                pass
        try:
            cg.rmdir()
            return True
        except FileNotFoundError:
            return True
        except OSError:
            if time.monotonic() > deadline:
                return False
        time.sleep(0.005)
