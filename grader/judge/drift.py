"""Environment-drift guard: are the golden vectors still right in the environment grading now?

The golden files carry the fingerprint of the environment that made them (library versions and the
JAX settings that change W). Grading against vectors that no longer hold would hand WA to correct
submissions, so before running anything:
  - settings differ                -> JE: W itself differs, every expected value is wrong here;
  - XLA options differ             -> JE: the children compile with other options than the golden
    files were made with (they move W by ulps, the outputs by up to ~0.1 of the tolerance): the
    options are the bundle's own (child/common.py), so the vectors are stale until `make regen`;
  - only versions differ, full bundle -> a canary: the reference, sandboxed, recomputes one or two
    cases; if it disagrees (or cannot run) -> JE, else grade normally with a note under `internal`;
  - only versions differ, handout (no reference/) -> grade, and tell the student plainly.
Everything here reads versions through importlib.metadata: the grader process never imports JAX.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace

import numpy as np

from .cases import LIBRARIES, Golden, GoldenCase, environment_fingerprint, job_cases
from ..problem import Problem
from .reasons import Found, Reason, found

VERSION_KEYS = ("python", *LIBRARIES)
# The canary (and `validate`'s reproduction check) accepts a recomputed value when it is within this
# fraction of the tolerance of the golden one: far above the ~2e-7 that thread scheduling or XLA
# flags move it, far below what a correct submission may need of the tolerance itself.
AGREE_FRACTION = 0.1
CANARY_CASES = 2
REGEN_HINT = "run `make regen`, review the change with `git diff tests/data`, then `make validate`"


@dataclass(frozen=True)
class Drift:
    """What the guard found: `error` makes the verdict JE; `feedback` and `internal` annotate it."""
    error: str | None = None
    feedback: tuple[Found, ...] = ()
    internal: dict = field(default_factory=dict)

    def annotate(self, verdict):
        if verdict.verdict == "JE" or not (self.feedback or self.internal):
            return verdict
        return replace(verdict, hints=tuple(verdict.hints) + self.feedback,
                       internal={**verdict.internal, "drift": self.internal})


def differences(golden_fp: dict, env_fp: dict) -> tuple[list[str], list[str]]:
    """(version differences, setting differences) as 'name: golden X, here Y' lines."""
    versions = [f"{k} {golden_fp.get(k)} in the golden files, {env_fp.get(k)} here"
                for k in VERSION_KEYS if golden_fp.get(k) != env_fp.get(k)]
    gs, es = golden_fp.get("settings", {}), env_fp.get("settings", {})
    settings = [f"{k}={gs.get(k)!r} in the golden files, {es.get(k)!r} pinned by the runner"
                for k in sorted(set(gs) | set(es)) if gs.get(k) != es.get(k)]
    gx, ex = golden_fp.get("xla_flags"), env_fp.get("xla_flags")
    if (gx or "") != (ex or ""):        # absent: not recorded (files made before it was), or XLA's defaults
        said = "not recorded" if gx is None else repr(gx or "(XLA defaults)")
        settings.append(f"XLA options {said} in the golden files, {ex or '(XLA defaults)'!r} used by the executor")
    return versions, settings


def agreement(got: np.ndarray, expected: np.ndarray, rtol: float, atol: float) -> float:
    """Worst |got - expected| in units of the tolerance (1.0 = the edge of acceptance); inf when the
    shapes differ or a value is not finite."""
    g, a = np.asarray(got, np.float64), np.asarray(expected, np.float64)
    if g.shape != a.shape:
        return float("inf")
    if g.size == 0:
        return 0.0
    r = np.abs(g - a) / (atol + rtol * np.abs(a))
    return float(r.max()) if np.all(np.isfinite(r)) else float("inf")


def guard(problem: Problem, goldens: list[Golden], isolation=None) -> Drift:
    env_fp = environment_fingerprint()
    versions: list[str] = []
    settings: list[str] = []
    for g in goldens:
        v, s = differences(g.fingerprint, env_fp)
        versions += [d for d in v if d not in versions]
        settings += [d for d in s if d not in settings]
    if settings:
        return Drift(error="the golden vectors were made under other JAX settings or XLA options ("
                     + "; ".join(settings) + "), which change W and so the expected values: " + REGEN_HINT)
    if not versions:
        return Drift()
    if not problem.reference_path.is_file():   # the handout: nothing to recompute with
        return Drift(feedback=(found(Reason.LIBRARY_VERSIONS, versions="; ".join(
                         v.replace("in the golden files", "for the grader") for v in versions)),),
                     internal={"versions": versions, "canary": "none (no reference in this bundle)"})
    cases = [c for g in goldens for c in g.cases]
    return _canary(problem, tuple(cases), tuple(versions), isolation)


def canary_cases(cases: tuple[GoldenCase, ...]) -> list[GoldenCase]:
    """The non-edge case with the most arithmetic (hidden*T: drift grows with it) and the first one."""
    usable = [c for c in cases if not c.spec.edge] or list(cases)
    big = max(usable, key=lambda c: (c.spec.hidden * max(c.spec.T, 1), c.spec.hidden))
    return [big] + [c for c in usable[:1] if c is not big][:CANARY_CASES - 1]


_MEMO: dict[str, Drift] = {}


def _canary(problem: Problem, cases: tuple[GoldenCase, ...], versions: tuple[str, ...], isolation) -> Drift:
    """Run once per (reference, golden data, environment) in this process: batch grading pays once."""
    chosen = canary_cases(cases)
    ref = problem.reference_path.read_bytes()
    key = hashlib.sha256(ref + json.dumps([versions, problem.rtol, problem.atol]).encode()
                         + b"".join(c.spec.id.encode() + c.expected.tobytes() for c in chosen)).hexdigest()
    if key not in _MEMO:
        _MEMO[key] = _run_canary(problem, ref, chosen, versions, isolation)
    return _MEMO[key]


def _run_canary(problem: Problem, ref: bytes, chosen: list[GoldenCase], versions: tuple[str, ...],
                isolation) -> Drift:
    what = "; ".join(versions)
    try:
        outputs = reference_outputs(problem, ref, chosen, isolation)
    except RuntimeError as e:
        return Drift(error=f"library versions differ ({what}) and the reference could not be run to check "
                     f"the golden vectors ({e}): {REGEN_HINT}")
    worst = {c.spec.id: agreement(outputs[c.spec.id], c.expected, problem.rtol, problem.atol) for c in chosen}
    bad = {cid: r for cid, r in worst.items() if not r <= AGREE_FRACTION}
    if bad:
        detail = ", ".join(f"case {cid} off by {r:.3g}× the tolerance" for cid, r in bad.items())
        return Drift(error=f"library versions differ ({what}) and the reference no longer reproduces the "
                     f"golden vectors ({detail}; allowed {AGREE_FRACTION}×): expected values are stale, "
                     f"correct submissions would fail: {REGEN_HINT}")
    return Drift(internal={"versions": list(versions), "canary": {cid: round(r, 6) for cid, r in worst.items()},
                           "note": "library versions differ from the golden files', but the reference "
                                   "reproduces the canary cases: graded normally"})


def reference_outputs(problem: Problem, source: bytes, cases: list[GoldenCase], isolation=None,
                      function: str | None = None) -> dict[str, np.ndarray]:
    """Run `source` (the reference, or a probe built on it) sandboxed on `cases`; the raw arrays per
    case id. RuntimeError says what went wrong when it did not load or a case did not return."""
    from ..execute import run
    ex = run(problem, source, job_cases(cases), isolation=isolation,
             extra_job={"function": function} if function else None)
    if ex.judge_error or ex.load is not None:
        load = ex.load
        raise RuntimeError(ex.judge_error or f"it did not load: {load.status} {load.detail} "
                           f"{(load.error or {}).get('etype', '')} {(load.error or {}).get('message', '')[:200]}")
    out = {}
    for c in cases:
        o = ex.cases.get(c.spec.id)
        head = (o.header or {}) if o else {}
        if o is None or o.status != "result" or head.get("kind") != "array" or not o.data:
            detail = f"{o.status} {o.detail} {(o.error or {}).get('message', '')[:200]}" if o else "not run"
            raise RuntimeError(f"case {c.spec.id}: {detail.strip()}")
        out[c.spec.id] = np.frombuffer(o.data, dtype=head["dtype"]).reshape(head["shape"])
    if ex.settings is not None and ex.settings != environment_fingerprint()["settings"]:
        raise RuntimeError(f"the runner reported JAX settings {ex.settings}, not the pinned ones")
    return out
