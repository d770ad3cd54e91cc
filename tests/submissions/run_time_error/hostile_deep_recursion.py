"""Hostile (issue 11): recurses a million frames deep (the recursion limit raised to match). Raising
takes seconds and a traceback that deep is slow to walk, so the runner walks at most a fixed number
of frames and does not repeat the call plainly: RTE within the case's time limit, not TLE."""
# isolation: bwrap
import sys

sys.setrecursionlimit(10**6)


def _down(n):
    return _down(n + 1) + 1


def lax_scan_in_module(seed, x, hidden, T):
    return _down(0)
