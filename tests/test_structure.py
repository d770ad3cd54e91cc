"""The structure checks (grader/judge/checks.py) on many ways of solving, or not solving, the exercise.

One child process plays both sandboxed roles, as in grading (the test process never imports JAX): for
each source below it runs the runner's code on two cases (observe + export, or the plain call) and the
executor's code on every program it exported (verify + run), and reports the frames; the test then
decides the checks from them with the grader's own code.
"""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from grader import BUNDLE_ROOT
from grader.judge.cases import GoldenCase
from grader.judge.checks import decide
from grader.child.common import PINNED
from grader.outcome import Execution, Outcome
from grader.problem import CaseSpec, load_problem

HEAD = "import jax\nimport jax.numpy as jnp\nimport flax.linen as nn\nimport numpy as np\n"
FN = """
def lax_scan_in_module(seed, x, hidden, T):
    model = LaxScanModule(hidden=hidden, T=T)
    return model.apply(model.init(jax.random.PRNGKey(seed), x), x)
"""


def module(call_body: str, fields: str = "hidden: int\n    T: int", fn: str = FN, base: str = "nn.Module") -> str:
    body = textwrap.indent(textwrap.dedent(call_body).strip("\n"), " " * 8)
    return f"{HEAD}\nclass LaxScanModule({base}):\n    {fields}\n\n    @nn.compact\n    def __call__(self, x):\n{body}\n{fn}"


