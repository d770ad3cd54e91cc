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
out = {}
for name, src in json.load(sys.stdin).items():
    mod = type(sys)("solution_" + name)
    exec(compile(src, name + ".py", "exec"), mod.__dict__)
    observer = observe.Observer("LaxScanModule")
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
    checks = decide(load_problem(), _execution(results[name]), _golden(), earned=True)
    got = {c.id: (c.passed, c.message) for c in checks}
    assert {k: got[k][0] for k in want} == want, (got, results[name])
    failing = [msg for passed, msg in got.values() if not passed]
    if fragment:
        assert any(fragment in msg for msg in failing), failing
    else:
        assert not any(got[k][0] is False for k in want), got
