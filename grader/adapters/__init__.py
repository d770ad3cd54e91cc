"""Platform adapters: each maps FROM the native Verdict to one platform's results.json.

`gradescope.render` and `prairielearn.render` share the wording below, so a student reads the same
summary everywhere and an instructor can search for one marker (`JE_MARK`) to find judge errors.
Adapters read only the Verdict's public fields: `internal` (exact hidden errors, the JE's cause,
what the submission printed) never reaches a platform file; the CLI report on stdout carries it.
"""
from __future__ import annotations

import json
import math

import jsonschema

from .. import JudgeError
from ..problem import load_schema
from ..judge.verdict import NAMES, CaseVerdict, CheckVerdict, Verdict

JE_MARK = "JUDGE ERROR"
JE_TEXT = (f"{JE_MARK}: the autograder failed on its own; this is not a problem with your submission, "
           "which was not graded. Your instructor can see the cause and will regrade it.")
CHECK_TITLES = {"module_class": "LaxScanModule is a Flax Module with fields hidden and T",
                "params_tree": "the module's parameters are exactly params/W (hidden, hidden)",
                "uses_lax_scan": "__call__ runs jax.lax.scan, and lax_scan_in_module uses the Module"}


def headline(v: Verdict) -> str:
    """One line: the verdict in words and the score."""
    if v.verdict == "JE":
        return JE_TEXT
    return f"Verdict: {v.verdict} ({NAMES[v.verdict]}). Score {v.score:.2f} / {v.max_score:.2f}."


def case_title(c: CaseVerdict) -> str:
    return f"{c.set} case {c.id} (H={c.hidden}, T={c.T})"


def case_text(c: CaseVerdict) -> str:
    took = f" [{c.time_s:.2f} s]" if c.time_s is not None else ""
    return f"{c.verdict} ({NAMES[c.verdict]}): {c.message}{took}"


def check_title(k: CheckVerdict) -> str:
    return f"check {k.id}: {CHECK_TITLES.get(k.id, k.id)}" + ("" if k.required else " (optional)")


def check_text(k: CheckVerdict) -> str:
    return ("passed" if k.passed else "failed") + (f": {k.message}" if k.message else "")


def hidden_summary(cases: list[CaseVerdict]) -> str:
    """Counts only: how many hidden cases passed and which verdicts the others got."""
    passed = sum(c.verdict == "AC" for c in cases)
    counts: dict[str, int] = {}
    for c in cases:
        if c.verdict != "AC":
            counts[c.verdict] = counts.get(c.verdict, 0) + 1
    others = ", ".join(f"{n} {NAMES[code]}" for code, n in counts.items())
    return f"{passed} of {len(cases)} hidden cases passed" + (f" ({others})" if others else "")


def clip(text: str, limit: int) -> str:
    """At most `limit` characters, saying so when something was cut."""
    if len(text) <= limit:
        return text
    note = f"\n[... {len(text) - limit} more characters cut]"
    return text[:max(0, limit - len(note))] + note


def points(x: float) -> float:
    """A plain, finite JSON number (scores are sums of float shares)."""
    if not math.isfinite(x):
        raise JudgeError(f"a score is not finite ({x})")
    return round(x, 6)


def dump(doc: dict, schema: str) -> str:
    """Validate against the platform's schema (a violation is the grader's bug: JE) and serialise."""
    try:
        jsonschema.validate(doc, load_schema(schema))
    except jsonschema.ValidationError as e:
        raise JudgeError(f"{schema}: the results fail their schema at {list(e.absolute_path)}: "
                         f"{e.message[:200]}") from None
    return json.dumps(doc, indent=2, sort_keys=True, allow_nan=False, ensure_ascii=False) + "\n"
