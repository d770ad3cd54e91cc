"""Hostile: dereferences NULL (ctypes.string_at(0)) during a case: SIGSEGV, RTE."""
# isolation: bwrap uid
import ctypes


def lax_scan_in_module(seed, x, hidden, T):
    return ctypes.string_at(0)
