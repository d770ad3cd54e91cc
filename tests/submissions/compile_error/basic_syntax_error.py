"""Compile error: a missing colon."""
import jax
import flax.linen as nn


class LaxScanModule(nn.Module)
    hidden: int
    T: int


def lax_scan_in_module(seed, x, hidden, T):
    return None
