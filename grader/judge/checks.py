"""The structure checks, decided from the graded cases' own programs: what the executor verified in
each program (child/hlo.py) and what the runner observed while tracing it (child/observe.py).

`uses_lax_scan` needs both on every case that produced a program: the verified recurrence (a loop of
T steps of tanh(carry @ W) from tanh(x @ W), one W) and the observed raw lax.scan inside the Module's
method. The observed part alone never passes it, so a forged report cannot lift a submission whose
programs fail the verified part. `module_class` and `params_tree` are observed only (docs/threat-
model.md says what forging them takes and what it gains). Where a case's function could not be
exported, its program is the Module it applied, and that program's outputs must agree with the
plain values within the problem's tolerance.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .cases import GoldenCase
from .compare import within_tolerance
from ..outcome import Execution, Outcome
from ..problem import Problem
from .verdict import CheckVerdict, check_points

VERIFIED = {   # the executor's reason codes (child/hlo.py) -> what the student reads
    "no_loop": "the output is computed without a loop (a Python loop, or a scan unrolled whole): "
               "run the T steps with jax.lax.scan",
    "unrolled_steps": "the program applies {outside} steps outside its loop: run the steps inside "
                      "jax.lax.scan",
    "wrong_step_count": "the loop runs {trips}×{per_trip}{plus} steps for T={T}: drive the scan with "
                        "jnp.arange(self.T) (or length=self.T)",
    "loop_body_not_step": "the loop's body does not compute tanh(carry @ W) from its own carry (check "
                          "the body: `return jnp.tanh(carry @ W), None`, and carry @ W, not W @ carry)",
    "init_not_tanh_xw": "the loop does not start from tanh(x @ W): init_carry must be jnp.tanh(x @ W)",
    "w_not_shared": "the steps do not all use the one W created with self.param",
    "output_not_recurrence": "the result is not the carry of a tanh(carry @ W) recurrence",
    "several_loops": "the result comes out of more than one loop: use one jax.lax.scan",
    "loop_count_unknown": "the loop's trip count is not a fixed T: use jax.lax.scan with a static length",
    "not_one_output": "the program does not return one array",
    "too_large": "the program is too large to check",
    "unreadable": "the program could not be checked",
}
OBSERVED = {
    "flax_scan": "you used Flax's nn.scan lift; this exercise requires a raw jax.lax.scan whose body "
                 "closes over the W created with self.param",
    "while": "you used a while loop (lax.while_loop, or fori_loop with traced bounds); this exercise "
             "requires jax.lax.scan",
    "none": "no jax.lax.scan produces the result (a Python loop unrolls into separate operations): this "
            "exercise requires jax.lax.scan inside __call__",
    "length": "the scan runs {length} steps for T={T}: drive it with jnp.arange(self.T) (or length=self.T)",
    "not_carry": "the result is the scan's stacked outputs, not its final carry",
    "not_in_module": "{function} returns something that {cls} did not compute: build the Module, init "
                     "it and return what model.apply(variables, x) gives",
}
MODULE = {
    "class_missing": "{cls} is not defined at the top level of your file",
    "class_not_module": "{cls} must be a class deriving from flax.linen.Module",
    "field_missing": "{cls} needs a field `{field}: int`",
    "field_type": "{cls}.{field} must be declared as `{field}: int`, not {got}",
}
FALLBACK = {
    "no_module_program": "your function could not be exported and applied no {cls} the grader could "
                         "export, so its structure cannot be checked",
    "module_failed": "your function could not be exported, and the {cls} it applied failed when the "
                     "grader ran it",
    "module_disagrees": "your function could not be exported, and the {cls} it applied gives other "
                        "values than your function returned",
}


@dataclass(frozen=True)
class Finding:
    passed: bool
    message: str


def decide(problem: Problem, ex: Execution, golden: list[GoldenCase], earned: bool,
           trusted: str = "hidden") -> tuple[CheckVerdict, ...]:
    """The check verdicts; their points count only once `earned`: a non-edge case of the `trusted`
    set passed (a stub, or copied public answers, earn nothing)."""
    fmt = {"cls": problem.module_class, "function": problem.function}
    found = {"module_class": _module_class(ex, fmt), "params_tree": _params(ex, golden),
             "uses_lax_scan": _scan(problem, ex, golden, fmt)}
    out = []
    for spec, pts in zip(problem.checks, check_points(problem).values()):
        f = found.get(spec.id, Finding(False, f"unknown check {spec.id}"))
        msg = f.message + (f" (its points count once a non-edge {trusted} case passes)" if f.passed and not earned else "")
        out.append(CheckVerdict(spec.id, spec.required, f.passed, pts if f.passed and earned else 0.0, pts, msg))
    return tuple(out)


def _module_class(ex: Execution, fmt: dict) -> Finding:
    m = ex.module if isinstance(ex.module, dict) else {}
    if m.get("ok") is True:
        return Finding(True, "{cls} is a flax.linen.Module with fields hidden: int and T: int".format(**fmt))
    text = MODULE.get(str(m.get("reason")), "{cls} could not be inspected")
    return Finding(False, text.format(**fmt, field=str(m.get("field", ""))[:40], got=str(m.get("got", ""))[:80]))


def _graded(ex: Execution, golden: list[GoldenCase]) -> list[tuple[GoldenCase, Outcome]]:
    """Cases whose runner answer carried a program or a plain value, in file order."""
    return [(g, ex.cases[g.spec.id]) for g in golden
            if g.spec.id in ex.cases and isinstance(ex.cases[g.spec.id].observed, dict)]


def _params(ex: Execution, golden: list[GoldenCase]) -> Finding:
    graded = _graded(ex, golden)
    if not graded:
        return Finding(False, "no case ran far enough to see the Module's variables")
    for g, out in graded:
        H = g.spec.hidden
        params = out.observed.get("params")
        want = {"params/W": [[H, H], "float32"]}
        if params == want:
            continue
        if not isinstance(params, dict):
            return Finding(False, f"case {g.spec.id}: the function never initialised the Module (no variables seen)")
        got = ", ".join(_leaf(k, v) for k, v in sorted(params.items())[:8]) or "no variables"
        return Finding(False, f"init (hidden={H}) gives {got}; expected exactly params/W ({H}, {H}) float32 "
                       "(one self.param named \"W\", created in __call__ outside the scan body)")
    return Finding(True, "init gives exactly params/W of shape (hidden, hidden) float32 in every case")


def _leaf(path: str, leaf) -> str:
    """'params/W (6, 6) float32' from the runner's [shape, dtype] (whatever it really sent)."""
    if isinstance(leaf, list) and len(leaf) == 2 and isinstance(leaf[0], list):
        return f"{path} {tuple(leaf[0])} {leaf[1]}"
    return f"{path} {leaf}"


