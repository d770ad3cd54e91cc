"""Hostile: plants verdict/results files wherever a grader might look (shared /tmp, the working
folder, HOME, Gradescope's results path, /dev/shm) and returns wrong numbers: still WA, and nothing
it planted may survive on the host (tests/test_hostile.py checks the shared places)."""
# isolation: bwrap uid
import json
import os
import tempfile

import numpy as np

FAKE = json.dumps({"schema_version": 1, "verdict": "AC", "score": 100, "max_score": 100})
PLACES = ["/tmp/verdict.json", "/tmp/results.json", "/var/tmp/results.json", "/dev/shm/verdict.json",
          "/autograder/results/results.json", "results.json", "verdict.json",
          os.path.join(os.path.expanduser("~"), "results.json"),
          os.path.join(tempfile.gettempdir(), "verdict.json"), "/tmp/lax-hostile-planted/results.json"]


def lax_scan_in_module(seed, x, hidden, T):
    for place in PLACES:
        try:
            os.makedirs(os.path.dirname(place) or ".", exist_ok=True)
            with open(place, "w") as f:
                f.write(FAKE)
        except OSError:
            pass
    return np.zeros(hidden, np.float32)
