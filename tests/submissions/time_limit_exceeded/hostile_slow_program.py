"""Hostile: the exported program itself never ends (a loop of 2**31 - 1 steps, run by XLA in the
executor, not by Python in the runner, which exports it at once). TLE from the executor's run
alone: a run that met its limit while the runner still exported beside it is run again."""
# isolation: bwrap uid
import jax
import jax.numpy as jnp


def lax_scan_in_module(seed, x, hidden, T):
    return jax.lax.fori_loop(0, 2**31 - 1, lambda i, c: jnp.tanh(c * 1.0000001 + 1e-9), x)
