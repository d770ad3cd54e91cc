"""Small full-bundle copies for the validation and drift tests: a few cases of problem.yaml with their
golden (and wrong-variant) data cut from the committed files, plus the reference and the starter.

Cutting instead of regenerating keeps these tests to a few sandboxed runs each; the committed data
is never modified.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import yaml

from conftest import ROOT, make_test_bundle
from grader.judge.cases import dump_golden, load_golden
from grader.problem import Problem, load_problem

# Generous limits: these tests check vectors and drift, not timing, on a busy 2-core machine.
SLOW_BOX = {"load_time_s": 120, "case_time_s": 60, "total_time_s": 900}


def small_bundle(dest: Path, public=("p01",), hidden=("h01", "h24", "h25"), reference: bool = True,
                 variants: bool = True, **limits) -> Path:
    """A bundle in dest with only the named cases (and SLOW_BOX's limits, or `limits`); returns its
    problem.yaml."""
    path = make_test_bundle(dest, **{**SLOW_BOX, **limits})
    raw = yaml.safe_load(path.read_text())
    raw["cases"] = {"public": [c for c in raw["cases"]["public"] if c["id"] in public],
                    "hidden": [c for c in raw["cases"]["hidden"] if c["id"] in hidden]}
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    full, small = load_problem(ROOT / "problem.yaml"), load_problem(path)
    data = dest / "tests" / "data"
    for case_set in ("public", "hidden"):
        write_golden(small, case_set, load_golden(full, case_set), data / f"{case_set}.yaml")
    (data / "variants.yaml").unlink(missing_ok=True)
    if variants:
        from grader.judge.variants import dump_variants, generate, load_variants, path_of
        if path_of(full).is_file():
            v = load_variants(full)
            (data / "variants.yaml").write_text(
                dump_variants(small, v.fingerprint, {c.id: v.outputs[c.id] for c in small.cases}))
        else:   # not committed yet: compute it for these few cases
            generate(small)
    if reference:
        for folder in ("reference", "starter"):
            shutil.copytree(ROOT / folder, dest / folder, dirs_exist_ok=True)
    return path


def write_golden(problem: Problem, case_set: str, source, out: Path, fingerprint: dict | None = None,
                 expected: dict | None = None) -> None:
    """Write problem's cases of case_set taking x/expected from `source` (a Golden), optionally with
    another fingerprint or other expected values (case id -> array)."""
    by_id = {g.spec.id: g for g in source.cases}
    rows = [(spec, by_id[spec.id].x, (expected or {}).get(spec.id, by_id[spec.id].expected))
            for spec in problem.cases_of(case_set)]
    out.write_text(dump_golden(problem, case_set, fingerprint or source.fingerprint, rows))


SLOW_WRAPPER = """

import time as _slow_time
_slow_inner = lax_scan_in_module


def lax_scan_in_module(seed, x, hidden, T):
    _slow_time.sleep({sleep_s})      # once per case: the runner traces it once to export it
    return _slow_inner(seed, x, hidden, T)
"""


def slow_correct_solution(dest: Path, sleep_s: float, name: str = "slow_but_correct.py") -> str:
    """The reference made slower by a sleep in each call (wall time that a busy machine does not
    stretch): a correct solution whose cold time is known to exceed sleep_s per case. Written into
    the bundle at dest; returns its path relative to the bundle, for validation.accepted."""
    (dest / "solutions").mkdir(exist_ok=True)
    source = (ROOT / "reference" / "solution.py").read_text() + SLOW_WRAPPER.format(sleep_s=sleep_s)
    (dest / "solutions" / name).write_text(source)
    return f"solutions/{name}"


def list_accepted(path: Path, entries: list[str]) -> None:
    """Set problem.yaml's validation.accepted."""
    raw = yaml.safe_load(path.read_text())
    raw["validation"] = {"accepted": entries}
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