W = 'W = self.param("W", nn.initializers.lecun_normal(), (self.hidden, self.hidden))\n'
SCAN = W + """
def body(c, _):
    return jnp.tanh(c @ W), None
final, _ = jax.lax.scan(body, jnp.tanh(x @ W), jnp.arange(self.T))
return final
"""
# name -> (source, {check id: passed}, a fragment the first failing check's message must hold)
SOURCES = {
    "reference": (module(SCAN), {"module_class": True, "params_tree": True, "uses_lax_scan": True}, ""),
    "length_kwarg": (module(W + """
def body(c, _):
    return jnp.tanh(c @ W), None
return jax.lax.scan(body, jnp.tanh(x @ W), None, length=self.T)[0]
"""), {"uses_lax_scan": True}, ""),
    "jit_inside_call": (module(W + """
def run(W, c):
    return jax.lax.scan(lambda c, _: (jnp.tanh(c @ W), None), c, jnp.arange(self.T))[0]
return jax.jit(run)(W, jnp.tanh(x @ W))
"""), {"uses_lax_scan": True}, ""),
    "fori_static": (module(W + "return jax.lax.fori_loop(0, self.T, lambda i, c: jnp.tanh(c @ W), jnp.tanh(x @ W))"),
                    {"uses_lax_scan": True}, ""),
    "fori_traced_bounds": (module(W + "n = jnp.asarray(self.T)\n"
                                  "return jax.lax.fori_loop(0, n, lambda i, c: jnp.tanh(c @ W), jnp.tanh(x @ W))"),
                           {"params_tree": True, "uses_lax_scan": False}, "trip count is not a fixed T"),
    "python_loop": (module(W + "c = jnp.tanh(x @ W)\nfor _ in range(self.T):\n    c = jnp.tanh(c @ W)\nreturn c"),
                    {"params_tree": True, "uses_lax_scan": False}, "without a loop"),
    "nn_scan": (module(W + """
c = jnp.tanh(x @ W)
def step(mdl, c, _):
    return jnp.tanh(c @ W), None
return nn.scan(step, variable_broadcast="params", split_rngs={"params": False}, length=self.T)(self, c, None)[0]
"""), {"params_tree": True, "uses_lax_scan": False}, "nn.scan"),
    "scan_t_minus_1": (module(SCAN.replace("jnp.arange(self.T)", "jnp.arange(self.T - 1)")),
                       {"uses_lax_scan": False}, "runs 4×1 steps for T=5"),
    "dense": (module("""
d = nn.Dense(self.hidden, use_bias=False)
c = jnp.tanh(d(x))
return jax.lax.scan(lambda c, _: (jnp.tanh(d(c)), None), c, jnp.arange(self.T))[0]
"""), {"module_class": True, "params_tree": False}, "Dense_0/kernel"),
    "extra_param": (module('b = self.param("b", nn.initializers.zeros, (self.hidden,))\n' + SCAN),
                    {"params_tree": False}, "params/b"),
    "renamed_param": (module(SCAN.replace('"W"', '"kernel"')), {"params_tree": False}, "params/kernel"),
    "field_not_int": (module(SCAN, fields="hidden: float\n    T: int"), {"module_class": False}, "hidden: int"),
    "field_missing": (module(SCAN.replace("self.T", "5"), fields="hidden: int"), {"module_class": False},
                      "needs a field `T: int`"),
    "not_a_module": (f"{HEAD}\nclass LaxScanModule:\n    pass\n\ndef lax_scan_in_module(seed, x, hidden, T):\n"
                     "    return x\n", {"module_class": False, "params_tree": False, "uses_lax_scan": False},
                     "deriving from flax.linen.Module"),
    "no_class": (f"{HEAD}\ndef lax_scan_in_module(seed, x, hidden, T):\n    return x\n",
                 {"module_class": False, "uses_lax_scan": False}, "not defined at the top level"),
    "numpy_outside_module": (module(SCAN, fn="""
def lax_scan_in_module(seed, x, hidden, T):
    W = np.asarray(LaxScanModule(hidden, T).init(jax.random.PRNGKey(seed), x)["params"]["W"])
    c = np.tanh(np.asarray(x) @ W)
    for _ in range(T):
        c = np.tanh(c @ W)
    return c
"""), {"params_tree": True, "uses_lax_scan": False}, "applied no LaxScanModule"),
    "apply_then_numpy": (module(SCAN, fn="""
def lax_scan_in_module(seed, x, hidden, T):
    model = LaxScanModule(hidden=hidden, T=T)
    variables = model.init(jax.random.PRNGKey(seed), x)
    model.apply(variables, x)
    W = np.asarray(variables["params"]["W"])
    return np.tanh(np.tanh(np.asarray(x) @ W) @ W)
"""), {"uses_lax_scan": False}, "gives other values"),
    "jit_outside_apply": (module(SCAN, fn="""
def lax_scan_in_module(seed, x, hidden, T):
    model = LaxScanModule(hidden=hidden, T=T)
    variables = model.init(jax.random.PRNGKey(seed), x)
    return jax.jit(model.apply)(variables, x)
"""), {"uses_lax_scan": True}, ""),
    "crashing_call": (module('raise ValueError("boom " * 200)'), {"module_class": True, "params_tree": False},
                      "no case ran far enough"),
    # Correct ways that must pass (issue 10).
    "apply_method": (module(SCAN, fn="""
def lax_scan_in_module(seed, x, hidden, T):
    model = LaxScanModule(hidden=hidden, T=T)
    variables = model.init(jax.random.PRNGKey(seed), x, method=LaxScanModule.__call__)
    return model.apply(variables, x, method="__call__")
"""), {"module_class": True, "params_tree": True, "uses_lax_scan": True}, ""),
    "init_with_output": (module(SCAN, fn="""
def lax_scan_in_module(seed, x, hidden, T):
    out, _variables = LaxScanModule(hidden=hidden, T=T).init_with_output(jax.random.PRNGKey(seed), x)
    return out
"""), {"module_class": True, "params_tree": True, "uses_lax_scan": True}, ""),
    "setup_style": (f"""{HEAD}
class LaxScanModule(nn.Module):
    hidden: int
    T: int

    def setup(self):
        self.W = self.param("W", nn.initializers.lecun_normal(), (self.hidden, self.hidden))

    def __call__(self, x):
        W = self.W
        return jax.lax.scan(lambda c, _: (jnp.tanh(c @ W), None), jnp.tanh(x @ W), None, length=self.T)[0]
{FN}""", {"module_class": True, "params_tree": True, "uses_lax_scan": True}, ""),
    "self_variable": (module("""
H = self.hidden
W = self.variable("params", "W", lambda: nn.initializers.lecun_normal()(self.make_rng("params"), (H, H))).value
return jax.lax.scan(lambda c, _: (jnp.tanh(c @ W), None), jnp.tanh(x @ W), None, length=self.T)[0]
"""), {"module_class": True, "params_tree": True, "uses_lax_scan": True}, ""),
    "jitted_function": (module(SCAN, fn="""
import functools
@functools.partial(jax.jit, static_argnums=(0, 2, 3))
def lax_scan_in_module(seed, x, hidden, T):
    model = LaxScanModule(hidden=hidden, T=T)
    return model.apply(model.init(jax.random.PRNGKey(seed), x), x)
"""), {"module_class": True, "params_tree": True, "uses_lax_scan": True}, ""),
    "unroll_2": (module(SCAN.replace("jnp.arange(self.T))", "jnp.arange(self.T), unroll=2)")),
                 {"uses_lax_scan": True}, ""),
    "debug_print": (module(W + """
jax.debug.print("x = {x}", x=x)
def body(c, _):
    jax.debug.print("carry {c}", c=c[0])
    return jnp.tanh(c @ W), None
return jax.lax.scan(body, jnp.tanh(x @ W), jnp.arange(self.T))[0]
"""), {"module_class": True, "params_tree": True, "uses_lax_scan": True}, ""),
    # Decoys (issue 10): a scan that is there but does not make the result.
    "decoy_unused_scan": (module(W + """
c = jnp.tanh(x @ W)
jax.lax.scan(lambda c, _: (jnp.tanh(c @ W), None), c, None, length=self.T)
for _ in range(self.T):
    c = jnp.tanh(c @ W)
return c
"""), {"params_tree": True, "uses_lax_scan": False}, "without a loop"),
    "decoy_nn_scan_plus_scan": (module(W + """
c = jnp.tanh(x @ W)
def step(mdl, c, _):
    return jnp.tanh(c @ W), None
real = nn.scan(step, variable_broadcast="params", split_rngs={"params": False}, length=self.T)(self, c, None)[0]
decoy = jax.lax.scan(lambda c, _: (jnp.tanh(c @ W), None), c, None, length=self.T)[0]
return real + 0.0 * decoy
"""), {"uses_lax_scan": False}, "not the carry"),
    "decoy_nn_scan_unused_raw": (module(W + """
c = jnp.tanh(x @ W)
jax.lax.scan(lambda c, _: (jnp.tanh(c @ W), None), c, None, length=self.T)
def step(mdl, c, _):
    return jnp.tanh(c @ W), None
return nn.scan(step, variable_broadcast="params", split_rngs={"params": False}, length=self.T)(self, c, None)[0]
"""), {"uses_lax_scan": False}, "nn.scan"),
    "while_loop": (module(W + """
return jax.lax.while_loop(lambda s: s[0] < self.T, lambda s: (s[0] + 1, jnp.tanh(s[1] @ W)),
                          (0, jnp.tanh(x @ W)))[1]
"""), {"uses_lax_scan": False}, "while loop"),
    "transposed_w": (module(W + """
return jax.lax.scan(lambda c, _: (jnp.tanh(W @ c), None), jnp.tanh(W @ x), None, length=self.T)[0]
"""), {"uses_lax_scan": False}, "carry @ W, not W @ carry"),
    # The source witness on real frames (grader/judge/source.py reads the same text).
    "source_helper_function": (module(W + "return recur(W, jnp.tanh(x @ W), self.T)", fn=FN + """
def recur(W, c, n):
    return jax.lax.scan(lambda c, _: (jnp.tanh(c @ W), None), c, None, length=n)[0]
"""), {"module_class": True, "params_tree": True, "uses_lax_scan": True}, ""),
    "source_unroll_true": (module(SCAN.replace("jnp.arange(self.T))", "jnp.arange(self.T), unroll=True)")),
                           {"uses_lax_scan": True}, ""),
    "source_static_t0": (module(W + "c = jnp.tanh(x @ W)\nif self.T == 0:\n    return c\n"
                                "return jax.lax.scan(lambda c, _: (jnp.tanh(c @ W), None), c, None, length=self.T)[0]"),
                         {"params_tree": True, "uses_lax_scan": True}, ""),
    "source_getattr": (module(SCAN.replace("jax.lax.scan(", 'getattr(jax.lax, "sc" + "an")(')),
                       {"params_tree": True, "uses_lax_scan": False}, "call jax.lax.scan directly"),
    "source_outside_copy": (f"""{HEAD}
class LaxScanModule(nn.Module):
    hidden: int
    T: int

    @nn.compact
    def __call__(self, x):
        return self.param("W", nn.initializers.lecun_normal(), (self.hidden, self.hidden))

    def finish(self, c):
        return jnp.array(c, copy=True)

def lax_scan_in_module(seed, x, hidden, T):
    model = LaxScanModule(hidden=hidden, T=T)
    variables = model.init(jax.random.PRNGKey(seed), x)
    W = variables["params"]["W"]
    final, _ = jax.lax.scan(lambda c, _: (jnp.tanh(c @ W), None), jnp.tanh(x @ W), jnp.arange(T))
    return model.apply(variables, final, method=LaxScanModule.finish)
""", {"params_tree": True, "uses_lax_scan": False}, "not called inside a method of LaxScanModule"),
}

