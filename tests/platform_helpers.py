"""Helpers for the platform tests: a small problem copy, built bundles, example submissions, and a
run of an entrypoint in a simulated root (a temporary folder standing for /autograder or /grade)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import yaml

from grader import BUNDLE_ROOT

ROOT = BUNDLE_ROOT
PYTHON = Path(sys.prefix) / "bin" / "python"      # the project venv, reused instead of a new one
# h24 has H=1, where a transposed W is invisible: a wrong answer passes it and so gets partial marks.
SMALL_HIDDEN = ("h02", "h05", "h24")
# Generous: the machine is shared and graded runs slow down several-fold under load.
SMALL_LIMITS = {"load_time_s": 60, "case_time_s": 20, "total_time_s": 240, "memory_mb": 900,
                "output_bytes": 65536, "scratch_mb": 16}

REFERENCE = (ROOT / "reference" / "solution.py").read_text()
WRONG = REFERENCE.replace("x @ W", "x @ W.T").replace("carry @ W", "carry @ W.T")
CRASHING = REFERENCE.replace("    model = LaxScanModule", "    raise RuntimeError('boom')\n    model = LaxScanModule")
HANGING = REFERENCE.replace("    model = LaxScanModule", "    while True:\n        pass\n    model = LaxScanModule")
SYNTAX_ERROR = "import jax\ndef lax_scan_in_module(seed, x, hidden, T)\n    return x\n"


def make_small_problem(dest: Path, hidden_ids=SMALL_HIDDEN, public_ids=None, **limits) -> Path:
    """problem.yaml with the public cases and a few hidden ones, short limits, and the matching
    golden and variant files: a full grading run in seconds instead of minutes."""
    raw = yaml.safe_load((ROOT / "problem.yaml").read_text())
    raw["cases"]["hidden"] = [c for c in raw["cases"]["hidden"] if c["id"] in hidden_ids]
    if public_ids is not None:
        raw["cases"]["public"] = [c for c in raw["cases"]["public"] if c["id"] in public_ids]
    raw["limits"] = {**raw.get("limits", {}), **SMALL_LIMITS, **limits}
    keep = {c["id"] for s in ("public", "hidden") for c in raw["cases"][s]}
    (dest / "tests" / "data").mkdir(parents=True, exist_ok=True)
    for f in (ROOT / "tests" / "data").glob("*.yaml"):
        data = yaml.safe_load(f.read_text())
        if isinstance(data, dict) and isinstance(data.get("cases"), list):
            data["cases"] = [c for c in data["cases"] if c["id"] in keep]
        (dest / "tests" / "data" / f.name).write_text(yaml.safe_dump(data, sort_keys=False))
    (dest / "problem.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    return dest / "problem.yaml"


def build(target: str, dist: Path) -> Path:
    """Run tools/build.py as `make` does; returns what it wrote."""
    proc = subprocess.run([str(PYTHON), str(ROOT / "tools" / "build.py"), target, "--dist", str(dist)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return Path(proc.stdout.strip().removeprefix("wrote "))


def unzip(archive: Path, dest: Path) -> Path:
    """Extract keeping the executable bits (zipfile drops them)."""
    with zipfile.ZipFile(archive) as z:
        for info in z.infolist():
            z.extract(info, dest)
            mode = info.external_attr >> 16
            if mode & 0o111:
                os.chmod(dest / info.filename, mode & 0o777)
    return dest


def put_submission(folder: Path, files: dict[str, str | bytes]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        data = content.encode() if isinstance(content, str) else content
        (folder / name).parent.mkdir(parents=True, exist_ok=True)     # "src/solution.py" keeps its folder
        (folder / name).write_bytes(data)


def run_entrypoint(script: Path, env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("GRADER_", "AUTOGRADER_", "GRADE_"))}
    return subprocess.run(["/bin/bash", str(script)], env={**base, **env}, capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)


def read_results(root: Path) -> dict:
    return json.loads((root / "results" / "results.json").read_text())
