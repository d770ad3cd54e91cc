"""Hostile: one mmap of 2 GiB with MAP_POPULATE: the kernel fills it faster than any watchdog looks
(the memory cgroup's hard limit kills it within milliseconds; without a cgroup the watchdog sees 2 GiB
resident). MLE, never RTE: a cgroup's OOM kill must still be recognised once the tree is gone."""
# isolation: bwrap uid
import mmap


def lax_scan_in_module(seed, x, hidden, T):
    block = mmap.mmap(-1, 2 << 30, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS | mmap.MAP_POPULATE)
    return block
