"""Hostile: an exception whose *type name* is 60,000 characters long. RTE, with a bounded message
(the name is clipped where the frame header enters the grader)."""
import jax.numpy as jnp  # noqa: F401

Huge = type("E" * 60_000, (Exception,), {})


def lax_scan_in_module(seed, x, hidden, T):
    raise Huge("x" * 100_000)
