"""`regen`: rewrite the golden files (and the wrong variants' outputs) from problem.yaml and the
reference, which runs in a sandboxed child like any submission."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .. import JudgeError, UsageError
from ..execute import run
from ..judge.cases import GoldenCase, dump_golden, environment_fingerprint, job_cases, make_x
from ..judge.variants import generate  # the wrong variants' outputs belong to the same regeneration
from .warm import trusted_limits
from ..problem import Problem


def regen(problem: Problem, isolation=None, out_dir: Path | None = None) -> list[Path]:
    """Run the reference in a sandboxed child on every case and rewrite the golden files."""
    reference = problem.reference_path
    if not reference.is_file():
        raise UsageError(f"{reference}: no reference solution to generate from")
    written = []
    fingerprint = environment_fingerprint()
    for case_set in ("public", "hidden"):
        specs = problem.cases_of(case_set)
        pseudo = [GoldenCase(s, make_x(s.x_seed, s.hidden), np.zeros(0, np.float32)) for s in specs]
        # the reference compiles every case cold: the student's budget must not fail it on a busy machine
        ex = run(trusted_limits(problem), reference.read_bytes(), job_cases(pseudo), isolation=isolation)
        if ex.judge_error or ex.load is not None:
            raise JudgeError(f"the reference did not run: {ex.judge_error or ex.load}")
        if ex.settings != fingerprint["settings"]:
            raise JudgeError(f"the runner's JAX settings {ex.settings} differ from the pinned ones")
        rows = []
        for g in pseudo:
            out = ex.cases[g.spec.id]
            head = out.header or {}
            if out.status != "result" or head.get("dtype") != "<f4" or head.get("shape") != [g.spec.hidden]:
                raise JudgeError(f"the reference failed case {g.spec.id}: {out.status} {out.detail} "
                                 f"{(out.error or {}).get('message', '')}")
            rows.append((g.spec, g.x, np.frombuffer(out.data, dtype="<f4")))
        path = (out_dir or problem.root / "tests" / "data") / f"{case_set}.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(dump_golden(problem, case_set, fingerprint, rows))
        written.append(path)
    written.append(generate(problem, out_dir))
    return written