def _scan(problem: Problem, ex: Execution, golden: list[GoldenCase], fmt: dict) -> Finding:
    graded = _graded(ex, golden)
    runs = []
    for g, out in graded:
        run = out.module_run if out.fallback else out
        if out.fallback:
            problem_text = _fallback_problem(problem, g, out)
            if problem_text:
                return Finding(False, f"case {g.spec.id}: " + FALLBACK[problem_text].format(**fmt))
        if run is None or run.status != "result" or not isinstance(run.structure, dict):
            continue       # the case failed (its verdict says why); structure is read where it ran
        runs.append((g, out.observed, run.structure))
    if not runs:
        return Finding(False, "no case produced a program the grader could check")
    unroll = max((s.get("per_trip") or 0 for _g, _o, s in runs), default=0)
    for g, observed, s in runs:
        T = g.spec.T
        lenient = s.get("reason") == "no_loop" and s.get("outside") == T and T <= unroll   # scan(unroll=k), T <= k: unrolled whole by JAX
        if not (s.get("ok") is True or lenient):
            plus = f"+{s.get('outside')}" if s.get("outside") else ""
            text = VERIFIED.get(str(s.get("reason")), VERIFIED["unreadable"])
            return Finding(False, f"case {g.spec.id} (H={g.spec.hidden}, T={T}): " + text.format(
                outside=s.get("outside"), trips=s.get("trips"), per_trip=s.get("per_trip"), plus=plus, T=T))
        why = _observed_problem(observed, T)
        if why:
            return Finding(False, f"case {g.spec.id}: " + OBSERVED[why].format(
                **fmt, T=T, length=observed.get("length")))
    return Finding(True, f"in every case one jax.lax.scan of T steps inside {problem.module_class} computes "
                   "the result, verified on the program the grader ran")


def _observed_problem(observed: dict, T: int) -> str | None:
    loop = observed.get("loop")
    if loop != "scan":
        return loop if loop in ("flax_scan", "while") else "none"
    if observed.get("length") != T:
        return "length"
    if observed.get("carry") is not True:
        return "not_carry"
    if observed.get("in_module") is not True:
        return "not_in_module"
    return None


def _fallback_problem(problem: Problem, g: GoldenCase, out: Outcome) -> str | None:
    """Where the function could not be exported: the Module's program must have run and agree."""
    run = out.module_run
    if not out.program or run is None:
        return "no_module_program"
    if run.status != "result":
        return "module_failed"
    try:
        plain = np.frombuffer(out.data or b"", dtype=str((out.header or {}).get("dtype", "<f4")))
        mod = np.frombuffer(run.data or b"", dtype=str((run.header or {}).get("dtype", "<f4")))
    except (TypeError, ValueError):
        return "module_disagrees"
    if plain.shape != (g.spec.hidden,) or not within_tolerance(plain, mod, problem.rtol, problem.atol):
        return "module_disagrees"
    return None