CASES = [{"id": "a", "seed": 3, "hidden": 6, "T": 5}, {"id": "b", "seed": 4, "hidden": 5, "T": 1},
         {"id": "c", "seed": 5, "hidden": 4, "T": 0}]
CHILD = """
import json, sys
sys.path.insert(0, "grader/child")
import numpy as np
import common, executor, hlo, observe, runner
jax = common.configure_jax(None, False)
cases = json.loads(sys.argv[1])
for c in cases:
    c["x"] = [float(v) for v in np.random.default_rng(c["seed"]).standard_normal(c["hidden"])]

class Capture:
    def __init__(self):
        self.frames = []
    def send(self, head, payload=b""):
        self.frames.append((head, payload))

exporter = runner.Exporter(jax)
import inspect, os   # the runner draws the Module scope's marker per grading (when observe.py takes one)
marker = ["m" + os.urandom(16).hex()] if "marker" in inspect.signature(observe.Observer).parameters else []
out = {}
for name, src in json.load(sys.stdin).items():
    mod = type(sys)("solution_" + name)
    exec(compile(src, name + ".py", "exec"), mod.__dict__)
    observer = observe.Observer("LaxScanModule", *marker)
    rec = {"module": observer.module_class(mod), "cases": {}}
    for case in cases:
        chan = Capture()
        runner.run_case(case, mod.lax_scan_in_module, exporter, observer, chan, name + ".py", 9999, jax, np)
        head, payload = chan.frames[-1]
        split = head.get("data_nbytes", 0)
        program = payload if head["type"] == "program" else payload[split:]
        row = {"runner": head, "data": payload[:split].hex() if head["type"] == "result" else ""}
        if program and head["type"] == "program":      # the structure is what this test is about
            exp = jax.export.deserialize(bytearray(program))
            row["executor"] = {"type": "result", "structure": hlo.check(exp.mlir_module_serialized, case["T"]).as_dict()}
            row["edata"] = ""
        elif program:                                   # a fallback: its Module's values decide
            ech = Capture()
            executor.run({**case, "max_elements": 9999}, program, jax, np, hlo, ech)
            ehead, edata = ech.frames[-1]
            row["executor"] = ehead
            row["edata"] = edata.hex()
        rec["cases"][case["id"]] = row
    out[name] = rec
json.dump(out, sys.stdout)
"""


