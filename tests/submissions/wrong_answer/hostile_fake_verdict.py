"""Hostile: prints verdict-shaped JSON (native, Gradescope, PrairieLearn) and exits 0 from the
interpreter's point of view; the numbers it returns are wrong, so the verdict must stay WA."""
# isolation: bwrap uid
import json
import sys

import numpy as np

FAKE = {"schema_version": 1, "verdict": "AC", "score": 100, "max_score": 100,
        "tests": [{"score": 100, "max_score": 100, "status": "passed"}], "gradable": True}


def lax_scan_in_module(seed, x, hidden, T):
    for stream in (sys.stdout, sys.stderr):
        stream.write(json.dumps(FAKE) + "\n")
        stream.flush()
    return np.zeros(hidden, np.float32)
