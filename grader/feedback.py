"""Hints that teach: the classic pitfalls of this exercise, recognised from errors, results and the
outputs of known wrong variants.

Each hint names the cause and the fix in a sentence or two. Hints never contain expected values: a
variant match says which mistake a result equals, not what the right result is.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import numpy as np

from .cases import GoldenCase
from .compare import Judged, clip
from . import JudgeError
from .child.common import PINNED
from .variants import Variants, diagnose, label

ALLOWED_IMPORTS = "jax, flax, numpy and the Python standard library"
MAX_HINT = 600
LIST_CASES = 6

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
     "you pass to self.param and that you use the module's hidden field, not a fixed number."),
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
    """A submission that flips a JAX setting changes its own W: say which and why it matters.

    Called with the settings seen after loading and with those reported beside each result, since
    a submission may flip one inside lax_scan_in_module. Only settings that change W are pinned;
    others (matmul precision, which does nothing on CPU) are not penalised."""
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


class Diagnosis:
    """Matches wrong results against the known wrong variants, case by case, then says each
    mistake once for all the cases it explains."""

    def __init__(self, variants: Variants | None | Callable[[], tuple[Variants | None, str]], rtol: float,
                 atol: float):
        """`variants` may be a loader, called at the first wrong result (an accepted run never pays
        the ~0.3 s of reading the file); `state` then says whether it was used."""
        self._load = variants if callable(variants) else None
        self.variants = None if callable(variants) else variants
        self.state = "not needed" if callable(variants) else ("used" if variants else "absent")
        self.rtol, self.atol = rtol, atol
        self.matches: dict[str, list[str]] = {}   # case id -> the variants its result equals
        self.wrong: list[str] = []                # cases whose values were compared and were wrong
        self.hidden: set[str] = set()             # of those, the hidden ones: hints give only a count

    def note(self, case: GoldenCase, j: Judged) -> Judged:
        """The judged case, its message extended when its result equals a known mistake."""
        if j.verdict != "WA" or j.got is None or j.got.shape != case.expected.shape \
                or not np.all(np.isfinite(j.got)):
            return j
        self.wrong.append(case.spec.id)
        if case.spec.set == "hidden":
            self.hidden.add(case.spec.id)
        if self._load is not None:
            load, self._load = self._load, None
            try:
                self.variants, self.state = load()
            except JudgeError as e:  # the diagnosis is optional: grade on without hints
                self.variants, self.state = None, f"unusable: {e}"
        if self.variants is None:
            return j
        found = diagnose(self.variants, case.spec.id, j.got, case.expected, self.rtol, self.atol)
        if not found:
            return j
        self.matches[case.spec.id] = found
        what = " or ".join(label(self.variants.says[v]) for v in found)
        return replace(j, message=f"{j.message}; it equals {what} (see the hints)")

    def explained(self) -> dict[str, str]:
        """Each matched case -> the one mistake that explains it: of its candidates, the one that
        matches the most cases overall (a ReLU result that decayed to zeros is still ReLU)."""
        count = {v: sum(v in found for found in self.matches.values()) for v in (self.variants.says if
                                                                                 self.variants else ())}
        return {c: max(found, key=lambda v: count[v]) for c, found in self.matches.items()}

    def hints(self) -> list[str]:
        if self.variants is None:
            return []
        best, out = self.explained(), []
        for vid, says in self.variants.says.items():
            ids = [c for c in self.wrong if best.get(c) == vid]
            if not ids:
                continue
            public = [c for c in ids if c not in self.hidden]
            n_hidden = len(ids) - len(public)
            hidden_part = f"{n_hidden} hidden case{'s' * (n_hidden != 1)}" if n_hidden else ""
            named = ", ".join(public[:LIST_CASES]) + (", …" if len(public) > LIST_CASES else "")
            if not public:
                which = hidden_part
            else:
                which = f"case{'s' * (len(public) != 1)} {named}" + (f" and {hidden_part}" if n_hidden else "")
            if len(ids) > 1:
                which += f" ({len(ids)} of {len(self.wrong)} wrong)"
            out.append(clip(f"In {which}, {says}.", MAX_HINT))
        return out


def output_excerpt(head: str, total_bytes: int, max_lines: int = 20) -> str:
    """What the submission printed, cut to a few lines with a marker saying how much was left out."""
    lines = head.splitlines()
    if len(lines) <= max_lines and total_bytes <= len(head.encode()):
        return "\n".join(lines)
    return "\n".join(lines[:max_lines - 1] + [f"… [truncated: {total_bytes} bytes printed in all]"])


def dedupe(items: list[str]) -> tuple[str, ...]:
    seen, out = set(), []
    for item in items:
        if item not in seen:
            seen.add(item)
            out.append(item)
    return tuple(out)
