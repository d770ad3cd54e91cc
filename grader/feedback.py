"""Hints that teach: the classic pitfalls of this exercise, recognised from errors and results.

Each hint names the cause and the fix in a sentence or two. Hints never contain expected values.
"""
from __future__ import annotations

from .runner import PINNED

ALLOWED_IMPORTS = "jax, flax, numpy and the Python standard library"

# (exception type or None, text fragment in the message, hint)
ERROR_HINTS: tuple[tuple[str | None, str, str], ...] = (
    ("UnexpectedTracerError", "", "A Flax variable is created inside the lax.scan body (self.param, or a "
     "submodule such as nn.Dense). Create W once in __call__, before jax.lax.scan, and let the body "
     "close over it."),
    (None, "carry input and carry output must have equal types",
     "The scan body returns a carry whose shape or dtype differs from init_carry. The new carry must "
     "be exactly like the old one, shape (hidden,) float32: return jnp.tanh(carry @ W)."),
    (None, "must have the same pytree structure",
     "The scan body returns a carry with a different structure (e.g. a tuple instead of one array). "
     "Return the new carry in the same form as init_carry."),
    (None, "scan body output must be a pair",
     "The scan body must return a (carry, output) pair: `return new_carry, None`, not the carry alone."),
    (None, "dot_general requires contracting dimensions",
     "x @ W has mismatched sizes: x has length hidden and W must be (hidden, hidden). Check the shape "
     "you pass to self.param and that you use the module's hidden field."),
    ("NotImplementedError", "", "Your file still raises the starter's NotImplementedError: replace it "
     "with your implementation of LaxScanModule and lax_scan_in_module."),
    ("ModuleNotFoundError", "", f"Only {ALLOWED_IMPORTS} can be imported in the grader."),
    ("ImportError", "", f"Only {ALLOWED_IMPORTS} can be imported in the grader."),
)


def hints_for_error(err: dict | None) -> list[str]:
    if not err:
        return []
    etype, message = err.get("etype", ""), err.get("message", "")
    return [hint for t, frag, hint in ERROR_HINTS
            if (t is None or t == etype) and (not frag or frag in message)]


def hints_for_settings(settings: dict | None) -> list[str]:
    """A submission that flips a JAX setting changes its own W: say which and why it matters."""
    if not settings:
        return []
    changed = [f"{k}={settings.get(k)!r} (the grader uses {v!r})" for k, v in PINNED.items()
               if settings.get(k) != v]
    if not changed:
        return []
    return ["Your code changes JAX settings that change the random W (and so every result): "
            + "; ".join(changed) + ". Remove those jax.config.update calls or environment settings."]


def hint_for_shape(message: str) -> list[str]:
    if "stacked per-step outputs" in message:
        return ["You returned the per-step outputs stacked by lax.scan (shape (T, hidden)). The exercise "
                "wants the final carry: `final, _ = jax.lax.scan(...)` and return `final`."]
    return []


def dedupe(items: list[str]) -> tuple[str, ...]:
    seen, out = set(), []
    for item in items:
        if item not in seen:
            seen.add(item)
            out.append(item)
    return tuple(out)
