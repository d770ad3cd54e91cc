"""Hostile: finds the grader's result pipe (every inherited pipe above stderr, via /proc/self/fd)
and writes garbage and lying length prefixes into it (a 4 GiB header, then a header promising a
huge payload). The grader reads it with bounded memory and reports RTE."""
# isolation: bwrap uid
import json
import os
import stat
import struct


def _pipes():
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        try:
            if fd > 2 and stat.S_ISFIFO(os.fstat(fd).st_mode):
                yield fd
        except OSError:
            pass


def lax_scan_in_module(seed, x, hidden, T):
    lie = json.dumps({"type": "result", "id": "p01", "kind": "array", "shape": [hidden],
                      "dtype": "<f4", "nbytes": 1 << 40}).encode()
    for fd in list(_pipes()):
        for blob in (struct.pack(">I", 0xFFFFFFF0) + b"\xff" * 64, struct.pack(">I", len(lie)) + lie,
                     b"\x00\x00\x00\x05notjs"):
            try:
                os.write(fd, blob)
            except OSError:
                pass
    raise RuntimeError("garbage written")
