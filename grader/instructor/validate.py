"""`python -m grader validate`: can this bundle be trusted in this environment? (docs/validation.md)

Like Kattis' verifyproblem, and more: schemas; the reference reproduces every golden vector here and
gets AC with full marks; the starter does not; every example gets its folder's verdict; every known
wrong variant is caught by some hidden case, decisively; float32 arithmetic sits well inside the
tolerance; every correct solution it knows, graded cold on one CPU, gets AC within half of each time
limit (Kattis' 2x margin). Exit 0 only when every check passes, 1 when one fails, 2 for the
operator's mistakes. Everything that runs JAX runs in sandboxed children.
"""
from __future__ import annotations

import argparse
import re
import sys
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path

from .. import BUNDLE_ROOT, JudgeError, Parser, UsageError
from ..judge.cases import Golden, environment_fingerprint, load_golden
from ..judge.drift import AGREE_FRACTION, agreement, differences
from ..problem import Problem, load_problem, validation_files
from .quality import TIME_MARGIN, assess, margins, sole_catchers, tightest, uncaught
from .validate_report import finish

FOLDER_VERDICT = {"accepted": "AC", "wrong_answer": "WA", "run_time_error": "RTE",
                  "time_limit_exceeded": "TLE", "memory_limit_exceeded": "MLE",
                  "output_limit_exceeded": "OLE", "compile_error": "CE"}


@dataclass
class Check:
    id: str
    passed: bool
    summary: str
    details: list[str] = field(default_factory=list)


@dataclass
class Report:
    problem: str
    checks: list[Check] = field(default_factory=list)
    quality: list = field(default_factory=list)
    variant_ids: list[str] = field(default_factory=list)
    limits: list = field(default_factory=list)       # quality.Margin rows of the cold gradings
    cold: list = field(default_factory=list)         # quality.ColdRun per correct solution

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)


def _parser() -> argparse.ArgumentParser:
    p = Parser(prog="python -m grader validate", description=__doc__.splitlines()[0])
    p.add_argument("--json", metavar="PATH", help="also write the report as JSON here ('-' for stdout)")
    p.add_argument("--calibrate", action="store_true", help="print proposed time limits for problem.yaml")
    p.add_argument("--skip-examples", action="store_true", help="do not grade tests/submissions/*/")
    p.add_argument("--all-levels", action="store_true",
                   help="grade an example once per level its `# isolation:` line names (default: once, "
                        "at the level grading here uses)")
    p.add_argument("--jobs", type=int, default=2, help="gradings run in parallel (default 2)")
    p.add_argument("--cold-jobs", type=int, default=1,
                   help="cold one-CPU gradings run side by side, each pinned to its own core (default 1)")
    p.add_argument("--isolation", choices=("bwrap", "uid", "process"), default=None)
    return p


def main(argv: list[str] | None = None, problem_path: Path | None = None) -> int:
    args = _parser().parse_args(argv or [])
    if args.jobs < 1 or args.cold_jobs < 1:
        raise UsageError("validate: --jobs and --cold-jobs must be at least 1")
    path = Path(problem_path) if problem_path else BUNDLE_ROOT / "problem.yaml"
    try:
        problem = load_problem(path)
    except UsageError as e:
        if not path.is_file():      # no file is the operator's mistake; a bad one is a failed check
            raise
        report = Report("?", [Check("schemas", False, str(e))])
        return finish(report, args)
    for need in ("reference", "starter"):
        if not (problem.root / need / "solution.py").is_file():
            raise UsageError(f"{problem.root / need / 'solution.py'}: missing; validate needs the full bundle")
    validation_files(problem)        # a listed solution that does not exist: one line, exit 2
    args.problem_file = path
    return finish(run_validation(problem, args), args)


def run_validation(problem: Problem, args) -> Report:
    report = Report(problem.id)
    goldens, variants = _schemas(problem, report)
    if goldens is None:
        return report
    examples = [] if args.skip_examples else example_jobs(problem.root / "tests" / "submissions",
                                                          args.all_levels, args.isolation)
    tasks = [("probe", None, "all", args.isolation),
             ("grade", str(problem.reference_path), "all", args.isolation),
             ("grade", str(problem.root / "starter" / "solution.py"), "all", args.isolation),
             *[("grade", str(p), sets, level) for _, p, sets, level in examples]]
    results = _run_all(problem, tasks, args.jobs)
    cases = tuple(c for g in goldens for c in g.cases)
    probe = results[0]
    _reproduce(problem, cases, probe, report)
    _graded(report, "reference", results[1], lambda v: v.verdict == "AC" and v.score >= v.max_score - 1e-9,
            "AC with full marks")
    _graded(report, "starter", results[2], lambda v: v.verdict != "AC" and v.score == 0, "not AC, score 0")
    if not args.skip_examples:
        _examples(report, examples, results[3:])
    if not isinstance(probe, str):
        _vectors(problem, cases, probe, variants, report)
    _cold(problem, args, report)
    return report


