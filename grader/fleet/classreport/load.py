"""Stage 1: batch records -> typed submissions, with everything the page must never show left behind.

Only what the class report renders is copied out of a record: ids, verdicts, reason codes, scores,
times, and the student-facing messages (already banded for hidden cases by the grader). The
verdict's `internal` block, error sizes and inputs are never read, so no later stage can leak them.
Messages are anonymised here (the submission's key, path and roster entries replaced) because one
example message per mistake is shown to the instructor, who may forward it.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from ... import UsageError
from ..records import read_records

VERDICTS = ("AC", "WA", "RTE", "TLE", "MLE", "OLE", "CE", "JE")
RESOURCE_VERDICTS = ("TLE", "MLE", "OLE")
ANON = "‹student›"
MESSAGE_CHARS = 240


@dataclass(frozen=True)
class CaseRow:
    id: str
    set: str                # public | hidden
    size: int | None        # H, the vector size (the verdict's `hidden` key)
    T: int | None
    verdict: str
    reason: str | None      # None: graded before reason codes
    score: float
    max_score: float
    time_s: float | None
    message: str

    @property
    def passed(self) -> bool:
        return self.verdict == "AC"


@dataclass(frozen=True)
class CheckRow:
    id: str
    required: bool
    passed: bool
    score: float
    max_score: float
    reason: str | None
    message: str


@dataclass(frozen=True)
class Hint:
    reason: str
    text: str


@dataclass(frozen=True)
class Submission:
    key: str
    students: tuple[str, ...]      # display names from the roster; empty without one
    verdict: str
    score: float
    max_score: float
    total_s: float | None
    cases: tuple[CaseRow, ...]
    checks: tuple[CheckRow, ...]
    hints: tuple[Hint, ...]
    feedback: tuple[str, ...]
    has_reasons: bool              # the verdict carries reason codes (cases' `reason` or `hints`)

    @property
    def label(self) -> str:
        return f"{self.key} ({', '.join(self.students)})" if self.students else self.key


def load(paths: list[Path]) -> list[Submission]:
    """Every record of every file; a key seen twice keeps its last record (as `merge` does)."""
    by_key: dict[str, dict] = {}
    for path in paths:
        for rec in read_records(Path(path), strict=True):
            by_key[rec["key"]] = rec
    if not by_key:
        raise UsageError(f"{', '.join(map(str, paths))}: no batch records")
    return [_submission(rec) for _, rec in sorted(by_key.items())]


def _submission(rec: dict) -> Submission:
    v = rec["verdict"]
    people = [s for s in rec.get("students") or [] if isinstance(s, dict)]
    anon = _anonymiser(rec, people)
    cases = tuple(CaseRow(
        id=str(c.get("id")), set=str(c.get("set", "hidden")), size=_int(c.get("hidden")), T=_int(c.get("T")),
        verdict=_verdict(c.get("verdict")), reason=_code(c.get("reason")), score=_num(c.get("score")),
        max_score=_num(c.get("max_score")), time_s=_opt(c.get("time_s")), message=anon(c.get("message")))
        for c in v.get("cases") or [] if isinstance(c, dict))
    checks = tuple(CheckRow(
        id=str(c.get("id")), required=bool(c.get("required")), passed=c.get("passed") is True,
        score=_num(c.get("score")), max_score=_num(c.get("max_score")), reason=_code(c.get("reason")),
        message=anon(c.get("message"))) for c in v.get("checks") or [] if isinstance(c, dict))
    raw_hints = v.get("hints")
    hints = tuple(Hint(code, anon(h.get("text"))) for h in raw_hints or []
                  if isinstance(h, dict) and (code := _code(h.get("reason"))))
    has_reasons = isinstance(raw_hints, list) or any(c.reason for c in cases)
    return Submission(
        key=rec["key"], students=tuple(str(s.get("name") or s.get("id") or "") for s in people),
        verdict=_verdict(v.get("verdict")), score=_num(v.get("score")), max_score=_num(v.get("max_score")),
        total_s=_opt((v.get("timing") or {}).get("total_s")), cases=cases, checks=checks, hints=hints,
        feedback=tuple(anon(f) for f in v.get("feedback") or []), has_reasons=has_reasons)


def _anonymiser(rec: dict, people: list[dict]):
    """Replace what names the student (longest first, so a path goes before its file name)."""
    words = {str(rec.get("key") or ""), str(rec.get("path") or ""), Path(str(rec.get("path") or "")).name}
    for s in people:
        words |= {str(s.get(k) or "") for k in ("id", "name", "email")}
    words = sorted((w for w in words if len(w) >= 3), key=len, reverse=True)
    pattern = re.compile("|".join(map(re.escape, words))) if words else None

    def anon(text) -> str:
        t = "" if text is None else str(text)
        t = pattern.sub(ANON, t) if pattern else t
        return t if len(t) <= MESSAGE_CHARS else t[:MESSAGE_CHARS - 1] + "…"
    return anon


def _verdict(x) -> str:
    # A record from a newer grader with an unknown verdict is shown as it is, never guessed at.
    return str(x) if x is not None else "JE"


def _code(x) -> str | None:
    return x if isinstance(x, str) and re.fullmatch(r"[a-z][a-z0-9_]{0,63}", x) else None


def _int(x) -> int | None:
    return x if isinstance(x, int) and not isinstance(x, bool) else None


def _num(x) -> float:
    return float(x) if isinstance(x, (int, float)) and not isinstance(x, bool) else 0.0


def _opt(x) -> float | None:
    return float(x) if isinstance(x, (int, float)) and not isinstance(x, bool) else None
