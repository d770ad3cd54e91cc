"""Hostile: tries to rewrite the bundle (problem.yaml, golden data, the grader's compare code, the
venv's numpy, the runner copy and its job file) and to leave a marker file in it; then returns wrong
numbers: WA, and tests/test_hostile.py checks every targeted file is unchanged."""
# isolation: bwrap uid
import glob
import os
import sys

import numpy as np

TARGETS = ["problem.yaml", "tests/data/hidden.yaml", "tests/data/public.yaml", "grader/judge/compare.py",
           "grader/child/runner.py", ".venv/lib/python3.11/site-packages/numpy/__init__.py", ".hostile-was-here"]


def _roots():
    roots = {os.path.dirname(sys.prefix), "/work/main", os.path.dirname(os.path.dirname(sys.argv[0]))}
    roots.update(glob.glob("/tmp/pytest-of-*/*/*"))
    try:
        roots.add(os.readlink(f"/proc/{os.getppid()}/cwd"))
    except OSError:
        pass
    return roots


def lax_scan_in_module(seed, x, hidden, T):
    if os.geteuid() == 0:  # not sandboxed at all (process level as root): never damage a dev machine
        return np.zeros(hidden, np.float32)
    paths = [os.path.join(r, t) for r in _roots() for t in TARGETS]
    paths += [sys.argv[0], sys.argv[1] if len(sys.argv) > 1 else "", os.path.join(sys.prefix, "bin", "python")]
    for path in paths:
        try:
            with open(path, "a") as f:
                f.write("\n# hostile was here\n")
            print("WROTE", path, flush=True)
        except OSError:
            pass
    return np.zeros(hidden, np.float32)
