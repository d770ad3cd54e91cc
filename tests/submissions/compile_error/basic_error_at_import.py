"""Compile error: top-level code that fails when the file is loaded."""
import jax.numpy as jnp

CONFIG = {"hidden": 16}
STEPS = CONFIG["T"]


def lax_scan_in_module(seed, x, hidden, T):
    return jnp.zeros(hidden)
