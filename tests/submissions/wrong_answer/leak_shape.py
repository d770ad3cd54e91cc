"""Hostile (a leak, not a crash): returns an array whose length encodes the case's input,
round(|x[0]| * 1e6) zeros, so a message that showed the returned shape would hand out x[0] to six
digits. A hidden case's message says only that the shape is wrong and what was expected (the
grader's own values); public cases keep the shape they returned. WA: a wrong shape."""
# grade: all
import numpy as np


def lax_scan_in_module(seed, x, hidden, T):
    return np.zeros(round(abs(float(x[0])) * 1e6) + 1, dtype=np.float32)
