"""Hostile: ignores (or blocks) every catchable signal, then loops: only SIGKILL ends it. TLE."""
# isolation: bwrap uid
import signal


def lax_scan_in_module(seed, x, hidden, T):
    for sig in signal.valid_signals():
        if sig not in (signal.SIGKILL, signal.SIGSTOP):
            try:
                signal.signal(sig, signal.SIG_IGN)
            except (OSError, ValueError):
                pass
    signal.pthread_sigmask(signal.SIG_BLOCK, signal.valid_signals())
    while True:
        pass
