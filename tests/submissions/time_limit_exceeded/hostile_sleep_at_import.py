"""Hostile: sleeps at import (no CPU used, so only a wall-clock limit catches it): TLE while loading."""
# isolation: bwrap uid
import time

time.sleep(10**6)


def lax_scan_in_module(seed, x, hidden, T):
    return None
