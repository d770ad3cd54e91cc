"""Known wrong variants: their outputs on every case, computed once from the trusted reference side.

A student whose result equals, within tolerance, what a classic mistake produces (T-1 steps, W
transposed, ...) is told which mistake it is. The outputs are computed at `make regen` in a child
process (the grader process never imports JAX) and kept in tests/data/variants.yaml next to the
golden files. They are hidden data: the handout does not ship them and grading works without them.

`python -m grader.judge.variants` rewrites variants.yaml alone; grader/child/variants.py is the JAX side
(trusted: it runs the reference, never a submission), reading a job on stdin and writing JSON on stdout.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from .. import BUNDLE_ROOT, JudgeError, UsageError
from .cases import environment_fingerprint, fmt32, load_golden, read_data_file
from .compare import within_tolerance
from ..problem import Problem
from ..child.common import PINNED

# Ordered: diagnosis reports the first that matches. `says` is shown to students, so it names the
# mistake and the fix and never a value.
VARIANTS: tuple[tuple[str, str], ...] = (
    ("t_minus_1", "your result equals T-1 steps of the recurrence: check the loop length (after "
     "init_carry = tanh(x @ W) the scan runs exactly T steps)"),
    ("t_plus_1", "your result equals T+1 steps of the recurrence: check the loop length "
     "(init_carry = tanh(x @ W) is not one of the T scan steps)"),
    ("no_initial_tanh", "your result equals the recurrence started from x @ W without tanh: "
     "init_carry must be jnp.tanh(x @ W)"),
    ("transposed_w", "your result equals the recurrence with W transposed: compute carry @ W "
     "(and x @ W), not W @ carry"),
    ("seed_ignored", "your result equals what jax.random.PRNGKey(0) gives, whatever the seed: "
     "initialise with jax.random.PRNGKey(seed)"),
    ("x_ignored", "your result equals the recurrence started from zeros: x is ignored; "
     "init_carry must be jnp.tanh(x @ W)"),
    ("relu", "your result equals the recurrence with ReLU instead of tanh: use jnp.tanh for "
     "init_carry and in the scan body"),
    ("init_scale", "your result equals W drawn with He scaling (variance 2/hidden): initialise W "
     "with nn.initializers.lecun_normal()"),
    ("lecun_uniform", "your result equals W drawn from lecun_uniform: initialise W with "
     "nn.initializers.lecun_normal()"),
)
# The mistake's short name in a case message ("...; it equals T-1 steps of the recurrence"): its
# own value per id, so no sentence is ever parsed to find it.
LABELS: dict[str, str] = {
    "t_minus_1": "T-1 steps of the recurrence", "t_plus_1": "T+1 steps of the recurrence",
    "no_initial_tanh": "the recurrence started from x @ W without tanh",
    "transposed_w": "the recurrence with W transposed", "seed_ignored": "what jax.random.PRNGKey(0) gives",
    "x_ignored": "the recurrence started from zeros", "relu": "the recurrence with ReLU instead of tanh",
    "init_scale": "W drawn with He scaling (variance 2/hidden)", "lecun_uniform": "W drawn from lecun_uniform",
}
CHILD_TIMEOUT_S = 1800
ENV_KEEP = ("PATH", "LANG", "LC_ALL", "HOME", "TMPDIR")


@dataclass(frozen=True)
class Variants:
    says: dict[str, str]                              # variant id -> what the mistake is, in order
    outputs: dict[str, dict[str, np.ndarray]]         # case id -> variant id -> float32 (hidden,)
    fingerprint: dict


def path_of(problem: Problem) -> Path:
    return problem.root / "tests" / "data" / "variants.yaml"


def load_variants(problem: Problem, path: Path | None = None) -> Variants:
    """Load and check variants.yaml against its schema and problem.yaml's cases (JudgeError if not)."""
    path = path or path_of(problem)
    raw = read_data_file(path, "variants.schema.json", "variants file")
    if raw["problem"] != problem.id or [c["id"] for c in raw["cases"]] != [c.id for c in problem.cases]:
        raise JudgeError(f"{path} does not list the cases of problem.yaml: run `make regen`")
    says = {v["id"]: v["says"] for v in raw["variants"]}
    specs = {c.id: c for c in problem.cases}
    outputs: dict[str, dict[str, np.ndarray]] = {}
    for c in raw["cases"]:
        row = {}
        for vid, values in c["outputs"].items():
            if not all(type(v) in (float, int) for v in values):
                raise JudgeError(f"{path}: case {c['id']}: variant {vid} holds something that is not a number")
            arr = np.asarray(values, dtype=np.float32)
            if vid not in says or arr.shape != (specs[c["id"]].hidden,):
                raise JudgeError(f"{path}: case {c['id']}: variant {vid} is unknown or has the wrong size")
            row[vid] = arr
        outputs[c["id"]] = row
    return Variants(says, outputs, raw["fingerprint"])