def _cold(problem: Problem, args, report: Report) -> None:
    """Every correct solution graded cold on one CPU, after every other run (nothing of validate's
    beside it): AC with full marks, within half of each time limit."""
    from .probe import cold_gradings, correct_solutions
    files = correct_solutions(problem, args.skip_examples)
    print(f"  cold gradings: {len(files)} correct solutions, all cases, an empty compilation cache, one CPU",
          file=sys.stderr, flush=True)

    def progress(r) -> None:
        print(f"  [cold {r.file}] {r.verdict or r.why} {r.total_s:.1f}s on CPU {r.cpu}", file=sys.stderr, flush=True)

    report.cold = cold_gradings(args.problem_file, files, problem.limits.total_time_s, args.isolation,
                                args.cold_jobs, progress)
    report.limits = margins(report.cold, problem.limits)
    bad = [f"{r.file}: {r.verdict or 'no verdict'}, want AC with full marks ({r.why})"
           for r in report.cold if not r.accepted]
    bad += [m.say() for m in report.limits if not m.ok]
    tight = tightest(report.limits)
    report.checks.append(Check(
        "time_limits", not bad, "; ".join(bad[:3]) + (f" (and {len(bad) - 3} more)" if len(bad) > 3 else "") or (
            f"{len(report.cold)} correct solution{'s' if len(report.cold) != 1 else ''}, cold on one CPU, got AC within 1/{TIME_MARGIN:g} of every "
            f"limit; tightest: " + (tight.say() if tight else "none")), bad))


def _schemas(problem: Problem, report: Report) -> tuple[list[Golden] | None, object]:
    details, goldens, variants = [f"problem.yaml: {len(problem.cases)} cases"], [], None
    try:
        for s in ("public", "hidden"):
            goldens.append(load_golden(problem, s))
            details.append(f"{s}.yaml: {len(goldens[-1].cases)} cases")
        from ..judge.variants import load_variants, path_of
        if path_of(problem).is_file():
            variants = load_variants(problem)
            details.append(f"variants.yaml: {len(variants.says)} variants")
    except JudgeError as e:
        report.checks.append(Check("schemas", False, str(e), details))
        return None, None
    problems = []
    if variants is None:
        problems.append("tests/data/variants.yaml is missing (the kill sets need it): run `make regen`")
    elif variants.fingerprint != goldens[0].fingerprint:
        problems.append("variants.yaml was made in another environment than the golden files: run `make regen`")
    if goldens[0].fingerprint != goldens[1].fingerprint:
        problems.append("public.yaml and hidden.yaml carry different fingerprints: run `make regen`")
    report.checks.append(Check("schemas", not problems, "; ".join(problems) or "all files valid", details))
    versions, settings = differences(goldens[1].fingerprint, environment_fingerprint())
    report.checks.append(Check(
        "environment", not settings,
        "; ".join(settings) + " (W differs: run `make regen`)" if settings else
        ("versions differ: " + "; ".join(versions) + " (the reproduce check decides)") if versions else
        "the golden fingerprint matches this environment (versions and pinned JAX settings)"))
    return goldens, variants


def _run_all(problem: Problem, tasks: list[tuple], jobs: int) -> list:
    """Results in task order; one progress line per finished run on stderr (a run takes seconds)."""
    results: list = [None] * len(tasks)

    def done(i: int, result) -> None:
        results[i] = result
        kind, path = tasks[i][0], tasks[i][1]
        what = "reference probe" if kind == "probe" else Path(path).parent.name + "/" + Path(path).name
        got = result if isinstance(result, str) else getattr(result, "verdict", "ok")
        print(f"  [{sum(r is not None for r in results)}/{len(tasks)}] {what}: {str(got)[:80]}",
              file=sys.stderr, flush=True)

    if jobs == 1 or len(tasks) == 1:
        for i, t in enumerate(tasks):
            done(i, _task(problem, *t))
        return results
    # spawn: a clean interpreter per worker (forking a threaded parent, e.g. under pytest, can hang)
    with ProcessPoolExecutor(max_workers=min(jobs, len(tasks)), mp_context=get_context("spawn")) as pool:
        futures = {pool.submit(_task, problem, *t): i for i, t in enumerate(tasks)}
        for f in as_completed(futures):
            done(futures[f], f.result())
    return results


def _task(problem: Problem, kind: str, path: str | None, sets: str, isolation):
    """One sandboxed run; a string result says why it could not run."""
    try:
        if kind == "probe":
            from .probe import run_probe
            ref = (problem.reference_path).read_bytes()
            cases = [c for s in ("public", "hidden") for c in load_golden(problem, s).cases]
            return run_probe(problem, ref, cases, isolation)
        from ..grade import grade
        return grade(problem, path, sets, isolation)
    except (RuntimeError, OSError) as e:
        return f"{type(e).__name__}: {e}"
    except (JudgeError, UsageError) as e:
        return str(e)


