"""Stage 2: class statistics and item analysis, computed from typed submissions only.

Item analysis follows what instructors know from PrairieLearn's assessment statistics: for every
hidden case and every check, the share of students passing and a discrimination index. Two indices
are given, both over the graded (non-JE) submissions ranked by total score:
- `r`: PrairieLearn's "Discrimination" — the correlation between the item's score (here pass = 1,
  fail = 0) and the total score (point-biserial); undefined when everyone passes or everyone fails;
- `top − bottom`: the classical upper-lower index (Kelley): share passing in the top 27% minus the
  bottom 27% (at least one student per group), the "top vs bottom" picture of PrairieLearn's
  quintile plot in one number.
An item every student passes or fails tells the instructor nothing about who understood: flagged.
JE records are the grader's fault: they are listed apart and left out of every statistic.
"""
from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass

from .load import RESOURCE_VERDICTS, VERDICTS, Submission

GROUP_SHARE = 0.27
NO_REASON = "graded before reason codes"


@dataclass(frozen=True)
class Item:
    kind: str               # "case" | "check"
    id: str
    detail: str             # "H=16, T=0" for a case, "required" for a check
    n: int
    n_pass: int
    r: float | None
    top_minus_bottom: float | None
    flag: str | None        # "everyone passes" | "everyone fails" | None

    @property
    def share(self) -> float:
        return self.n_pass / self.n if self.n else 0.0


@dataclass(frozen=True)
class Cluster:
    group: str              # "diagnosed wrong variant" | "pitfall hint" | "case reason" | NO_REASON
    code: str
    students: int
    example: str            # one anonymised message


@dataclass(frozen=True)
class ClassStats:
    graded: tuple[Submission, ...]          # every non-JE submission, best score first
    judge_errors: tuple[Submission, ...]
    verdicts: dict[str, int]
    items: tuple[Item, ...]
    case_ids: tuple[str, ...]               # public then hidden, in the verdicts' order
    clusters: tuple[Cluster, ...]
    top_failures: tuple[tuple[str, int], ...]
    resources: dict[str, int]               # TLE/MLE/OLE: submissions with it as verdict
    resource_cases: dict[str, int]          # TLE/MLE/OLE: cases with it as verdict
    item_set: str                           # "hidden"; "public" for a batch graded on public cases only


def compute(subs: list[Submission]) -> ClassStats:
    graded = sorted((s for s in subs if s.verdict != "JE"), key=lambda s: (-s.score, s.key))
    verdicts = Counter(s.verdict for s in subs)
    order = {v: i for i, v in enumerate(VERDICTS)}
    case_ids = _case_ids(subs)
    item_set = "hidden" if any(c.set == "hidden" for s in subs for c in s.cases) else "public"
    return ClassStats(
        graded=tuple(graded), judge_errors=tuple(s for s in subs if s.verdict == "JE"),
        verdicts=dict(sorted(verdicts.items(), key=lambda kv: (order.get(kv[0], 99), kv[0]))),
        items=tuple(_items(graded, subs, item_set)), case_ids=case_ids, clusters=tuple(_clusters(graded)),
        top_failures=tuple(Counter(m for s in graded if (m := first_failure(s))).most_common(8)),
        resources={v: verdicts.get(v, 0) for v in RESOURCE_VERDICTS},
        resource_cases={v: sum(c.verdict == v for s in graded for c in s.cases) for v in RESOURCE_VERDICTS},
        item_set=item_set)


def _case_ids(subs: list[Submission]) -> tuple[str, ...]:
    seen: dict[str, str] = {}
    for s in subs:
        for c in s.cases:
            seen.setdefault(c.id, c.set)
    return tuple(sorted(seen, key=lambda i: (seen[i] != "public", list(seen).index(i))))


