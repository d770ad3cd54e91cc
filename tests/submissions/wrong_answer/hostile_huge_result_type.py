"""Hostile: returns an object whose type has a 60,000-character name and that refuses to become
an array. WA ("returned a ... that is not an array"), with the type name clipped."""
import jax.numpy as jnp  # noqa: F401


def _array(self, *args, **kwargs):
    raise TypeError("no array here " + "!" * 50_000)


Huge = type("R" * 60_000, (), {"__array__": _array, "__len__": lambda self: 1,
                                "__getitem__": lambda self, i: self})


def lax_scan_in_module(seed, x, hidden, T):
    return Huge()
