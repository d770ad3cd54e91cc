"""Hostile: double-forks a daemon in its own session (setsid), which ignores SIGTERM/SIGHUP, renames
itself lax_daemon and sleeps; the case then fails: RTE, and the daemon must not outlive grading."""
# isolation: bwrap uid
import ctypes
import os
import signal
import time


def lax_scan_in_module(seed, x, hidden, T):
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
                signal.signal(sig, signal.SIG_IGN)
            ctypes.CDLL(None).prctl(15, b"lax_daemon", 0, 0, 0)  # PR_SET_NAME
            while True:
                time.sleep(1000)
        os._exit(0)
    time.sleep(0.5)
    raise RuntimeError("daemon started")
