"""The structure checks (grader/structure.py) on many ways of solving, or not solving, the exercise.

They run in one child process, as in grading (the test process never imports JAX): the child execs
each source below as a module and reports every check's (passed, message).
"""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from grader import BUNDLE_ROOT
from grader.runner import PINNED

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
                           {"params_tree": True, "uses_lax_scan": False}, "while loop"),
    "python_loop": (module(W + "c = jnp.tanh(x @ W)\nfor _ in range(self.T):\n    c = jnp.tanh(c @ W)\nreturn c"),
                    {"params_tree": True, "uses_lax_scan": False}, "requires jax.lax.scan"),
    "nn_scan": (module(W + """
c = jnp.tanh(x @ W)
def step(mdl, c, _):
    return jnp.tanh(c @ W), None
return nn.scan(step, variable_broadcast="params", split_rngs={"params": False}, length=self.T)(self, c, None)[0]
"""), {"params_tree": True, "uses_lax_scan": False}, "nn.scan"),
    "scan_t_minus_1": (module(SCAN.replace("jnp.arange(self.T)", "jnp.arange(self.T - 1)")),
                       {"uses_lax_scan": False}, "runs [4] steps for T=5"),
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
"""), {"params_tree": True, "uses_lax_scan": False}, "never applies LaxScanModule"),
    "apply_then_numpy": (module(SCAN, fn="""
def lax_scan_in_module(seed, x, hidden, T):
    model = LaxScanModule(hidden=hidden, T=T)
    variables = model.init(jax.random.PRNGKey(seed), x)
    model.apply(variables, x)
    W = np.asarray(variables["params"]["W"])
    return np.tanh(np.tanh(np.asarray(x) @ W) @ W)
"""), {"uses_lax_scan": False}, "returns something else"),
    "jit_outside_apply": (module(SCAN, fn="""
def lax_scan_in_module(seed, x, hidden, T):
    model = LaxScanModule(hidden=hidden, T=T)
    variables = model.init(jax.random.PRNGKey(seed), x)
    return jax.jit(model.apply)(variables, x)
"""), {"uses_lax_scan": True}, ""),
    "crashing_call": (module('raise ValueError("boom " * 200)'), {"module_class": True, "params_tree": False},
                      "[truncated]"),
}

CHILD = """
import json, sys
import jax
for k, v in json.loads(sys.argv[1]).items():
    jax.config.update(k, v)
sys.path.insert(0, "grader")
import structure
job = {"checks": [{"id": i, "hidden": 6, "T": 5, "seed": 3} for i in ("module_class", "params_tree", "uses_lax_scan")],
       "module_class": "LaxScanModule", "function": "lax_scan_in_module"}
checks = structure.Checks(job)
out = {}
for name, src in json.load(sys.stdin).items():
    mod = type(sys)("solution_" + name)
    exec(compile(src, name + ".py", "exec"), mod.__dict__)
    out[name] = {f["id"]: [f["passed"], f["message"]] for f in checks.run(mod) if f["type"] == "check"}
json.dump(out, sys.stdout)
"""


@pytest.fixture(scope="module")
def results() -> dict:
    proc = subprocess.run([sys.executable, "-c", CHILD, json.dumps(PINNED)], cwd=BUNDLE_ROOT, capture_output=True,
                          text=True, timeout=600,
                          input=json.dumps({name: src for name, (src, _, _) in SOURCES.items()}))
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout)


@pytest.mark.slow
@pytest.mark.parametrize("name", list(SOURCES))
def test_structure_check(results, name):
    _src, want, fragment = SOURCES[name]
    got = results[name]
    assert {k: got[k][0] for k in want} == want, got
    failing = [msg for passed, msg in got.values() if not passed]
    if fragment:
        assert any(fragment in msg for msg in failing), failing
    else:
        assert not any(got[k][0] is False for k in want), got
