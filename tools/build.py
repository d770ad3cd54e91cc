"""Build what leaves the repository: `python tools/build.py handout|gradescope|prairielearn [--dist DIR]`.

  handout       dist/handout.zip: statement, starter as solution.py, public cases, the same engine with a
                public-only problem.yaml, and a Makefile whose `make test` checks solution.py locally.
                Nothing secret: no reference, no hidden or variant vectors, no example submissions.
  gradescope    dist/gradescope-autograder.zip: setup.sh and run_autograder at the root, the bundle beside.
  prairielearn  dist/prairielearn/: Dockerfile + bundle/ (the image's build context) and info.json, the
                gradingMethod and externalGradingOptions a question needs.
Zips are reproducible (fixed timestamps, sorted entries). Exit 2 with one line when something is missing.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import re
import shutil
import sys
import zipfile
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from grader import UsageError  # noqa: E402  (after the path is set: tools/ is not a package)

EPOCH = (2024, 1, 1, 0, 0, 0)
HANDOUT_DIR = "lax-scan-in-module"
EXECUTABLE = {"setup.sh", "run_autograder", "entrypoint"}
SECRET_PARTS = ("reference", "hidden.yaml", "variants.yaml", "submissions")
HANDOUT_LIBS = ("jax", "jaxlib", "flax", "numpy")
# PrairieLearn's default external-grading timeout is 30 s and servers cap it (600 s by default, often
# less): a timeout at most this is accepted by default-capped servers (issue 13).
PL_TIMEOUT_MAX_S = 90
PL_ENTRYPOINT = "/opt/lax-scan-grader/platform/prairielearn/entrypoint"


def engine_files(root: Path) -> list[Path]:
    """The grader package: code and schemas, no caches."""
    return sorted(p.relative_to(root) for p in (root / "grader").rglob("*")
                  if p.is_file() and p.suffix in (".py", ".json") and "__pycache__" not in p.parts)


def bundle_files(root: Path) -> list[Path]:
    """Everything a platform needs to grade: engine, problem, golden data, reference (for the drift
    canary and warm-up; unreadable to the sandbox), the lock, and the platform wrapper."""
    files = [Path("problem.yaml"), Path("requirements.lock"), Path("Makefile"), Path("pyproject.toml"),
             Path("reference/solution.py"), Path("platform/common/run_grader.py"),
             *engine_files(root), *sorted(p.relative_to(root) for p in (root / "tests" / "data").glob("*.yaml"))]
    missing = [str(f) for f in files if not (root / f).is_file()]
    if missing:
        raise UsageError(f"cannot build: missing {', '.join(missing)} (run `make regen` for tests/data)")
    return files


def write_zip(path: Path, entries: dict[str, bytes]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as z:
        for name in sorted(entries):
            info = zipfile.ZipInfo(name, EPOCH)
            mode = 0o755 if Path(name).name in EXECUTABLE else 0o644
            info.external_attr = (0o100000 | mode) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, entries[name])
    tmp.replace(path)
    return path


def build_gradescope(root: Path, dist: Path) -> Path:
    entries = {str(f): (root / f).read_bytes() for f in bundle_files(root)}
    entries["setup.sh"] = (root / "platform/gradescope/setup.sh").read_bytes()
    entries["run_autograder"] = (root / "platform/gradescope/run_autograder").read_bytes()
    return write_zip(dist / "gradescope-autograder.zip", entries)


def run_grader(root: Path):
    """platform/common/run_grader.py as a module: the PrairieLearn timeout is derived from the deadline
    it enforces, never restated here."""
    spec = importlib.util.spec_from_file_location("run_grader", root / "platform/common/run_grader.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def prairielearn_options(root: Path, version: str) -> dict:
    """The info.json keys a question needs, only those PrairieLearn's schema accepts today
    (apps/prairielearn/src/schemas/infoQuestion.ts; `enabled` is deprecated and does nothing)."""
    timeout = run_grader(root).platform_timeout_s(root / "problem.yaml")
    if timeout > PL_TIMEOUT_MAX_S:
        raise UsageError(f"the PrairieLearn timeout would be {timeout} s, over {PL_TIMEOUT_MAX_S} s: "
                         "shorten the deadline in platform/common/run_grader.py")
    return {"gradingMethod": "External",
            "externalGradingOptions": {"image": f"yourorg/lax-scan-grader:{version}",
                                       "entrypoint": PL_ENTRYPOINT, "timeout": timeout}}


def build_prairielearn(root: Path, dist: Path) -> Path:
    out = dist / "prairielearn"
    shutil.rmtree(out, ignore_errors=True)
    files = bundle_files(root) + [Path("platform/prairielearn/entrypoint")]
    for f in files:
        (out / "bundle" / f).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / f, out / "bundle" / f)
    (out / "bundle/platform/prairielearn/entrypoint").chmod(0o755)
    shutil.copy2(root / "platform/prairielearn/Dockerfile", out / "Dockerfile")
    raw = yaml.safe_load((root / "problem.yaml").read_text(encoding="utf-8"))
    snippet = prairielearn_options(root, raw["version"])
    (out / "info.json").write_text(json.dumps(snippet, indent=2) + "\n", encoding="utf-8")
    return out


def handout_problem(root: Path) -> str:
    """problem.yaml with the public cases only; the checks carry all the points of a local check,
    as they do in `python -m grader check` on the full bundle (public cases weigh 0)."""
    raw = yaml.safe_load((root / "problem.yaml").read_text(encoding="utf-8"))
    raw["cases"] = {"public": raw["cases"]["public"], "hidden": []}
    raw.pop("validation", None)   # the instructor's extra correct solutions: named only for validate
    points = float(raw.get("scoring", {}).get("checks_points", 20.0))
    raw["scoring"] = {"max_score": points, "checks_points": points, "public_weight": 0}
    head = ("# Handout copy of the exercise's problem.yaml: the public cases only. The hidden cases that\n"
            "# decide the grade are not in the handout; passing these is necessary, not sufficient.\n")
    return head + yaml.safe_dump(raw, sort_keys=False, width=110)


def pinned_versions(lock: str) -> dict[str, str]:
    pins = dict(re.findall(r"^([A-Za-z0-9_.-]+)==(\S+)$", lock, re.M))
    missing = [lib for lib in HANDOUT_LIBS if lib not in pins]
    if missing:
        raise UsageError(f"requirements.lock does not pin {', '.join(missing)}")
    return {lib: pins[lib] for lib in HANDOUT_LIBS}


def build_handout(root: Path, dist: Path, statement: Path | None = None) -> Path:
    statement = statement or root / "statement.md"
    if not statement.is_file():
        raise UsageError(f"cannot build the handout: {statement} is missing (the exercise statement "
                         "for students must exist first)")
    lock = (root / "requirements.lock").read_text(encoding="utf-8")
    readme = (root / "platform/handout/README.md").read_text(encoding="utf-8")
    versions = "\n".join(f"| {lib} | {v} |" for lib, v in pinned_versions(lock).items())
    entries = {"README.md": readme.replace("{{versions}}", versions).encode(),
               "statement.md": statement.read_bytes(),
               "solution.py": (root / "starter/solution.py").read_bytes(),
               "Makefile": (root / "platform/handout/Makefile").read_bytes(),
               "requirements.lock": lock.encode(),
               "problem.yaml": handout_problem(root).encode(),
               "tests/data/public.yaml": (root / "tests/data/public.yaml").read_bytes()}
    for f in engine_files(root):
        entries[str(f)] = (root / f).read_bytes()
    leaked = [name for name in entries if any(part in Path(name).parts or Path(name).name == part
                                              for part in SECRET_PARTS)]
    if leaked:
        raise UsageError(f"refusing to build the handout: it would contain {', '.join(leaked)}")
    return write_zip(dist / "handout.zip", {f"{HANDOUT_DIR}/{k}": v for k, v in entries.items()})


BUILDERS = {"handout": build_handout, "gradescope": build_gradescope, "prairielearn": build_prairielearn}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="tools/build.py", description=__doc__.splitlines()[0])
    p.add_argument("target", choices=sorted(BUILDERS))
    p.add_argument("--dist", type=Path, default=ROOT / "dist")
    args = p.parse_args(argv)
    try:
        out = BUILDERS[args.target](ROOT, args.dist)
    except UsageError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
