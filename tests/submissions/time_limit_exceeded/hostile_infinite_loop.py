"""Hostile: an infinite loop in the case. TLE within the case limit plus a second or two."""
# isolation: bwrap uid


def lax_scan_in_module(seed, x, hidden, T):
    n = 0
    while True:
        n += 1
