"""Load problem.yaml, validate it against its JSON Schema, and return one frozen Problem."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import jsonschema
import yaml

from . import BUNDLE_ROOT, UsageError

SCHEMAS = Path(__file__).resolve().parent / "schemas"
CaseSet = Literal["public", "hidden"]
Visibility = Literal["visible", "hidden", "after_due_date", "after_published"]

# Documented defaults for every optional field (README, "problem.yaml").
DEFAULT_LIMITS = {
    "load_time_s": 30.0,        # importing JAX + the submission, compiling nothing yet
    "case_time_s": 10.0,        # one case in each child: its export in the runner, its program's run
    "compile_time_s": 10.0,     # the executor's compile of one case's program, apart from its run
    "total_time_s": 50.0,       # the whole submission from the first child's start: loading, every
                                # runner and executor; what is left when it runs out is TLE
    "memory_mb": 640,           # whole child tree; fits Gradescope's 768 MB box beside the grader
    "address_space_mb": 4096,   # RLIMIT_AS per process; JAX breaks below ~1.5 GiB
    "output_bytes": 1 << 20,    # stdout+stderr together
    "code_bytes": 128 * 1024,   # Kattis' default source limit
    "scratch_mb": 64,           # private /tmp and home
    "processes": 256,           # per sandbox uid; XLA needs ~20 threads
    "open_files": 256,
}
DEFAULT_SCORING = {"max_score": 100.0, "checks_points": 20.0, "public_weight": 0.0}
DEFAULT_VISIBILITY = {"public": "visible", "hidden": "after_published", "checks": "visible"}
DEFAULT_CHECKS = [
    {"id": "module_class", "required": True, "weight": 1.0},
    {"id": "params_tree", "required": True, "weight": 1.0},
    {"id": "uses_lax_scan", "required": True, "weight": 2.0},
]


@dataclass(frozen=True)
class CaseSpec:
    id: str
    set: CaseSet
    seed: int
    hidden: int
    T: int
    x_seed: int
    edge: bool = False


@dataclass(frozen=True)
class Limits:
    load_time_s: float
    case_time_s: float
    total_time_s: float
    memory_mb: int
    address_space_mb: int
    output_bytes: int
    code_bytes: int
    scratch_mb: int
    processes: int
    open_files: int
    compile_time_s: float = DEFAULT_LIMITS["compile_time_s"]


@dataclass(frozen=True)
class CheckSpec:
    id: str
    required: bool
    weight: float


@dataclass(frozen=True)
class Problem:
    root: Path
    id: str
    title: str
    version: str
    function: str
    module_class: str
    rtol: float
    atol: float
    limits: Limits
    max_score: float
    checks_points: float
    public_weight: float
    visibility: dict[str, Visibility]
    checks: tuple[CheckSpec, ...]
    cases: tuple[CaseSpec, ...]
    validation_accepted: tuple[str, ...] = ()  # more correct solutions for `validate`, bundle-relative

    def cases_of(self, which: str) -> tuple[CaseSpec, ...]:
        """`public`, `hidden` or `all` (public first, each in file order)."""
        return tuple(c for c in self.cases if which in ("all", c.set))

    def golden_path(self, case_set: CaseSet) -> Path:
        return self.root / "tests" / "data" / f"{case_set}.yaml"

    @property
    def reference_path(self) -> Path:
        """The instructor's solution (absent from the handout)."""
        return self.root / "reference" / "solution.py"


def load_schema(name: str) -> dict:
    return json.loads((SCHEMAS / name).read_text())


def _where(error: jsonschema.ValidationError) -> str:
    path = ".".join(str(p) for p in error.absolute_path)
    return path or "(top level)"


def _schema_message(error: jsonschema.ValidationError) -> str:
    if error.validator == "additionalProperties":
        known = sorted(error.schema.get("properties", {}))
        extra = sorted(set(error.instance) - set(known))
        return f"unknown key {', '.join(map(repr, extra))} at {_where(error)} (known keys: {', '.join(known)})"
    if error.validator == "required":
        return f"missing required key at {_where(error)}: {error.message}"
    return f"{_where(error)}: {error.message}"


