"""Golden vectors: generate them from the reference (in a sandboxed child), write, load, fingerprint.

problem.yaml says which cases exist; tests/data/{public,hidden}.yaml hold their inputs and expected
outputs, with the fingerprint of the environment that made them. Floats are written as the shortest
text that round-trips the float32 exactly, so `make regen` twice gives identical files.
"""
from __future__ import annotations

import json
import platform
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import jsonschema
import numpy as np
import yaml

from .. import JudgeError, UsageError
from ..problem import CaseSet, CaseSpec, Problem, load_schema
from ..child.common import PINNED, PINNED_XLA_FLAGS

LIBRARIES = ("jax", "jaxlib", "flax", "numpy")
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True)
class GoldenCase:
    spec: CaseSpec
    x: np.ndarray          # float32 (hidden,)
    expected: np.ndarray   # float32 (hidden,)


@dataclass(frozen=True)
class Golden:
    case_set: CaseSet
    fingerprint: dict
    cases: tuple[GoldenCase, ...]


def make_x(x_seed: int, hidden: int) -> np.ndarray:
    """The input vector of a case: standard normal from its own seed (numpy's PCG64)."""
    return np.random.default_rng(x_seed).standard_normal(hidden).astype(np.float32)


def library_versions() -> dict[str, str]:
    """Installed versions of the libraries that decide the answers (read without importing them)."""
    out = {}
    for lib in LIBRARIES:
        try:
            out[lib] = metadata.version(lib)
        except metadata.PackageNotFoundError:
            out[lib] = "missing"
    return out


def environment_fingerprint() -> dict:
    """Versions of this venv, the pinned JAX settings the runner enforces, and the XLA options the
    children compile with (they move the executor's bits: docs/tolerance.md). The options are recorded
    where the golden files' schema has their field, `xla_flags`."""
    fp = {"python": ".".join(platform.python_version_tuple()[:2]), **library_versions(),
          "settings": dict(PINNED)}
    if "xla_flags" in load_schema("golden.schema.json")["$defs"]["fingerprint"]["properties"]:
        fp["xla_flags"] = PINNED_XLA_FLAGS
    return fp


def fmt32(v: float) -> str:
    """Shortest text that reads back as the same float32, in a form YAML 1.1 reads as a float."""
    s = str(np.float32(v))
    if "e" in s and "." not in s.split("e")[0]:
        mant, exp = s.split("e")
        s = f"{mant}.0e{exp}"
    if s in ("nan", "inf", "-inf"):
        raise JudgeError(f"a golden value is not finite ({s})")
    return s


def dump_golden(problem: Problem, case_set: CaseSet, fingerprint: dict,
                rows: list[tuple[CaseSpec, np.ndarray, np.ndarray]]) -> str:
    lines = ["# Golden vectors, written by `make regen` from problem.yaml and reference/solution.py.",
             "# Do not edit by hand; review a regeneration with `git diff` (README, \"Golden vectors\").",
             "schema_version: 1", f"problem: {problem.id}", f"set: {case_set}", "fingerprint:"]
    for key in ("python", *LIBRARIES):
        lines.append(f"  {key}: \"{fingerprint[key]}\"")
    if "xla_flags" in fingerprint:
        lines.append(f"  xla_flags: {json.dumps(fingerprint['xla_flags'])}")
    lines.append("  settings:")
    for key, value in fingerprint["settings"].items():
        lines.append(f"    {key}: {yaml.safe_dump(value, default_flow_style=True).strip().removesuffix('...').strip()}")
    lines.append("cases:")
    for spec, x, expected in rows:
        lines += [f"  - id: {spec.id}", f"    seed: {spec.seed}", f"    hidden: {spec.hidden}",
                  f"    T: {spec.T}", f"    x_seed: {spec.x_seed}",
                  f"    x: [{', '.join(fmt32(v) for v in x)}]",
                  f"    expected: [{', '.join(fmt32(v) for v in expected)}]"]
    return "\n".join(lines) + "\n"


def read_data_file(path: Path, schema: str, what: str) -> dict:
    """A bundle data file (golden vectors, variants), read and schema-checked; JudgeError if not."""
    try:
        raw = yaml.load(path.read_text(encoding="utf-8"), Loader=_YAML_LOADER)
    except FileNotFoundError:
        raise JudgeError(f"{path} is missing: run `make regen`") from None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as e:
        raise JudgeError(f"{path}: unreadable {what}: {str(e).splitlines()[0]}") from None
    try:
        jsonschema.validate(raw, load_schema(schema))
    except jsonschema.ValidationError as e:
        where = ".".join(map(str, e.absolute_path)) or "(top level)"
        raise JudgeError(f"{path}: {what} fails its schema at {where}: {e.message[:200]}") from None
    return raw


def load_golden(problem: Problem, case_set: CaseSet, path: Path | None = None) -> Golden:
    """Load and check one golden file against its schema and against problem.yaml."""
    path = path or problem.golden_path(case_set)
    raw = read_data_file(path, "golden.schema.json", "golden file")
    specs = {c.id: c for c in problem.cases_of(case_set)}
    if [c["id"] for c in raw["cases"]] != list(specs) or raw["set"] != case_set:
        raise JudgeError(f"{path} does not list the {case_set} cases of problem.yaml: run `make regen`")
    cases = []
    for c in raw["cases"]:
        spec = specs[c["id"]]
        if (c["seed"], c["hidden"], c["T"], c["x_seed"]) != (spec.seed, spec.hidden, spec.T, spec.x_seed):
            raise JudgeError(f"{path}: case {spec.id} differs from problem.yaml: run `make regen`")
        x = np.asarray(c["x"], dtype=np.float32)
        expected = np.asarray(c["expected"], dtype=np.float32)
        if x.shape != (spec.hidden,) or expected.shape != (spec.hidden,) \
                or not np.array_equal(x, make_x(spec.x_seed, spec.hidden)):
            raise JudgeError(f"{path}: case {spec.id} has the wrong vector sizes or x: run `make regen`")
        if not np.all(np.isfinite(expected)):
            raise JudgeError(f"{path}: case {spec.id} expects non-finite values")
        cases.append(GoldenCase(spec, x, expected))
    return Golden(case_set, raw["fingerprint"], tuple(cases))


def job_cases(cases: list[GoldenCase] | tuple[GoldenCase, ...]) -> list[dict]:
    """What a runner child receives for each case: inputs only, never the expected output."""
    return [{"id": g.spec.id, "seed": g.spec.seed, "hidden": g.spec.hidden, "T": g.spec.T,
             "x": [float(v) for v in g.x]} for g in cases]