@pytest.fixture(scope="module")
def results() -> dict:
    proc = subprocess.run([sys.executable, "-c", CHILD, json.dumps(CASES)], cwd=BUNDLE_ROOT, capture_output=True,
                          text=True, timeout=900,
                          input=json.dumps({name: src for name, (src, _, _) in SOURCES.items()}))
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout)


def _execution(rec: dict) -> Execution:
    """What execute.run and programs.Executor would have assembled from these frames."""
    ex = Execution(isolation="process", module=rec["module"])
    for cid, row in rec["cases"].items():
        head = row["runner"]
        if head["type"] == "error":
            ex.cases[cid] = Outcome("error", error=head)
            continue
        run = None
        if "executor" in row:
            eh = row["executor"]
            run = Outcome("result" if eh["type"] == "result" else "error", header=eh, error=eh,
                          data=bytes.fromhex(row["edata"]), structure=eh.get("structure"), stage="executor")
        if head["type"] == "program":
            run.observed, run.program = head.get("observed"), b"p"
            ex.cases[cid] = run
        else:
            ex.cases[cid] = Outcome("result", header=head, data=bytes.fromhex(row["data"]), program=b"p" if run else None,
                                    observed=head.get("observed"), fallback=head["fallback"], module_run=run)
    return ex


def _golden() -> list[GoldenCase]:
    import numpy as np
    return [GoldenCase(CaseSpec(c["id"], "hidden", c["seed"], c["hidden"], c["T"], 0), np.zeros(c["hidden"], np.float32),
                       np.zeros(c["hidden"], np.float32)) for c in CASES]