def _items(graded: list[Submission], subs: list[Submission], item_set: str) -> list[Item]:
    """Hidden cases and checks; a batch run with `--cases public` has only public cases to analyse."""
    meta: dict[tuple[str, str], str] = {}
    for s in subs:
        for c in s.cases:
            if c.set == item_set:
                meta.setdefault(("case", c.id), f"H={c.size}, T={c.T}")
        for k in s.checks:
            meta.setdefault(("check", k.id), "required" if k.required else "optional")
    items = []
    for (kind, iid), detail in meta.items():
        rows = [(s.score, _passed(s, kind, iid)) for s in graded]
        rows = [(score, p) for score, p in rows if p is not None]
        items.append(_item(kind, iid, detail, rows))
    return items


def _passed(s: Submission, kind: str, iid: str) -> bool | None:
    rows = s.cases if kind == "case" else s.checks
    for row in rows:
        if row.id == iid:
            return row.passed
    return None         # this record did not grade the item (e.g. --cases public)


def _item(kind: str, iid: str, detail: str, rows: list[tuple[float, bool]]) -> Item:
    n, n_pass = len(rows), sum(p for _, p in rows)
    flag = None if not n or 0 < n_pass < n else "everyone passes" if n_pass == n else "everyone fails"
    return Item(kind, iid, detail, n, n_pass, point_biserial(rows), upper_lower(rows), flag)


def point_biserial(rows: list[tuple[float, bool]]) -> float | None:
    """Pearson correlation of pass (1/0) with total score; None where either does not vary."""
    if len(rows) < 2:
        return None
    xs, ys = [float(p) for _, p in rows], [s for s, _ in rows]
    try:
        return statistics.correlation(xs, ys)
    except statistics.StatisticsError:
        return None


def upper_lower(rows: list[tuple[float, bool]]) -> float | None:
    """Share passing in the top 27% by score minus the bottom 27%; None below 2 students."""
    if len(rows) < 2:
        return None
    ranked = sorted(rows, key=lambda r: -r[0])
    g = max(1, round(GROUP_SHARE * len(ranked)))
    top, bottom = ranked[:g], ranked[-g:]
    return sum(p for _, p in top) / g - sum(p for _, p in bottom) / g


def _clusters(graded: list[Submission]) -> list[Cluster]:
    """Students per reason code (never per sentence); submissions without codes form one group."""
    who: dict[tuple[str, str], set[str]] = defaultdict(set)
    example: dict[tuple[str, str], str] = {}
    for s in graded:
        if not s.has_reasons:
            if s.verdict != "AC":
                key = (NO_REASON, s.verdict)
                who[key].add(s.key)
                example.setdefault(key, first_failure(s) or "")
            continue
        found = [(c.reason, c.message) for c in s.cases if not c.passed and c.reason] + \
                [(k.reason, k.message) for k in s.checks if not k.passed and k.reason] + \
                [(h.reason, h.text) for h in s.hints]
        for code, text in found:
            key = (_group(code), code)
            who[key].add(s.key)
            example.setdefault(key, text)
    rank = {"diagnosed wrong variant": 0, "pitfall hint": 1, "case reason": 2, NO_REASON: 3}
    out = [Cluster(g, code, len(ks), example[(g, code)]) for (g, code), ks in who.items()]
    return sorted(out, key=lambda c: (rank.get(c.group, 9), -c.students, c.code))


def _group(code: str) -> str:
    if code.startswith("variant_"):
        return "diagnosed wrong variant"
    return "pitfall hint" if code.startswith("pitfall_") else "case reason"


def first_failure(s: Submission) -> str | None:
    """What the student reads first: the first failing case's message, else the first feedback line."""
    if s.verdict == "AC":
        return None
    for c in s.cases:
        if not c.passed:
            msg = c.message
            return f"{c.verdict}: {msg}"[:160]
    return f"{s.verdict}: {s.feedback[0] if s.feedback else ''}"[:160]


def times(subs: tuple[Submission, ...]) -> dict[str, float]:
    ts = [s.total_s for s in subs if s.total_s is not None]
    if not ts:
        return {}
    return {"median": statistics.median(ts), "mean": statistics.fmean(ts), "max": max(ts), "n": len(ts)}
