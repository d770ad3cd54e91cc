"""The grading pipeline: resolve -> golden -> run (sandboxed) -> compare -> checks -> verdict.

`grade()` always returns a Verdict: the submission's problems become student verdicts, the grader's
own failures become JE (with the cause under `internal`). Only UsageError (the operator's mistake)
escapes.
"""
from __future__ import annotations

import hashlib
import platform
import time
import traceback
from dataclasses import replace
from functools import lru_cache
from pathlib import Path

from . import BUNDLE_ROOT, GraderError, UsageError
from .judge.cases import Golden, GoldenCase, job_cases, library_versions, load_golden
from .judge.compare import Judged, clip, judge, to_case_verdict
from .judge.checks import decide
from .judge.drift import guard
from .execute import run
from .outcome import Outcome
from .judge.feedback import Diagnosis, dedupe, hint_for_case, hints_for_error, hints_for_settings, output_excerpt
from .problem import Problem
from .judge.reasons import Found, Reason, found
from .submission import PATH_LIMIT, Source, resolve
from .text import safe
from .judge.variants import for_grading
from .judge.verdict import CaseVerdict, CheckVerdict, Verdict, case_points, check_points, top_level

SETS = {"public": ("public",), "hidden": ("hidden",), "all": ("public", "hidden")}
LOAD_VERDICT = {"error": "CE", "crash": "CE", "garbage": "CE", "timeout": "TLE", "memory": "MLE",
                "output": "OLE", "scratch": "RTE"}


@lru_cache(maxsize=None)
def bundle_fingerprint(root: Path = BUNDLE_ROOT) -> str:
    """Hash of everything that decides a verdict: problem.yaml, golden data, the grader's code."""
    h = hashlib.sha256()
    files = [root / "problem.yaml", *sorted((root / "tests" / "data").glob("*.yaml")),
             *sorted((root / "grader").rglob("*.py")), *sorted((root / "grader" / "schemas").glob("*.json"))]
    for f in files:
        if f.is_file():
            h.update(str(f.relative_to(root)).encode() + b"\0" + f.read_bytes() + b"\0")
    return h.hexdigest()[:16]


def environment(isolation: str) -> dict:
    from .host.landlock import abi       # uid children run under Landlock exactly when the kernel has it
    return {"python": platform.python_version(), "isolation": isolation,
            "landlock": abi() if isolation == "uid" else None, **library_versions()}


def grade(problem: Problem, path: str | Path, sets: str = "all", isolation: str | None = None) -> Verdict:
    t0 = time.monotonic()
    source = Source(safe(str(path), PATH_LIMIT), None, None)   # shown even when resolving fails
    try:
        source = resolve(path, problem.limits.code_bytes)   # UsageError when the path does not exist
        # A set without cases (the handout has no hidden ones) needs no golden file.
        goldens = [load_golden(problem, s) for s in SETS[sets] if problem.cases_of(s)]
        drift = guard(problem, goldens, isolation)   # stale golden data: JE, never WA for everyone
        if drift.error:
            return judge_error(problem, source, sets, drift.error, t0, _level(isolation))
        return drift.annotate(_grade(problem, source, goldens, sets, isolation, t0))
    except UsageError:
        raise
    except Exception as e:  # noqa: BLE001 - never crash without a verdict
        cause = f"{type(e).__name__}: {e}" if not isinstance(e, GraderError) else str(e)
        return judge_error(problem, source, sets, cause, t0, _level(isolation),
                           traceback.format_exc() if not isinstance(e, GraderError) else None)


def _level(isolation: str | None) -> str:
    """The isolation level a verdict reports when grading stopped before a sandbox started."""
    from .host.isolation import probe
    try:
        return isolation or probe()
    except Exception:  # noqa: BLE001 - a verdict must still be written
        return "process"


def judge_error(problem: Problem, source: Source, sets: str, cause: str, t0: float, isolation: str,
                trace: str | None = None) -> Verdict:
    points = case_points(problem, SETS[sets])
    cases = tuple(CaseVerdict(c.id, c.set, c.seed, c.hidden, c.T, "JE", 0.0, points[c.id], None, None, None,
                              found(Reason.JUDGE_ERROR).text, Reason.JUDGE_ERROR) for c in problem.cases_of(sets))
    checks = _checks_not_run(problem, "not run: judge error")
    internal = {"judge_error": cause, **({"traceback": trace} if trace else {})}
    return _verdict(problem, source, "JE", cases, checks, (found(Reason.JUDGE_ERROR, hint=True),), isolation, t0,
                    internal)


