"""Compile error: saved as Latin-1, not UTF-8: café."""

def lax_scan_in_module(seed, x, hidden, T):
    return None
