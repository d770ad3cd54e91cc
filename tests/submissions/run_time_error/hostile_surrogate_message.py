"""Hostile: an exception whose message holds a lone surrogate (and control characters), which no
UTF-8 stream can print. Must be RTE with the verdict file written and exit 0 (tests/test_text.py
runs it through the CLI with --json)."""
import jax.numpy as jnp  # noqa: F401


def lax_scan_in_module(seed, x, hidden, T):
    raise ValueError("bad \ud800 value \x1b[31mred\x1b[0m \udcff\x00 end")
