"""Hostile (issue 10): looks for JAX's compilation cache (the bundle's .cache/jax, a /cache mount,
another sandbox's private copy under /tmp) to pick the reference's compiled programs by shape and
run them. The runner gets no cache and can read none, at bwrap and at uid: it finds nothing and
returns zeros (WA). If it could read any cache entry it raises instead, so a leak turns into RTE
and the example fails."""
# isolation: bwrap uid
import glob
import os
import sys

import numpy as np


def _candidates():
    bundle = os.path.dirname(sys.prefix)
    for pattern in (f"{bundle}/.cache/jax/*/*", f"{bundle}/.cache/jax/*", "/cache/*", "/tmp/lax-grader-*/cache/*",
                    "/work/*/.cache/jax/*/*", "/work/wt/*/.cache/jax/*/*"):
        yield from glob.glob(pattern)


def _readable_entry():
    for path in _candidates():
        try:
            with open(path, "rb") as f:
                if f.read(64):
                    return path
        except OSError:
            continue
    return None


def lax_scan_in_module(seed, x, hidden, T):
    leak = _readable_entry()
    if leak:
        raise RuntimeError(f"LEAK: read the compilation cache entry {leak}")
    return np.zeros(hidden, np.float32)
