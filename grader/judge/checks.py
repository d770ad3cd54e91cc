"""The structure checks, decided from the graded cases' own programs and the submission's source:
what the executor verified in each program (child/hlo.py), what the runner observed while tracing it
(child/observe.py), and what the grader itself reads in the source with `ast` (source.py).

`uses_lax_scan` needs the three witnesses to agree on every case that produced a program: the
verified recurrence (a loop of T steps of tanh(carry @ W) from tanh(x @ W), one W), the observed raw
lax.scan and the Module method whose scope it ran under, and a raw jax.lax.scan call the source shows
in that very method (directly or through a function of the file). Two of them are outside every
sandbox, so neither a forged report nor a decoy in the text lifts a submission alone. Two honest
shapes without a loop in the program are accepted on evidence from all three: a scan JAX unrolled
whole (the observation says unroll >= T, the source shows unroll= in that method and no Python loop
there, and the program applies exactly T steps with the one W), and a static T = 0 branch that returns
tanh(x @ W) (no step to run; the other cases carry the evidence). `module_class` and `params_tree` are
observed only (docs/threat-model.md says what forging them takes and what it gains). Where a case's
function could not be exported, its program is the Module it applied, and that program's outputs must
agree with the plain values within the problem's tolerance.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .cases import GoldenCase
from .compare import within_tolerance
from ..outcome import Execution, Outcome
from ..problem import Problem
from ..text import safe
from .source import ATTR_CALLS, DYNAMIC_CALLS, SourceFacts, analyse
from .verdict import CheckVerdict, check_points

VERIFIED = {   # the executor's reason codes (child/hlo.py) -> what the student reads
    "no_loop": "the output is computed without a loop (a Python loop unrolls into T separate steps): "
               "run the T steps with jax.lax.scan",
    "unrolled_steps": "the program applies {outside} steps outside its loop: run the steps inside "
                      "jax.lax.scan",
    "wrong_step_count": "the loop runs {trips}×{per_trip}{plus} steps for T={T}: drive the scan with "
                        "jnp.arange(self.T) (or length=self.T)",
    "loop_body_not_step": "the loop's body does not compute tanh(carry @ W) from its own carry (check "
                          "the body: `return jnp.tanh(carry @ W), None`, and carry @ W, not W @ carry)",
    "init_not_tanh_xw": "the loop does not start from tanh(x @ W): init_carry must be jnp.tanh(x @ W)",
    "w_not_shared": "the steps do not all use the one W created with self.param",
    "w_not_from_init": "the W your steps use is not the one init draws from the seed (a constant, or a "
                       "matrix made outside the Module): use W = self.param(\"W\", ...) in the scan body",
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
    "none": "no jax.lax.scan produces the result (a Python loop, for one, unrolls into separate "
            "operations): compute the T steps with jax.lax.scan in a method of {cls}",
    "length": "the scan runs {length} steps for T={T}: drive it with jnp.arange(self.T) (or length=self.T)",
    "not_carry": "the result is the scan's stacked outputs, not its final carry",
    "not_in_module": "{function} returns something that {cls} did not compute: build the Module, init "
                     "it and return what model.apply(variables, x) gives",
    "scan_outside_module": "the jax.lax.scan that computes your result is not called inside a method of "
                           "{cls}: call it in {cls}.__call__ and return what model.apply(variables, x) gives",
    "no_scan_case": "no case with T >= 1 ran a jax.lax.scan the grader could check",
}
SOURCE = {   # the grader's own reading of the source (source.py) -> what the student reads
    "unreadable": "the grader reads your source to find the jax.lax.scan in {cls}, and it is nested too "
                  "deeply to parse: write the deeply nested expression in simpler steps",
    "syntax_error": "the grader could not parse your source to find the jax.lax.scan in {cls}",
    "class_missing": "{cls} is not defined by a class statement at the top level of your file (nor "
                     "bound to anything else there), so the grader cannot read its methods",
    "patched": "your file assigns to {names}: leave JAX's and Flax's functions as they are (the grader "
               "reads your source, and a replaced jax.lax.scan is not the raw one)",
    "dynamic": "call jax.lax.scan directly: the grader reads your source and could not find a "
               "jax.lax.scan call in {cls} ({constructs} cannot be followed)",
    "flax_scan": "{cls} runs its loop with Flax's nn.scan and calls no jax.lax.scan (the grader reads "
                 "your source); this exercise requires a raw jax.lax.scan whose body closes over W",
    "elsewhere": "the grader reads your source: jax.lax.scan is called in {where}, outside {cls}; call it "
                 "in a method of {cls} (__call__)",
    "no_raw_scan": "the grader reads your source and found no jax.lax.scan call in a method of {cls} "
                   "(nor in a function of your file that one uses): call jax.lax.scan there",
    "not_in_method": "the jax.lax.scan that computes your result runs in {cls}.{method}, where the grader's "
                     "reading of your source finds no jax.lax.scan call (nor one in a function it uses)",
    "unroll_unseen": "your program has no loop left (all T steps unrolled), and the grader's reading of "
                     "{cls}.{method} shows {seen}: keep one jax.lax.scan (unroll= is fine) and no Python loop",
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


def decide(problem: Problem, ex: Execution, golden: list[GoldenCase], earned: bool, code: bytes | None,
           trusted: str = "hidden") -> tuple[CheckVerdict, ...]:
    """The check verdicts; their points count only once `earned`: a non-edge case of the `trusted`
    set passed (a stub, or copied public answers, earn nothing). `code` is the submission's source
    as it was run (source.py reads it; None reads as an empty file)."""
    fmt = {"cls": problem.module_class, "function": problem.function}
    found = {"module_class": _module_class(ex, fmt), "params_tree": _params(ex, golden),
             "uses_lax_scan": _scan(problem, ex, golden, fmt, analyse(code, problem.module_class))}
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


def _scan(problem: Problem, ex: Execution, golden: list[GoldenCase], fmt: dict, facts: SourceFacts) -> Finding:
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
    legacy = max((s.get("per_trip") or 0 for _g, _o, s in runs), default=0)
    seen = []          # (case, observed, unrolled whole): the cases whose scan the source must confirm
    for g, observed, s in runs:
        T = g.spec.T
        if T == 0 and s.get("ok") is True and s.get("trips") is None and observed.get("loop") == "none":
            continue   # a static T = 0 branch returned tanh(x @ W): no step, nothing to observe
        whole = _unrolled_whole(observed, s, T, legacy)
        if not (s.get("ok") is True or whole):
            plus = f"+{s.get('outside')}" if s.get("outside") else ""
            text = VERIFIED.get(str(s.get("reason")), VERIFIED["unreadable"])
            return Finding(False, f"case {g.spec.id} (H={g.spec.hidden}, T={T}): " + text.format(
                outside=s.get("outside"), trips=s.get("trips"), per_trip=s.get("per_trip"), plus=plus, T=T))
        why = _observed_problem(observed, T)
        if why:
            return Finding(False, f"case {g.spec.id}: " + OBSERVED[why].format(
                **fmt, T=T, length=observed.get("length")))
        seen.append((g, observed, whole))
    if not any(g.spec.T >= 1 for g, _o, _w in seen):
        return Finding(False, OBSERVED["no_scan_case"])
    why, params = _source_problem(facts, seen)
    if why:
        return Finding(False, SOURCE[why].format(**fmt, **params))
    return Finding(True, f"in every case one jax.lax.scan of T steps inside {problem.module_class} computes "
                   "the result, verified on the program the grader ran and found in your source")


def _unrolled_whole(observed: dict, s: dict, T: int, legacy: int) -> bool:
    """A scan JAX unrolled whole: no loop, exactly T steps with the one W, and the runner saw a raw
    scan whose unroll covers T (an older runner without "unroll": T within another case's unroll)."""
    if not (T >= 1 and s.get("reason") == "no_loop" and s.get("outside") == T):
        return False
    if "unroll" not in observed:
        return T <= legacy
    u = observed.get("unroll")
    return observed.get("loop") == "scan" and isinstance(u, int) and not isinstance(u, bool) and u >= T


def _source_problem(facts: SourceFacts, seen: list) -> tuple[str | None, dict]:
    """Whether the source agrees with what was observed: the scan ran in a method that the source
    shows making a raw call (and, for a scan unrolled whole, passing unroll= with no Python loop)."""
    if facts.status != "ok":
        return facts.status, {}
    if not facts.class_found:
        return "class_missing", {}
    if facts.patched:
        return "patched", {"names": ", ".join(facts.patched[:3])}
    raw = facts.raw_methods
    if not raw:
        if facts.dynamic:
            return "dynamic", {"constructs": ", ".join(_construct(d) for d in facts.dynamic[:4])}
        if facts.elsewhere:
            return "elsewhere", {"where": ", ".join(facts.elsewhere[:3])}
        if any(m.flax_scan for m in facts.methods):
            return "flax_scan", {}
        return "no_raw_scan", {}
    for _g, observed, whole in seen:
        named = "scan_method" in observed
        method = observed.get("scan_method") if named else None
        if named and method not in raw:
            return "not_in_method", {"method": safe(method, 100)}     # the runner's word: any text
        candidates = [facts.method(method)] if named else [facts.method(m) for m in sorted(raw)]
        if whole and not any(m.unrolled and not m.python_loop for m in candidates if m is not None):
            m = next(m for m in candidates if m is not None)
            return "unroll_unseen", {"method": m.name, "seen": "a Python loop" if m.python_loop
                                     else "a jax.lax.scan without unroll="}
    return None, {}


def _construct(d: str) -> str:
    """How a construct source.py cannot follow is named to the student."""
    if d in ATTR_CALLS:
        return f"{d} with a computed name"
    return f"{d}()" if d in DYNAMIC_CALLS else (f".{d}" if d.startswith("__") else d)


def _observed_problem(observed: dict, T: int) -> str | None:
    loop = observed.get("loop")
    if loop != "scan":
        return loop if loop in ("flax_scan", "while") else "none"
    if observed.get("length") != T:
        return "length"
    if observed.get("carry") is not True:
        return "not_carry"
    if "scan_method" in observed:    # the runner names the method the scan equation itself ran under
        return None if isinstance(observed["scan_method"], str) else "scan_outside_module"
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
