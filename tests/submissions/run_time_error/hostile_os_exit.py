"""Hostile: os._exit(0) during a case; a clean exit status must not read as success: RTE."""
# isolation: bwrap uid
import os


def lax_scan_in_module(seed, x, hidden, T):
    os._exit(0)
