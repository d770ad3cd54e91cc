"""The closed verdict type, scoring, and the one JSON renderer (validated before it is written)."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

import jsonschema

from .. import JudgeError
from ..problem import Problem, load_schema
from .reasons import Found, Reason
from ..text import clip

MAX_HINT = 600   # characters of one hint in the verdict

VerdictCode = Literal["AC", "WA", "RTE", "TLE", "MLE", "OLE", "CE", "JE"]
SCHEMA_VERSION = 1
NAMES = {"AC": "accepted", "WA": "wrong answer", "RTE": "run-time error", "TLE": "time limit exceeded",
         "MLE": "memory limit exceeded", "OLE": "output limit exceeded", "CE": "could not load",
         "JE": "judge error"}


@dataclass(frozen=True)
class CaseVerdict:
    id: str
    set: Literal["public", "hidden"]
    seed: int
    hidden: int
    T: int
    verdict: VerdictCode
    score: float
    max_score: float
    max_abs_err: float | None
    max_rel_err: float | None
    time_s: float | None
    message: str
    reason: Reason


@dataclass(frozen=True)
class CheckVerdict:
    id: str
    required: bool
    passed: bool
    score: float
    max_score: float
    message: str


@dataclass(frozen=True)
class Verdict:
    problem: str
    bundle: dict
    submission: dict
    verdict: VerdictCode
    score: float
    max_score: float
    cases: tuple[CaseVerdict, ...]
    checks: tuple[CheckVerdict, ...]
    hints: tuple[Found, ...]
    environment: dict
    timing: dict
    internal: dict = field(default_factory=dict)

    @property
    def feedback(self) -> tuple[str, ...]:
        """The hints' sentences, in order: what every report and adapter shows."""
        return tuple(clip(h.text, MAX_HINT) for h in self.hints)


def case_points(problem: Problem, sets: tuple[str, ...]) -> dict[str, float]:
    """Points per case id: hidden cases share the case points equally; public ones weigh public_weight."""
    case_total = problem.max_score - (problem.checks_points if problem.checks else 0.0)
    weights = {c.id: (1.0 if c.set == "hidden" else problem.public_weight) for c in problem.cases}
    total_w = sum(weights.values()) or 1.0
    return {c.id: case_total * weights[c.id] / total_w for c in problem.cases if c.set in sets}


def check_points(problem: Problem) -> dict[str, float]:
    total_w = sum(c.weight for c in problem.checks) or 1.0
    return {c.id: problem.checks_points * c.weight / total_w for c in problem.checks}


def top_level(cases: tuple[CaseVerdict, ...], checks: tuple[CheckVerdict, ...]) -> VerdictCode:
    """JE if any case is JE; AC only if every case and required check passes; else the first failing
    case's verdict (cases arrive public first, then hidden, each in file order); else WA."""
    if any(c.verdict == "JE" for c in cases):
        return "JE"
    failing = [c.verdict for c in cases if c.verdict != "AC"]
    if failing:
        return failing[0]
    return "WA" if any(c.required and not c.passed for c in checks) else "AC"


def to_json(v: Verdict) -> dict:
    doc = {"schema_version": SCHEMA_VERSION, **asdict(v)}
    doc["score"] = round(doc["score"], 6)
    doc["max_score"] = round(doc["max_score"], 6)
    doc["cases"] = [{**c, "score": round(c["score"], 6), "max_score": round(c["max_score"], 6)}
                    for c in doc["cases"]]
    doc["checks"] = [{**c, "score": round(c["score"], 6), "max_score": round(c["max_score"], 6)}
                     for c in doc["checks"]]
    doc["cases"] = [{**c, "reason": Reason(c["reason"]).value} for c in doc["cases"]]
    doc["feedback"] = list(v.feedback)
    doc["hints"] = [{"reason": h.reason.value, "text": text} for h, text in zip(v.hints, v.feedback)]
    if not v.internal:
        del doc["internal"]
    return doc


def validate(doc: dict) -> dict:
    try:
        jsonschema.validate(doc, load_schema("verdict.schema.json"))
    except jsonschema.ValidationError as e:
        raise JudgeError(f"the verdict fails its own schema at {list(e.absolute_path)}: {e.message[:200]}")
    return doc


def render(v: Verdict) -> str:
    """The one renderer: validated, sorted keys, plain JSON numbers (NaN is never written)."""
    return json.dumps(validate(to_json(v)), sort_keys=True, indent=2, allow_nan=False) + "\n"


def write_atomic(path: Path, text: str) -> None:
    """Write a verdict (or any output) as grader/output.py decides for the kind of path."""
    from ..output import write_output
    write_output(path, text)
