"""Hostile: burns every core: a numpy matmul loop (which drops the GIL) in 8 threads plus 2 forked
busy processes, while the case itself waits. TLE within the case limit plus a second or two."""
# isolation: bwrap uid
import os
import threading

import numpy as np


def _burn():
    a = np.random.default_rng(0).random((256, 256))
    while True:
        a = np.tanh(a @ a)


def lax_scan_in_module(seed, x, hidden, T):
    for _ in range(2):
        if os.fork() == 0:
            while True:
                pass
    for _ in range(8):
        threading.Thread(target=_burn, daemon=True).start()
    threading.Event().wait()
