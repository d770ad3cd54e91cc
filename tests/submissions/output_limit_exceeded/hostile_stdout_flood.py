"""Hostile: writes 2 GiB to stdout in 1 MiB blocks. OLE, and the grader's own memory stays small
because it counts the bytes and keeps only a bounded head and tail."""
# isolation: bwrap uid
import sys


def lax_scan_in_module(seed, x, hidden, T):
    block = b"y" * (1 << 20)
    for _ in range(2048):
        sys.stdout.buffer.write(block)
    sys.stdout.flush()
    return None
