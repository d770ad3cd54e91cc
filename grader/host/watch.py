"""Watching a running child tree from the grader: which processes are its, how much memory it holds
(measured, not summed), and what it wrote outside a bounded tmpfs. A mixin of Sandbox, which owns the
state read here (child, limits, scratch, uid, cgroup, isolation).
"""
from __future__ import annotations

import os
import time

from .memcg import cgroup_oom_count, cgroup_peak, cgroup_pids, cgroup_usage
from .proctree import descendants, pids_of_uid, pss_bytes, rss_bytes, shared_usage

SCRATCH_FILES = 20000          # entries a child may create outside a bounded tmpfs (inodes cost too)
PSS_EVERY = 1.0                # s between PSS confirmations while RSS alone is past the limit


class TreeWatch:
    """What the execute loop asks of a Sandbox while its child runs."""
    _pss: tuple[float, int, int] = (0.0, 0, 0)     # (when, rss then, pss then): the last PSS look
    oom_killed = False                               # the last child's tree met the cgroup's limit

    def tree_pids(self) -> set[int]:
        """Every process of the child: by owner when a slot uid is held, else by ancestry."""
        child = self.child
        if child is None:
            return set()
        if child.uid is not None:
            return pids_of_uid(child.uid)
        if child.cgroup is not None:
            return cgroup_pids(child.cgroup)
        child.pids_seen = descendants({child.proc.pid} | child.pids_seen)
        return child.pids_seen

    def memory_bytes(self, limit: int | None = None) -> int:
        """Memory of the whole tree: the cgroup's usage where there is one, else the sum of RSS, which
        counts a page shared by n processes n times (a fork swarm of 300 MiB sums to 900). Past the
        limit the sum is confirmed with PSS, which counts it once; between confirmations (at most
        one per PSS_EVERY) the last PSS plus the RSS grown since stands in, never less. `limit`: the
        budget this tree has (default memory_mb; less when another child shares the budget)."""
        if self.child and self.child.cgroup is not None:
            usage = cgroup_usage(self.child.cgroup)
            if usage is not None:
                return usage
        pids = self.tree_pids()
        rss = rss_bytes(pids)
        limit = self.limits.memory_mb << 20 if limit is None else max(0, limit)
        if rss <= limit:
            return rss
        when, rss_then, pss_then = self._pss
        estimate = pss_then + max(0, rss - rss_then)
        if time.monotonic() - when < PSS_EVERY and estimate <= limit:
            return estimate
        pss = pss_bytes(pids, stop_above=limit)
        self._pss = (time.monotonic(), rss, pss)
        return pss

    def memory_peak(self) -> int | None:
        return cgroup_peak(self.cgroup) if self.cgroup is not None else None

    def hit_memory_limit(self) -> bool:
        """Whether the memory cgroup OOM-killed in the current child's tree, or, once it is gone, in
        the last one's (kill() records it: a tree that died of it reads as stopped, not crashed)."""
        child = self.child
        if child is None:
            return self.oom_killed
        return cgroup_oom_count(child.cgroup) > child.oom_base

    def scratch_usage(self) -> tuple[int, int]:
        """(bytes, entries) the child wrote outside a bounded tmpfs: its scratch folders and, when it
        runs as a slot uid without bwrap, what it owns in the shared /tmp, /var/tmp, /dev/shm."""
        total, count = 0, 0
        for sub in ("work", "home", "tmp"):
            for dirpath, dirs, files in os.walk(self.scratch / sub):
                count += len(dirs) + len(files)
                for name in files:
                    try:
                        total += os.lstat(os.path.join(dirpath, name)).st_blocks * 512
                    except OSError:
                        pass
        if self.uid is not None and self.isolation != "bwrap":
            shared, entries = shared_usage(self.uid)
            total, count = total + shared, count + entries
        return total, count

    def over_scratch(self) -> bool:
        used, entries = self.scratch_usage()
        return used > self.limits.scratch_mb << 20 or entries > SCRATCH_FILES
