"""Hostile: raises KeyboardInterrupt during a case (a BaseException, not an Exception): RTE."""
# isolation: bwrap uid


def lax_scan_in_module(seed, x, hidden, T):
    raise KeyboardInterrupt
