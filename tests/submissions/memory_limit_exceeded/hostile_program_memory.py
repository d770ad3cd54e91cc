"""Hostile: the exported program needs 800 MB of buffers (a sort of 2e8 floats made from x, so XLA
can neither fold nor fuse it away): the executor meets the memory limit running it. MLE, never
RTE, and never the grader's fault."""
# isolation: bwrap uid
import jax.numpy as jnp


def lax_scan_in_module(seed, x, hidden, T):
    big = jnp.sort(x[0] * jnp.arange(200_000_000, dtype=jnp.float32))
    return x + big[: x.shape[0]] * 1e-30
