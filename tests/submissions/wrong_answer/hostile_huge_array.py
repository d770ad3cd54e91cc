"""Hostile: returns a 200-million-element array that costs no memory (np.broadcast_to). It must be
judged from its header (WA, wrong shape) without the bytes ever crossing to the grader."""
# isolation: bwrap uid
import numpy as np


def lax_scan_in_module(seed, x, hidden, T):
    return np.broadcast_to(np.float32(0.5), (200_000_000,))