def _grade(problem: Problem, source: Source, goldens: list[Golden], sets: str, isolation, t0) -> Verdict:
    golden = [g for gs in goldens for g in gs.cases]
    points = case_points(problem, SETS[sets])
    if source.problem:
        return _not_loaded(problem, source, golden, points, "CE", source.problem, _level(isolation), t0, {})
    ex = run(problem, source.code, job_cases(golden), isolation=isolation)
    internal = {"children": ex.children, "executors": ex.executors, "peak_memory_mb": round(ex.peak_memory / 2**20, 1),
                "output_bytes": ex.output_bytes, "output_head": output_excerpt(ex.output_head, ex.output_bytes),
                "load_time_s": ex.load_time_s}
    if ex.judge_error:
        return judge_error(problem, source, sets, ex.judge_error, t0, ex.isolation)
    if ex.load is not None:
        code = LOAD_VERDICT[ex.load.status]
        return _not_loaded(problem, source, golden, points, code, load_message(ex.load), ex.isolation, t0,
                           internal, hints_for_error(ex.load.error))
    feedback: list[Found] = list(source.notes) + hints_for_settings(ex.settings)
    diagnosis = Diagnosis(lambda: for_grading(problem, goldens[0].fingerprint), problem.rtol, problem.atol)
    judged, exact = [], {}
    for g in golden:
        out = ex.cases.get(g.spec.id) or Outcome("not_run", detail="not run")
        j: Judged = judge(g, out, problem.rtol, problem.atol, hidden=g.spec.set == "hidden")
        diagnosis.note(g, j)
        if out.status == "result":  # a setting flipped inside lax_scan_in_module shows only here
            feedback += hints_for_settings(out.settings)
        judged.append((g, j, out))
        if g.spec.set == "hidden" and j.max_abs_err is not None:
            exact[g.spec.id] = [j.max_abs_err, j.max_rel_err]
        feedback += hints_for_error(out.error) + hint_for_case(j)
    equals = diagnosis.equals()   # decided on all the cases at once, then said per case
    cases = [to_case_verdict(g, replace(j, equals=equals.get(g.spec.id)), points[g.spec.id], out.time_s)
             for g, j, out in judged]
    internal["exact_errors"] = exact
    internal["variants"] = diagnosis.state
    feedback += diagnosis.hints()
    # Check points need a passing non-edge case of the most trusted set graded: hidden when any
    # hidden case ran (public answers are in the handout), else public (the handout's local check).
    # Edge cases never count: H = 1 is passed by a transposed W too (README "Scoring").
    trusted = "hidden" if any(g.spec.set == "hidden" for g in golden) else "public"
    earned = any(c.verdict == "AC" and g.spec.set == trusted and not g.spec.edge
                 for c, (g, _, _) in zip(cases, judged))
    checks = decide(problem, ex, golden, earned, source.code, trusted)
    feedback += [found(Reason.CHECK_FAILED, id=c.id, message=c.message) for c in checks if not c.passed]
    verdict = top_level(tuple(cases), checks)
    return _verdict(problem, source, verdict, tuple(cases), checks, dedupe(feedback), ex.isolation, t0,
                    internal)


def load_message(out: Outcome) -> str:
    err = out.error or {}
    etype, msg = err.get("etype", ""), (err.get("message") or "").strip()
    first = clip(" ".join(msg.split()), 300)
    at = f" [{err['frames'][-1]}]" if err.get("frames") else ""
    if out.status == "error":
        if etype == "SystemExit":
            return f"your file called sys.exit({first}) while loading; remove top-level exits"
        if etype == "KeyboardInterrupt":
            return "your file raised KeyboardInterrupt while loading"
        return f"loading your file failed: {etype}: {first}{at}"
    return {"timeout": "loading your file took longer than the time limit (code at the top level runs at import)",
            "memory": "loading your file used more memory than the limit",
            "output": "your file printed more than the output limit while loading",
            "scratch": "your file wrote more files than the scratch space allows while loading",
            "garbage": "your file wrote to the grader's result channel while loading",
            "crash": f"the Python process died while loading your file ({out.detail})"}[out.status]


def _not_loaded(problem, source, golden: list[GoldenCase], points, code, reason, isolation, t0, internal,
                hints=()) -> Verdict:
    cases = tuple(to_case_verdict(g, Judged(code, found(Reason.NOT_LOADED, why=reason)), points[g.spec.id], None)
                  for g in golden)
    checks = _checks_not_run(problem, "not run: the file did not load")
    return _verdict(problem, source, code, cases, checks, dedupe([found(Reason.NOT_GRADED, why=reason),
                                                                 *source.notes, *hints]), isolation, t0, internal)


def _checks_not_run(problem: Problem, message: str) -> tuple[CheckVerdict, ...]:
    return tuple(CheckVerdict(c.id, c.required, False, 0.0, p, message)
                 for c, p in zip(problem.checks, check_points(problem).values()))




def _verdict(problem, source: Source, code, cases, checks, feedback, isolation, t0, internal) -> Verdict:
    return Verdict(
        problem=problem.id, bundle={"version": problem.version, "fingerprint": bundle_fingerprint(problem.root)},
        submission={"path": source.path, "sha256": source.sha256}, verdict=code,
        score=sum(c.score for c in cases) + sum(c.score for c in checks),
        max_score=sum(c.max_score for c in cases) + sum(c.max_score for c in checks),
        cases=cases, checks=checks, hints=tuple(feedback), environment=environment(isolation),
        timing={"total_s": round(time.monotonic() - t0, 3)}, internal=internal)
