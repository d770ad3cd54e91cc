"""Hostile: returns an ndarray subclass whose comparisons, allclose hooks and conversions all claim
success. The grader reads raw bytes, so the zeros underneath are judged: WA."""
# isolation: bwrap uid
import numpy as np


class Liar(np.ndarray):
    def __eq__(self, other):
        return True

    def __ne__(self, other):
        return False

    def __array_function__(self, func, types, args, kwargs):
        return True

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        return np.ones(1, bool)

    def tolist(self):
        return [0.123] * self.size


def lax_scan_in_module(seed, x, hidden, T):
    return np.zeros(hidden, np.float32).view(Liar)
