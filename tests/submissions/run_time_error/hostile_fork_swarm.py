"""Hostile: a spawner child forks until the process limit says no (RLIMIT_NPROC); every process of
the swarm renames itself lax_swarm and sleeps forever. The case itself fails at once: RTE, and no
lax_swarm process may outlive grading."""
# isolation: bwrap uid
import ctypes
import os
import time


def _sleep_forever():
    ctypes.CDLL(None).prctl(15, b"lax_swarm", 0, 0, 0)  # PR_SET_NAME
    while True:
        time.sleep(1000)


def lax_scan_in_module(seed, x, hidden, T):
    if os.geteuid() == 0:  # not sandboxed at all (process level as root): never swarm a dev machine
        raise RuntimeError("refusing to run unsandboxed as root")
    if os.fork() == 0:
        for _ in range(1000):
            try:
                if os.fork() == 0:
                    _sleep_forever()
            except OSError:
                break
        _sleep_forever()
    time.sleep(0.5)
    raise RuntimeError("swarm started")