def for_grading(problem: Problem, fingerprint: dict) -> tuple[Variants | None, str]:
    """The variants if present and made with the golden files' fingerprint, else None and why."""
    if not path_of(problem).is_file():
        return None, "absent"
    v = load_variants(problem)
    return (v, "used") if v.fingerprint == fingerprint else (None, "stale: fingerprint differs from golden")


def diagnose(variants: Variants, case_id: str, got: np.ndarray, expected: np.ndarray,
             rtol: float, atol: float) -> list[str]:
    """Every variant a wrong result equals within tolerance, in order, skipping variants the case
    cannot tell from the right answer (transposed W when hidden is 1). Several can match one case:
    ReLU decays to the zeros that ignoring x gives."""
    return [vid for vid, out in variants.outputs.get(case_id, {}).items()
            if not within_tolerance(out, expected, rtol, atol) and within_tolerance(got, out, rtol, atol)]


# -- generation (grader side) -----------------------------------------------------------------
def dump_variants(problem: Problem, fingerprint: dict, outputs: dict[str, dict[str, np.ndarray]]) -> str:
    lines = ["# Outputs of known wrong variants on every case, written by `make regen` from problem.yaml",
             "# and reference/solution.py (grader/judge/variants.py). Hidden data: never in the handout.",
             "schema_version: 1", f"problem: {problem.id}"]
    lines += yaml.safe_dump({"fingerprint": fingerprint}, sort_keys=False).rstrip("\n").splitlines()
    lines.append("variants:")
    lines += [f"  - {{id: {vid}, says: {json.dumps(says, ensure_ascii=False)}}}" for vid, says in VARIANTS]
    lines.append("cases:")
    for spec in problem.cases:
        lines += [f"  - id: {spec.id}", "    outputs:" + (" {}" if not outputs[spec.id] else "")]
        for vid, _ in VARIANTS:
            if vid in outputs[spec.id]:
                lines.append(f"      {vid}: [{', '.join(fmt32(v) for v in outputs[spec.id][vid])}]")
    return "\n".join(lines) + "\n"


def generate(problem: Problem, out_dir: Path | None = None) -> Path:
    """Compute every variant on every case in a JAX child, check the child's own recurrence
    reproduces the golden expected values, and write variants.yaml (deterministic)."""
    data_dir = out_dir or problem.root / "tests" / "data"
    reference = problem.reference_path
    if not reference.is_file():
        raise UsageError(f"{reference}: no reference solution to generate from")
    goldens = {g.spec.id: g for s in ("public", "hidden")
               for g in load_golden(problem, s, data_dir / f"{s}.yaml").cases}
    job = {"reference": str(reference), "module_class": problem.module_class,
           "variants": [vid for vid, _ in VARIANTS],
           "cases": [{"id": c.id, "seed": c.seed, "hidden": c.hidden, "T": c.T, "x_seed": c.x_seed}
                     for c in problem.cases]}
    env = {k: os.environ[k] for k in ENV_KEEP if k in os.environ}
    try:
        proc = subprocess.run([sys.executable, "-I", str(BUNDLE_ROOT / "grader" / "child" / "variants.py")],
                              input=json.dumps(job),
                              capture_output=True, text=True, cwd=BUNDLE_ROOT, env=env,
                              timeout=CHILD_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise JudgeError(f"computing the wrong variants took longer than {CHILD_TIMEOUT_S} s") from None
    if proc.returncode != 0:
        tail = proc.stderr.strip().splitlines()[-1:] or [f"exit status {proc.returncode}"]
        raise JudgeError(f"computing the wrong variants failed: {tail[0]}")
    result = json.loads(proc.stdout)
    if result["settings"] != dict(PINNED):
        raise JudgeError(f"the variants child ran with JAX settings {result['settings']}, not the pinned ones")
    outputs: dict[str, dict[str, np.ndarray]] = {}
    for spec in problem.cases:
        row = result["cases"][spec.id]
        correct = np.asarray(row.pop("correct"), np.float32)
        if not within_tolerance(correct, goldens[spec.id].expected, problem.rtol / 100, problem.atol / 100):
            raise JudgeError(f"case {spec.id}: the variants' recurrence does not reproduce the golden "
                             "expected values (is the golden data from this reference? run `make regen`)")
        outputs[spec.id] = {vid: np.asarray(vals, np.float32) for vid, vals in row.items()
                            if np.all(np.isfinite(vals))}
    path = data_dir / "variants.yaml"
    path.write_text(dump_variants(problem, environment_fingerprint(), outputs), encoding="utf-8")
    return path


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    from ..problem import load_problem
    try:
        if argv not in ([], ) and not (len(argv) == 2 and argv[0] == "--problem"):
            raise UsageError("usage: python -m grader.judge.variants [--problem problem.yaml]")
        print(f"wrote {generate(load_problem(argv[1] if argv else None))}")
    except (UsageError, JudgeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return e.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
