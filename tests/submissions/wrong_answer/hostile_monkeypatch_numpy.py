"""Hostile: patches numpy's and JAX's comparison helpers to always agree (in its own process); the
grader compares in its own process, so the wrong numbers are still WA."""
# isolation: bwrap uid
import jax.numpy as jnp
import numpy as np

_yes = lambda *a, **k: True  # noqa: E731
for mod in (np, jnp):
    for name in ("allclose", "array_equal", "isclose", "all", "any", "array_equiv"):
        try:
            setattr(mod, name, _yes)
        except (AttributeError, TypeError):
            pass
np.testing.assert_allclose = lambda *a, **k: None
np.testing.assert_array_equal = lambda *a, **k: None
np.abs = lambda a, *k, **kw: np.zeros_like(a)


def lax_scan_in_module(seed, x, hidden, T):
    return np.ones(hidden, np.float32) * 0.5