def load_problem(path: Path | str | None = None) -> Problem:
    path = Path(path) if path else BUNDLE_ROOT / "problem.yaml"
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(f"{path}: problem file not found") from None
    except (OSError, UnicodeDecodeError) as e:
        raise UsageError(f"{path}: cannot read: {e}") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        at = f" (line {mark.line + 1})" if mark else ""
        raise UsageError(f"{path}: not valid YAML{at}: {getattr(e, 'problem', e)}") from None
    if not isinstance(raw, dict):
        raise UsageError(f"{path}: expected a mapping at the top level")
    errors = sorted(jsonschema.Draft202012Validator(load_schema("problem.schema.json")).iter_errors(raw),
                    key=lambda e: list(map(str, e.absolute_path)))
    if errors:
        raise UsageError(f"{path}: {_schema_message(errors[0])}")
    return _build(path.resolve().parent, raw, path)


def _build(root: Path, raw: dict, path: Path) -> Problem:
    cases: list[CaseSpec] = []
    for case_set in ("public", "hidden"):
        for c in raw["cases"][case_set]:
            cases.append(CaseSpec(id=c["id"], set=case_set, seed=c["seed"], hidden=c["hidden"], T=c["T"],
                                  x_seed=c["x_seed"], edge=c.get("edge", False)))
    ids = [c.id for c in cases]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        raise UsageError(f"{path}: duplicate case id {', '.join(dupes)}")
    checks = tuple(CheckSpec(c["id"], c.get("required", True), float(c.get("weight", 1.0)))
                   for c in raw.get("checks", DEFAULT_CHECKS))
    if len({c.id for c in checks}) != len(checks):
        raise UsageError(f"{path}: a check is listed twice under checks")
    scoring = {**DEFAULT_SCORING, **raw.get("scoring", {})}
    if scoring["checks_points"] > scoring["max_score"]:
        raise UsageError(f"{path}: scoring.checks_points exceeds scoring.max_score")
    if not any(c.set == "hidden" for c in cases) and scoring["checks_points"] < scoring["max_score"]:
        raise UsageError(f"{path}: no hidden case carries the case points")
    return Problem(
        root=root, id=raw["id"], title=raw["title"], version=str(raw["version"]),
        function=raw["entry_point"]["function"], module_class=raw["entry_point"]["module_class"],
        rtol=float(raw["tolerance"]["rtol"]), atol=float(raw["tolerance"]["atol"]),
        limits=Limits(**{**DEFAULT_LIMITS, **raw.get("limits", {})}),
        max_score=float(scoring["max_score"]), checks_points=float(scoring["checks_points"]),
        public_weight=float(scoring["public_weight"]),
        visibility={**DEFAULT_VISIBILITY, **raw.get("visibility", {})},
        checks=checks, cases=tuple(cases), validation_accepted=_relative(raw, path),
    )


def _relative(raw: dict, path: Path) -> tuple[str, ...]:
    """validation.accepted: paths inside the bundle, so the list means the same on every copy of it."""
    listed = tuple(raw.get("validation", {}).get("accepted", ()))
    for entry in listed:
        if Path(entry).is_absolute() or ".." in Path(entry).parts:
            raise UsageError(f"{path}: validation.accepted: {entry!r} must be a path inside the bundle, "
                             "relative to problem.yaml's folder")
    return listed


def validation_files(problem: Problem) -> tuple[Path, ...]:
    """The files validation.accepted lists, for `validate`. Checked only here, never when grading:
    the platform packages and the handout carry problem.yaml without them."""
    for entry in problem.validation_accepted:
        if not (problem.root / entry).exists():
            raise UsageError(f"{problem.root / 'problem.yaml'}: validation.accepted: {entry} does not exist")
    return tuple(problem.root / entry for entry in problem.validation_accepted)
