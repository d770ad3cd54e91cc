"""Shared fixtures: a test copy of the bundle's problem with short limits, and in-process graders."""
from __future__ import annotations

import io
import os
import shutil
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest
import yaml

from grader import BUNDLE_ROOT
from grader.host.isolation import cpus_available
from grader.problem import Problem, load_problem

# Parallel test workers share the machine as batch's workers do: each grading gets its share of the
# CPUs (GRADER_CPUS, programs.py's overlap needs two), so timing bounds are not met on a machine
# oversubscribed by the suite itself. test_overlap.py drives the overlap explicitly.
if os.environ.get("PYTEST_XDIST_WORKER_COUNT", "").isdigit():
    os.environ.setdefault("GRADER_CPUS", str(max(1, cpus_available() // int(os.environ["PYTEST_XDIST_WORKER_COUNT"]))))

ROOT = BUNDLE_ROOT
SUBMISSIONS = ROOT / "tests" / "submissions"
# Short limits keep the suite fast; every one is still far above what the reference needs
# (measured: load ~2 s, a case < 1.2 s eager on 2 busy cores).
TEST_LIMITS = {"load_time_s": 25, "case_time_s": 8, "total_time_s": 120, "memory_mb": 900,
               "output_bytes": 65536, "scratch_mb": 16}


def make_test_bundle(dest: Path, **limit_overrides) -> Path:
    """Copy problem.yaml (with short limits) and tests/data into dest; returns the problem.yaml path."""
    raw = yaml.safe_load((ROOT / "problem.yaml").read_text())
    raw["limits"] = {**raw.get("limits", {}), **TEST_LIMITS, **limit_overrides}
    (dest / "tests" / "data").mkdir(parents=True, exist_ok=True)
    for f in (ROOT / "tests" / "data").glob("*.yaml"):
        shutil.copy(f, dest / "tests" / "data" / f.name)
    (dest / "problem.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    return dest / "problem.yaml"


def one_case_bundle(dest: Path, **limits) -> Path:
    """make_test_bundle, trimmed to the first public case and no checks: one child, one case."""
    path = make_test_bundle(dest, **limits)
    raw = yaml.safe_load(path.read_text())
    raw["cases"]["public"] = raw["cases"]["public"][:1]
    raw["checks"] = []
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    golden = dest / "tests" / "data" / "public.yaml"
    data = yaml.safe_load(golden.read_text())
    data["cases"] = data["cases"][:1]
    golden.write_text(yaml.safe_dump(data, sort_keys=False))
    variants = dest / "tests" / "data" / "variants.yaml"     # lists every case of problem.yaml
    if variants.exists():
        kept = {c["id"] for group in raw["cases"].values() for c in group}
        data = yaml.safe_load(variants.read_text())
        data["cases"] = [c for c in data["cases"] if c["id"] in kept]
        variants.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@pytest.fixture(scope="session")
def test_problem_path(tmp_path_factory) -> Path:
    return make_test_bundle(tmp_path_factory.mktemp("bundle"))


@pytest.fixture(scope="session")
def test_problem(test_problem_path) -> Problem:
    return load_problem(test_problem_path)


def run_cli(argv: list[str]) -> tuple[int, str, str]:
    """Run `python -m grader ARGV` in-process; returns (exit code, stdout, stderr)."""
    from grader.__main__ import main
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(argv)
    return code, out.getvalue(), err.getvalue()


def example_submissions() -> list[tuple[str, Path]]:
    """(folder, file) for every example under tests/submissions/<folder>/."""
    return sorted((d.name, f) for d in SUBMISSIONS.iterdir() if d.is_dir()
                  for f in d.iterdir() if f.suffix in (".py", ".ipynb") or f.is_symlink())
