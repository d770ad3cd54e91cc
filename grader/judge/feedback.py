"""Hints that teach: the classic pitfalls of this exercise, recognised from errors, results and the
outputs of known wrong variants.

Each hint names the cause and the fix in a sentence or two. Hints never contain expected values: a
variant match says which mistake a result equals, not what the right result is.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .cases import GoldenCase
from .compare import Judged, within_tolerance
from .. import JudgeError
from .reasons import Found, Reason, found
from ..child.common import PINNED
from ..text import clip
from .variants import LABELS, Variants
from .verdict import MAX_HINT

LIST_CASES = 6

# (exception type or None, fragment of JAX's own error text, the pitfall it shows). The fragments
# are JAX's wording, never the grader's: no grader message is read to choose a hint.
ERROR_HINTS: tuple[tuple[str | None, str, Reason], ...] = (
    ("UnexpectedTracerError", "", Reason.PITFALL_TRACER_IN_SCAN),
    (None, "carry input and carry output must have equal types", Reason.PITFALL_CARRY_TYPE),
    (None, "must have the same pytree structure", Reason.PITFALL_CARRY_STRUCTURE),
    (None, "scan body output must be a pair", Reason.PITFALL_BODY_NOT_PAIR),
    (None, "dot_general requires contracting dimensions", Reason.PITFALL_CONTRACTING_DIMS),
    ("NotImplementedError", "", Reason.PITFALL_NOT_IMPLEMENTED),
    ("ModuleNotFoundError", "", Reason.PITFALL_IMPORT),
    ("ImportError", "", Reason.PITFALL_IMPORT),
)
# A case reason that teaches more than its message: the pitfall hint it adds.
CASE_HINTS = {Reason.STACKED_OUTPUTS: Reason.PITFALL_STACKED_OUTPUTS,
              Reason.PRECISION_TOO_LOW: Reason.PITFALL_LOW_PRECISION}


def hints_for_error(err: dict | None) -> list[Found]:
    if not err:
        return []
    etype, message = str(err.get("etype", "")), str(err.get("message", ""))
    return [Found(reason) for t, frag, reason in ERROR_HINTS
            if (t is None or t == etype) and (not frag or frag in message)]


def hints_for_settings(settings: dict | None, hidden: bool = False) -> list[Found]:
    """A submission that flips a JAX setting changes its own W: say which and why it matters.

    Called with the settings seen after loading and with those reported beside each result, since
    a submission may flip one inside lax_scan_in_module. Only settings that change W are pinned;
    others (matmul precision, which does nothing on CPU) are not penalised. Beside a hidden case's
    result (`hidden`) the values the runner reported are derived from the hidden input: only the
    setting's name and the grader's value are said."""
    if not settings:
        return []
    changed = [f"{k}" + ("" if hidden else f"={settings.get(k)!r}") + f" (the grader uses {v!r})"
               for k, v in PINNED.items() if settings.get(k) != v]
    return [found(Reason.PITFALL_JAX_SETTINGS, changed="; ".join(changed))] if changed else []


def hint_for_case(j: Judged) -> list[Found]:
    """The pitfall a case's own reason points to (stacked outputs, a low-precision dtype)."""
    reason = CASE_HINTS.get(j.reason)
    return [Found(reason, j.found.params)] if reason else []


@dataclass
class _Seen:
    case: GoldenCase
    got: np.ndarray
    wrong: bool


