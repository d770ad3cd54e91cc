"""Compile error: imports a library the grader does not have."""
import torch  # noqa: F401

import jax
import flax.linen as nn


class LaxScanModule(nn.Module):
    hidden: int
    T: int


def lax_scan_in_module(seed, x, hidden, T):
    return jax.numpy.zeros(hidden)