def _reproduce(problem: Problem, cases, probe, report: Report) -> None:
    if isinstance(probe, str):
        report.checks.append(Check("reproduce", False, f"the reference could not be run: {probe}"))
        return
    exact = sum(bool((probe.reference[c.spec.id] == c.expected).all()) for c in cases)
    worst = {c.spec.id: agreement(probe.reference[c.spec.id], c.expected, problem.rtol, problem.atol)
             for c in cases}
    bad = [f"{cid}: {r:.3g}× the tolerance" for cid, r in worst.items() if not r <= AGREE_FRACTION]
    report.checks.append(Check(
        "reproduce", not bad,
        f"{exact}/{len(cases)} cases bit-identical; worst {max(worst.values()):.3g}× the tolerance "
        f"(allowed {AGREE_FRACTION:g}×)" + (": " + ", ".join(bad[:5]) + " — run `make regen`" if bad else "")))


def _graded(report: Report, name: str, v, ok, want: str) -> None:
    if isinstance(v, str):
        report.checks.append(Check(name, False, f"could not be graded: {v}"))
        return
    good = ok(v)
    why = "" if good else " — " + (v.internal.get("judge_error") or next(
        (f"{c.id}: {c.message}" for c in v.cases if c.verdict != "AC"), "a check failed"))[:300]
    report.checks.append(Check(name, good, f"{v.verdict} {v.score:.2f}/{v.max_score:.2f} (want {want}){why}"))


def example_jobs(folder: Path, all_levels: bool = True,
                 isolation=None) -> list[tuple[str, Path, str, str | None]]:
    """(folder, file, sets, isolation) per example; with all_levels, once per level its `# isolation:`
    line names (as the test suite does), else once at `isolation` (None: the best available)."""
    jobs = []
    if not folder.is_dir():
        return jobs
    for d in sorted(p for p in folder.iterdir() if p.is_dir()):
        for f in sorted(d.iterdir()):
            if not (f.suffix in (".py", ".ipynb") or f.is_symlink()):
                continue
            try:
                head = "" if f.is_symlink() else f.read_bytes()[:4096].decode("utf-8", "replace")
            except OSError:
                head = ""
            sets = "all" if re.search(r"^# grade: all\s*$", head, re.M) else "public"
            m = re.search(r"^# isolation: ([a-z ]+)$", head, re.M) if all_levels else None
            for level in (m.group(1).split() if m else [isolation]):
                jobs.append((d.name, f, sets, level))
    return jobs


def _examples(report: Report, examples, results) -> None:
    wrong = []
    for (folder, f, sets, level), v in zip(examples, results):
        want = FOLDER_VERDICT.get(folder)
        got = v if isinstance(v, str) else v.verdict
        full = isinstance(v, str) or folder != "accepted" or v.score >= v.max_score - 1e-9
        if got != want or not full:
            wrong.append(f"{folder}/{f.name}[{level or 'best'}]: {got if want else 'unknown folder'}"
                         f", want {want}" + ("" if full else " with full marks"))
    summary = (f"{len(examples) - len(wrong)}/{len(examples)} examples got their folder's verdict"
               if examples else "no examples under tests/submissions/")
    report.checks.append(Check("examples", bool(examples) and not wrong, summary, wrong))


def _vectors(problem: Problem, cases, probe, variants, report: Report) -> None:
    expected = {c.spec.id: c.expected for c in cases}
    outputs = variants.outputs if variants is not None else {}
    report.variant_ids = list(variants.says) if variants is not None else []
    report.quality = assess(tuple(c.spec for c in cases), expected, outputs, probe.float64,
                            problem.rtol, problem.atol)
    hidden = [q for q in report.quality if q.spec.set == "hidden"]
    missed = uncaught(report.quality, report.variant_ids)
    idle = [q.spec.id for q in hidden if not q.kills and not q.spec.edge]
    sole = sole_catchers(report.quality)
    details = [f"{vid} is caught only by {cid}" for vid, cid in sole.items()]
    if variants is None:
        report.checks.append(Check("kill_sets", False, "no variants.yaml: run `make regen`"))
    else:
        bits = [f"variants caught by no hidden case: {', '.join(missed)}"] if missed else []
        bits += [f"non-edge hidden cases that catch nothing: {', '.join(idle)}"] if idle else []
        least = min(((sum(vid in q.kills for q in hidden), vid) for vid in report.variant_ids),
                    default=(0, "none"))
        report.checks.append(Check("kill_sets", not bits, "; ".join(bits) or
                                   f"all {len(report.variant_ids)} variants caught; the least caught, "
                                   f"{least[1]}, by {least[0]} hidden cases", details))
    margin = [f"{q.spec.id}: {p}" for q in report.quality for p in q.problems if "kills no variant" not in p]
    nonedge = [q for q in report.quality if not q.spec.edge]
    w = [q.wrong for q in nonedge if q.wrong is not None]
    f = [q.tol_over_f64 for q in nonedge if q.tol_over_f64 is not None]
    report.checks.append(Check("margins", not margin, "; ".join(margin[:5]) or
                               f"non-edge cases: min wrong/tol {min(w, default=float('nan')):.3g}, "
                               f"min tol/float64 {min(f, default=float('nan')):.3g}", margin))