@pytest.mark.slow
@pytest.mark.parametrize("name", list(SOURCES))
def test_structure_check(results, name):
    _src, want, fragment = SOURCES[name]
    checks = decide(load_problem(), _execution(results[name]), _golden(), earned=True, code=_src.encode())
    got = {c.id: (c.passed, c.message) for c in checks}
    assert {k: got[k][0] for k in want} == want, (got, results[name])
    failing = [msg for passed, msg in got.values() if not passed]
    if fragment:
        assert any(fragment in msg for msg in failing), failing
    else:
        assert not any(got[k][0] is False for k in want), got


# -- the three witnesses, frames built by hand (no child): the source (read by the grader), the
# verified program and the observation must agree (grader/judge/checks.py) ---------------------------
REF = (BUNDLE_ROOT / "reference" / "solution.py").read_text(encoding="utf-8")
UNROLLED = REF.replace("jnp.arange(self.T))", "jnp.arange(self.T), unroll=True)")


def _obs(T: int, method: str | None = "__call__", unroll: int | None = 1, loop: str = "scan", **kw) -> dict:
    o = {"loop": loop, "length": T, "carry": True, "T": T, "in_module": method is not None,
         "params": {"params/W": [[4, 4], "float32"]}, **kw}
    if method != "absent":
        o["scan_method"] = method
    else:
        o["in_module"] = True
    if unroll is not None:
        o["unroll"] = unroll
    return o


def _program(T: int, whole: bool = False) -> dict:
    if whole:
        return {"ok": False, "reason": "no_loop", "trips": None, "per_trip": None, "outside": T}
    if T == 0:
        return {"ok": True, "reason": "ok", "trips": None, "per_trip": None, "outside": 0}
    return {"ok": True, "reason": "ok", "trips": T, "per_trip": 1, "outside": 0}


def _decide(code: str, rows: list[tuple[int, dict, dict]]):
    """rows: (T, observed, verified structure) per case; the uses_lax_scan verdict."""
    ex = Execution(isolation="process", module={"ok": True, "reason": "ok"})
    golden = []
    for i, (T, observed, structure) in enumerate(rows):
        cid = f"c{i}"
        ex.cases[cid] = Outcome("result", observed=observed, structure=structure, program=b"p", stage="executor")
        golden.append(GoldenCase(CaseSpec(cid, "hidden", 3 + i, 4, T, 0), None, None))
    checks = decide(load_problem(), ex, golden, earned=True, code=code.encode())
    return next(c for c in checks if c.id == "uses_lax_scan")


def test_three_witnesses_agree_on_the_reference():
    got = _decide(REF, [(T, _obs(T), _program(T)) for T in (1, 5, 0)])
    assert got.passed and "found in your source" in got.message


def test_a_scan_outside_every_method_fails_with_its_sentence():
    got = _decide(REF, [(5, _obs(5, method=None), _program(5))])
    assert not got.passed and "is not called inside a method of LaxScanModule" in got.message


def test_the_observed_method_must_be_one_the_source_shows_calling_scan():
    code = REF.replace("    @nn.compact\n", "    def other(self, x):\n        return x\n\n    @nn.compact\n")
    assert _decide(code, [(5, _obs(5), _program(5))]).passed
    got = _decide(code, [(5, _obs(5, method="other"), _program(5))])
    assert not got.passed and "runs in LaxScanModule.other" in got.message
    got = _decide(code, [(5, _obs(5, method="{cls}\x1b[2J" * 40), _program(5))])   # the runner's word is any text
    assert not got.passed and "\x1b" not in got.message and len(got.message) < 400


def test_a_scan_only_in_the_function_is_found_elsewhere():
    code = REF.replace("final, _ = jax.lax.scan(body, init_carry, jnp.arange(self.T))", "final = init_carry")
    code = code.replace("    return model.apply(variables, x)",
                        "    c = model.apply(variables, x)\n    return jax.lax.scan(lambda c, _: (c, None), c, None, length=T)[0]")
    got = _decide(code, [(5, _obs(5), _program(5))])
    assert not got.passed and "called in lax_scan_in_module, outside LaxScanModule" in got.message