class Diagnosis:
    """Matches results against the known wrong variants over all the cases, then names a mistake
    only where the evidence agrees: a variant is named when every compared case is consistent with
    it (the result equals its output, or the case passed where it equals the answer) and at least
    one wrong case tells it apart from the answer and from every other variant. Degenerate cases
    (H = 1, decayed fixed points: variants coinciding) never decide; else "no known mistake matches"."""

    def __init__(self, variants: Variants | None | Callable[[], tuple[Variants | None, str]], rtol: float,
                 atol: float):
        """`variants` may be a loader, called at the first wrong result (an accepted run never pays
        the ~0.3 s of reading the file); `state` then says whether it was used."""
        self._load = variants if callable(variants) else None
        self.variants = None if callable(variants) else variants
        self.state = "not needed" if callable(variants) else ("used" if variants else "absent")
        self.rtol, self.atol = rtol, atol
        self.seen: dict[str, _Seen] = {}
        self._named: list[str] | None = None

    def note(self, case: GoldenCase, j: Judged) -> None:
        """Remember a case whose values were compared (passed or wrong; a low precision is neither)."""
        if j.got is None or j.got.shape != case.expected.shape or not np.all(np.isfinite(j.got)) \
                or j.reason is Reason.PRECISION_TOO_LOW or j.verdict not in ("AC", "WA"):
            return
        self.seen[case.spec.id] = _Seen(case, j.got, j.verdict == "WA")
        self._named = None
        if j.verdict == "WA" and self._load is not None:
            load, self._load = self._load, None
            try:
                self.variants, self.state = load()
            except JudgeError as e:  # the diagnosis is optional: grade on without hints
                self.variants, self.state = None, f"unusable: {e}"

    @property
    def wrong(self) -> list[str]:
        return [cid for cid, s in self.seen.items() if s.wrong]

    def named(self) -> list[str]:
        """The variants the evidence names (usually none or one), in VARIANTS order."""
        if self._named is None:
            self._named = [v for v in (self.variants.says if self.variants else ()) if self._agrees(v)]
        return self._named

    def _close(self, a: np.ndarray, b: np.ndarray) -> bool:
        return within_tolerance(a, b, self.rtol, self.atol)

    def _agrees(self, vid: str) -> bool:
        decisive = False
        for cid, s in self.seen.items():
            outs = self.variants.outputs.get(cid, {})
            out = outs.get(vid)
            if out is None:
                continue
            is_answer = self._close(out, s.case.expected)
            if not self._close(s.got, out):
                if is_answer and not s.wrong:
                    continue         # the mistake changes nothing here, and the case passed
                return False         # a case that contradicts it
            if s.wrong and not is_answer and not any(self._close(out, o) for u, o in outs.items() if u != vid):
                decisive = True
        return decisive

    def equals(self) -> dict[str, str]:
        """Wrong case id -> the short name of the named mistake its result equals."""
        out = {}
        for vid in self.named():
            for cid in self.wrong:
                o = self.variants.outputs.get(cid, {}).get(vid)
                if cid not in out and o is not None and self._close(self.seen[cid].got, o):
                    out[cid] = LABELS.get(vid, vid)
        return out

    def hints(self) -> list[Found]:
        if self.variants is None or not self.wrong:
            return []
        named = self.named()
        if not named:
            return [Found(Reason.VARIANT_NONE)]
        out, wrong, eq = [], self.wrong, self.equals()
        for vid in named:
            ids = [c for c in wrong if eq.get(c) == LABELS.get(vid, vid)] or wrong
            public = [c for c in ids if self.seen[c].case.spec.set != "hidden"]
            n_hidden = len(ids) - len(public)
            hidden_part = f"{n_hidden} hidden case{'s' * (n_hidden != 1)}" if n_hidden else ""
            listed = ", ".join(public[:LIST_CASES]) + (", …" if len(public) > LIST_CASES else "")
            which = hidden_part if not public else \
                f"case{'s' * (len(public) != 1)} {listed}" + (f" and {hidden_part}" if n_hidden else "")
            if len(ids) > 1:
                which += f" ({len(ids)} of {len(wrong)} wrong)"
            out.append(found(Reason.variant(vid), which=which, says=clip(self.variants.says[vid], MAX_HINT)))
        return out


def output_excerpt(head: str, total_bytes: int, max_lines: int = 20) -> str:
    """What the submission printed, cut to a few lines with a marker saying how much was left out."""
    lines = head.splitlines()
    if len(lines) <= max_lines and total_bytes <= len(head.encode()):
        return "\n".join(lines)
    return "\n".join(lines[:max_lines - 1] + [f"… [truncated: {total_bytes} bytes printed in all]"])


def dedupe(items: list[Found]) -> tuple[Found, ...]:
    """Each hint once, by its sentence (two cases with the same pitfall say it once)."""
    seen, out = set(), []
    for item in items:
        key = (item.reason, item.text)
        if key not in seen:
            seen.add(key)
            out.append(item)
    return tuple(out)
