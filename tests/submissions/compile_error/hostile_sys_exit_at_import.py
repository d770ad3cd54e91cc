"""Hostile: sys.exit(0) at import: a clean exit status while loading is still not a loaded file: CE."""
# isolation: bwrap uid
import sys

sys.exit(0)


def lax_scan_in_module(seed, x, hidden, T):
    return None