def test_a_computed_getattr_is_told_to_call_scan_directly():
    code = REF.replace("jax.lax.scan(", 'getattr(jax.lax, "sc" + "an")(')
    got = _decide(code, [(5, _obs(5), _program(5))])
    assert not got.passed and got.message.startswith("call jax.lax.scan directly") \
        and "getattr with a computed name" in got.message


def test_a_wrapped_scan_is_no_raw_scan():
    code = REF.replace("class LaxScanModule", "real = jax.lax.scan\njax.lax.scan = lambda f, *a, **k: "
                       "real(lambda *x: f(*x), *a, **k)\n\n\nclass LaxScanModule")
    got = _decide(code, [(5, _obs(5), _program(5))])
    assert not got.passed and "assigns to jax.lax.scan" in got.message


def test_nn_scan_in_the_source_is_named():
    code = REF.replace("final, _ = jax.lax.scan(body, init_carry, jnp.arange(self.T))",
                       "final = nn.scan(Cell, length=self.T)(init_carry)")
    got = _decide(code, [(5, _obs(5), _program(5))])
    assert not got.passed and "nn.scan" in got.message


def test_an_unreadable_source_fails_the_check_only():
    got = _decide("x = " + "-" * 5000 + "1", [(5, _obs(5), _program(5))])
    assert not got.passed and "nested too deeply" in got.message


@pytest.mark.parametrize("Ts", [(1, 3, 5, 10), (1, 37, 200, 0)], ids=["public", "all"])
def test_a_scan_unrolled_whole_passes_in_the_local_check_and_the_full_grading(Ts):
    rows = [(T, _obs(T, unroll=max(T, 1)), _program(T, whole=T > 0)) for T in Ts]
    assert _decide(UNROLLED, rows).passed
    unroll16 = REF.replace("jnp.arange(self.T))", "jnp.arange(self.T), unroll=16)")
    rows = [(T, _obs(T, unroll=16), _program(T, whole=0 < T <= 16)) for T in Ts]
    assert _decide(unroll16, rows).passed


def test_an_unrolled_program_needs_the_unroll_in_the_observation_and_the_source():
    got = _decide(UNROLLED, [(5, _obs(5, unroll=4), _program(5, whole=True))])
    assert not got.passed and "without a loop" in got.message
    got = _decide(REF, [(5, _obs(5, unroll=5), _program(5, whole=True))])
    assert not got.passed and "a jax.lax.scan without unroll=" in got.message
    looped = UNROLLED.replace("        return final", "        for _ in range(0):\n            pass\n        return final")
    got = _decide(looped, [(5, _obs(5, unroll=5), _program(5, whole=True))])
    assert not got.passed and "a Python loop" in got.message


def test_a_static_t0_branch_passes_and_is_not_enough_alone():
    code = REF.replace("        init_carry = jnp.tanh(x @ W)\n",
                       "        init_carry = jnp.tanh(x @ W)\n        if self.T == 0:\n            return init_carry\n")
    t0 = (0, _obs(0, loop="none", method=None, unroll=1, primitive="tanh"), _program(0))
    assert _decide(code, [(5, _obs(5), _program(5)), t0]).passed
    got = _decide(code, [t0])
    assert not got.passed and "no case with T >= 1" in got.message
    got = _decide(code, [(0, _obs(0, loop="none", method=None), _program(0, whole=True))] + [t0])
    assert not got.passed


def test_an_older_runner_without_the_new_keys_is_judged_as_before():
    assert _decide(REF, [(5, _obs(5, method="absent", unroll=None), _program(5))]).passed
    rows = [(37, _obs(37, method="absent", unroll=None), {"ok": True, "reason": "ok", "trips": 2, "per_trip": 16,
                                                          "outside": 5}),
            (5, _obs(5, method="absent", unroll=None), _program(5, whole=True))]
    unroll16 = REF.replace("jnp.arange(self.T))", "jnp.arange(self.T), unroll=16)")
    assert _decide(unroll16, rows).passed
    got = _decide(REF, [(5, {**_obs(5, method="absent", unroll=None), "in_module": False}, _program(5))])
    assert not got.passed and "did not compute" in got.message
