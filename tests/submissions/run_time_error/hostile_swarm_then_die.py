"""Hostile: a spawner child forks until the process limit says no (RLIMIT_NPROC), then the runner
itself dies in every case. Each case needs a fresh runner at the same slot uid; the swarm's dead,
orphaned to an init that may never reap them, must not keep counting toward that uid's process
limit (a zombie does), or the next runner could not start a thread and the grader would blame
itself (JE) for what the submission did. Fair verdict: RTE, and no process outlives grading."""
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
    os._exit(3)
