"""The child side of the structure witnesses, on real exported programs: what the runner observes
while tracing (grader/child/observe.py, runner.py) and what the executor verifies in the program
(hlo.py, hlo_graph.py, hlo_origin.py).

One child process of the venv's python (the test process never imports JAX) loads each source below,
runs the runner's own run_case on each case (observe + export, or the plain call), verifies every
exported program as the executor does, runs it on the case's input, and also calls the function
plainly to compare the values; the tests read its report.
"""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from grader import BUNDLE_ROOT

HEAD = "import functools\nimport jax\nimport jax.numpy as jnp\nimport flax.linen as nn\nimport numpy as np\n"
FN = """
def lax_scan_in_module(seed, x, hidden, T):
    model = LaxScanModule(hidden=hidden, T=T)
    return model.apply(model.init(jax.random.PRNGKey(seed), x), x)
"""
W = 'W = self.param("W", nn.initializers.lecun_normal(), (self.hidden, self.hidden))\n'


def module(call_body: str, fn: str = FN, extra: str = "") -> str:
    body = textwrap.indent(textwrap.dedent(call_body).strip("\n"), " " * 8)
    return (f"{HEAD}{extra}\nclass LaxScanModule(nn.Module):\n    hidden: int\n    T: int\n\n    @nn.compact\n"
            f"    def __call__(self, x):\n{body}\n{fn}")


def scan(step: str, init: str = "jnp.tanh(x @ W)", kw: str = "") -> str:
    return module(W + f"return jax.lax.scan(lambda c, _: ({step}, None), {init}, None, length=self.T{kw})[0]")


OUTSIDE = """
def lax_scan_in_module(seed, x, hidden, T):
    model = LaxScanModule(hidden=hidden, T=T)
    W = model.init(jax.random.PRNGKey(seed), x)["params"]["W"]
    {scope}c = jax.lax.scan(lambda c, _: (jnp.tanh(c @ W), None), jnp.tanh(x @ W), None, length=T)[0]
    return model.apply({{"params": {{"W": W}}}}, c)
"""
COPY = W + "return jnp.array(x, copy=True)"
SOURCES = {
    "reference": scan("jnp.tanh(c @ W)"),
    # observation: where the scan equation itself ran
    "copy_outside": module(COPY, fn=OUTSIDE.format(scope="")),
    "old_mark_scope": module(COPY, fn=OUTSIDE.format(scope='with jax.named_scope("lax_grader_module_method"):\n'
                                                           '        ')),
    "jit_in_method": module(W + """
run = jax.jit(lambda W, c: jax.lax.scan(lambda c, _: (jnp.tanh(c @ W), None), c, None, length=self.T)[0])
return run(W, jnp.tanh(x @ W))
"""),
    "other_method": module(W + "return self.loop(W, jnp.tanh(x @ W))").replace(
        "\ndef lax_scan_in_module", """
    def loop(self, W, c):
        return jax.lax.scan(lambda c, _: (jnp.tanh(c @ W), None), c, None, length=self.T)[0]

def lax_scan_in_module""", 1),
    "wrapped_lax_scan_nn_scan": module(W + """
def step(mdl, c, _):
    return jnp.tanh(c @ W), None
return nn.scan(step, variable_broadcast="params", split_rngs={"params": False}, length=self.T)(
    self, jnp.tanh(x @ W), None)[0]
""", extra="_real = jax.lax.scan\njax.lax.scan = lambda f, *a, **k: _real(lambda *x: f(*x), *a, **k)\n"),
    "forged_traceback_nn_scan": module(W + """
def step(mdl, c, _):
    return jnp.tanh(c @ W), None
return nn.scan(step, variable_broadcast="params", split_rngs={"params": False}, length=self.T)(
    self, jnp.tanh(x @ W), None)[0]
""", extra="""from jax._src import source_info_util
_tb = source_info_util.current().traceback
_real = jax.lax.scan


def _scan(f, *a, **k):
    with source_info_util.user_context(_tb):
        return _real(lambda *x: f(*x), *a, **k)


jax.lax.scan = _scan
"""),
    "wrapped_lax_scan_raw": scan("jnp.tanh(c @ W)").replace(
        "\nclass", "_real = jax.lax.scan\njax.lax.scan = lambda f, *a, **k: _real(lambda *x: f(*x), *a, **k)\n\nclass", 1),
    "scan_unroll_true": scan("jnp.tanh(c @ W)", kw=", unroll=True"),
    # runner: a cached jitted helper, NumPy conversions of tracers
    "jit_helper": scan("jnp.tanh(c @ W)", kw="").replace(FN, """
@functools.partial(jax.jit, static_argnums=(2, 3))
def helper(seed, x, hidden, T):
    model = LaxScanModule(hidden=hidden, T=T)
    return model.apply(model.init(jax.random.PRNGKey(seed), x), x)

def lax_scan_in_module(seed, x, hidden, T):
    return helper(seed, x, hidden, T)
"""),
    "np_asarray": scan("jnp.tanh(c @ W)").replace(FN, """
def lax_scan_in_module(seed, x, hidden, T):
    model = LaxScanModule(hidden=hidden, T=T)
    x = np.asarray(x, dtype=np.float32)
    return np.asarray(model.apply(model.init(jax.random.PRNGKey(seed), x), x))
"""),
    "np_array_dtype": scan("jnp.tanh(c @ W)").replace(FN, """
def lax_scan_in_module(seed, x, hidden, T):
    model = LaxScanModule(hidden=hidden, T=T)
    return np.array(model.apply(model.init(jax.random.PRNGKey(seed), x), x), dtype=np.float64, copy=True)
"""),
    "np_tanh_falls_back": scan("jnp.tanh(c @ W)").replace(FN, """
def lax_scan_in_module(seed, x, hidden, T):
    model = LaxScanModule(hidden=hidden, T=T)
    return np.tanh(np.arctanh(model.apply(model.init(jax.random.PRNGKey(seed), x), x)))
"""),
    # verifier: forms of the one step
    "pytree_carry_wtt": module(W + """
def body(carry, _):
    h, step, copy = carry
    return (jnp.tanh(jnp.dot(h, W.T.T)), step + 1, h), None
(h, _n, _c), _ = jax.lax.scan(body, (jnp.tanh(x @ W), 0, x), None, length=self.T)
return h
"""),
    "w_ttt_is_transposed": scan("jnp.tanh(c @ W.T.T.T)", init="jnp.tanh(x @ W.T.T.T)"),
    "transposed_outside_loop": module(W + """
Wt = W.T
return jax.lax.scan(lambda c, _: (jnp.tanh(c @ Wt.T), None), jnp.tanh(x @ W), None, length=self.T)[0]
"""),
    "einsum": scan("jnp.tanh(jnp.einsum('i,ij->j', c, W))", init="jnp.tanh(jnp.einsum('i,ij->j', x, W))"),
    "einsum_w_first": scan("jnp.tanh(jnp.einsum('ij,i->j', W, c))"),
    "matmul": scan("jnp.tanh(jnp.matmul(c, W))", init="jnp.tanh(jnp.dot(x, W))"),
    "dot_general_w_first": scan("jnp.tanh(jax.lax.dot_general(W, c, (((0,), (0,)), ((), ()))))"),
    "row_vector_carry": module(W + """
c = jnp.tanh(x.reshape(1, -1) @ W)
return jax.lax.scan(lambda c, _: (jnp.tanh(c @ W), None), c, None, length=self.T)[0].reshape(-1)
"""),
    "row_vector_step": scan("jnp.tanh((c[None, :] @ W)[0])"),
    "column_form": scan("jnp.tanh((W.T @ c[:, None]).T.reshape(-1))"),
    "x64_on_w": module(W + """
with jax.enable_x64():
    W64 = W.astype(jnp.float64)
    c = jnp.tanh(x.astype(jnp.float64) @ W64)
    return jax.lax.scan(lambda c, _: (jnp.tanh(c @ W64), None), c, None, length=self.T)[0]
"""),
    "bfloat16_result": scan("jnp.tanh(c @ W)").replace(
        "length=self.T)[0]", "length=self.T)[0].astype(jnp.bfloat16)"),
    "transposed_w": scan("jnp.tanh(c @ W.T)", init="jnp.tanh(x @ W.T)"),
    # verifier: where W comes from
    "constant_w": module(W + "return x", fn="""
CACHE = {}

def lax_scan_in_module(seed, x, hidden, T):
    if (seed, hidden) not in CACHE:
        with jax.ensure_compile_time_eval():
            v = LaxScanModule(hidden, T).init(jax.random.PRNGKey(seed), jnp.zeros(hidden))
            CACHE[seed, hidden] = np.asarray(v["params"]["W"])
    W = jnp.asarray(CACHE[seed, hidden])
    return jax.lax.scan(lambda c, _: (jnp.tanh(c @ W), None), jnp.tanh(x @ W), None, length=T)[0]
"""),
    "constant_plus_zero_bits": module(W + "return x", fn="""
CACHE = {}

def lax_scan_in_module(seed, x, hidden, T):
    if (seed, hidden) not in CACHE:
        with jax.ensure_compile_time_eval():
            v = LaxScanModule(hidden, T).init(jax.random.PRNGKey(seed), jnp.zeros(hidden))
            CACHE[seed, hidden] = np.asarray(v["params"]["W"])
    W = jnp.asarray(CACHE[seed, hidden]) + 0.0 * jax.random.normal(jax.random.PRNGKey(seed), (hidden, hidden))
    return jax.lax.scan(lambda c, _: (jnp.tanh(c @ W), None), jnp.tanh(x @ W), None, length=T)[0]
"""),
    "w_from_x": module("W = jnp.outer(x, x) * 0.1\n"
                       "return jax.lax.scan(lambda c, _: (jnp.tanh(c @ W), None), jnp.tanh(x @ W), None, "
                       "length=self.T)[0]", fn=FN),
}
UNROLL_T = 9
UNROLLS = [*range(1, UNROLL_T + 3), 16, True]
for k in UNROLLS:
    SOURCES[f"unroll_{k}"] = scan("jnp.tanh(c @ W)", kw=f", unroll={k}")

CASES = [{"id": "a", "seed": 3, "hidden": 6, "T": 5}, {"id": "h1", "seed": 5, "hidden": 1, "T": 3},
         {"id": "t0", "seed": 6, "hidden": 4, "T": 0}]
REPEATED = CASES[:1] + [{"id": "b", "seed": 4, "hidden": 6, "T": 5}] + CASES[1:]     # b repeats a's (H, T)
UNROLL_CASES = [{"id": "u", "seed": 3, "hidden": 5, "T": UNROLL_T}]
T37 = UNROLL_CASES + [{"id": "u37", "seed": 3, "hidden": 4, "T": 37}]
# the sources whose exported program is also run and compared with a plain call of the function
VALUES = {"reference", "np_asarray", "np_array_dtype", "x64_on_w", "constant_w", "constant_plus_zero_bits",
          "unroll_7", "unroll_16", "unroll_True"}
CHILD = """
import json, os, sys, time
sys.path.insert(0, "grader/child")
import numpy as np
import common, hlo, observe, runner
jax = common.configure_jax(None, False)
import flax.linen

class Capture:
    def __init__(self):
        self.frames = []
    def send(self, head, payload=b""):
        self.frames.append((head, payload))

exporter = runner.Exporter(jax)
real_asarray, real_scan = np.asarray, jax.lax.scan
jobs = json.load(sys.stdin)
out = {"probes": {}}
for name, (src, cases, values) in jobs.items():
    for c in cases:
        c["x"] = [float(v) for v in np.random.default_rng(c["seed"]).standard_normal(c["hidden"])]
    mod = type(sys)("solution_" + name)
    exec(compile(src, name + ".py", "exec"), mod.__dict__)
    observer = observe.Observer("LaxScanModule", "m" + os.urandom(16).hex())
    observer.module_class(mod)
    rec = {}
    for case in cases:
        chan = Capture()
        runner.run_case(case, mod.lax_scan_in_module, exporter, observer, chan, name + ".py", 9999, jax, np)
        head, payload = chan.frames[-1]
        row = {"type": head["type"], "observed": head.get("observed"), "fallback": head.get("fallback")}
        program = payload if head["type"] == "program" else payload[head.get("data_nbytes", 0):]
        x = jax.numpy.asarray(np.asarray(case["x"], dtype=np.float32))
        if program:
            exp = jax.export.deserialize(bytearray(program))
            t = time.perf_counter()
            row["structure"] = hlo.check(exp.mlir_module_serialized, case["T"]).as_dict()
            row["check_s"] = time.perf_counter() - t
            row["dtype"] = str(exp.out_avals[0].dtype)
        if program and values:
            got = np.asarray(exp.call(x), dtype=np.float64)
            want = np.asarray(mod.lax_scan_in_module(case["seed"], x, case["hidden"], case["T"]), dtype=np.float64)
            row["max_err"] = float(np.max(np.abs(got - want))) if got.size else 0.0
        rec[case["id"]] = row
    out[name] = rec
    jax.lax.scan = real_scan        # a source that wrapped it wrapped it for this source only
out["probes"]["asarray_restored"] = np.asarray is real_asarray
a, b = observe.Observer("LaxScanModule"), observe.Observer("LaxScanModule")
out["probes"]["markers"] = [a.marker, b.marker]
eqns = []
def collect(j):
    for e in j.eqns:
        if e.primitive.name == "scan":
            eqns.append(e)
        for p in ("jaxpr", "call_jaxpr"):
            if p in e.params:
                collect(getattr(e.params[p], "jaxpr", e.params[p]))
mod = type(sys)("lift")
exec(compile(jobs["wrapped_lax_scan_nn_scan"][0], "lift.py", "exec"), mod.__dict__)
traced, _ = exporter.trace(lambda v: mod.lax_scan_in_module(3, v, 64, 100), 64)
collect(traced.jaxpr.jaxpr)
t = time.perf_counter()
for _ in range(1000):
    lifted = [a.scan_kind(e) == "flax_scan" for e in eqns]
out["probes"]["lifted"], out["probes"]["lifted_s"] = lifted, (time.perf_counter() - t) / 1000
json.dump(out, sys.stdout)
"""


@pytest.fixture(scope="module")
def report() -> dict:
    def cases(name):
        if name.startswith("unroll_"):
            return T37 if name in VALUES else UNROLL_CASES
        return REPEATED if name == "jit_helper" else CASES
    jobs = {name: (src, cases(name), name in VALUES) for name, src in SOURCES.items()}
    proc = subprocess.run([sys.executable, "-c", CHILD], cwd=BUNDLE_ROOT, capture_output=True, text=True,
                          timeout=900, input=json.dumps(jobs))
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout)


def rows(report: dict, name: str) -> dict:
    return report[name]


def structures(report: dict, name: str) -> dict:
    return {cid: (row.get("structure") or {}).get("reason") for cid, row in report[name].items()}


# -- observation ------------------------------------------------------------------------------------
def test_reference_observed_in_call(report):
    for row in rows(report, "reference").values():
        obs = row["observed"]
        assert (obs["loop"], obs["scan_method"], obs["in_module"], obs["unroll"]) == ("scan", "__call__", True, 1), obs
        assert row["structure"]["ok"] is True and row["max_err"] == 0.0, row


@pytest.mark.parametrize("name", ["copy_outside", "old_mark_scope"])
def test_scan_outside_the_module_is_not_in_module(report, name):
    """A copy of the carry made in a Module method, or a scope named like the old constant marker,
    does not put a scan run outside the Module into it."""
    for row in rows(report, name).values():
        obs = row["observed"]
        assert obs["loop"] == "scan" and obs["scan_method"] is None and obs["in_module"] is False, obs
        assert row["structure"]["ok"] is True          # the program itself is the recurrence


def test_markers_are_drawn_per_observer(report):
    a, b = report["probes"]["markers"]
    assert a != b and len(a) >= 32
    source = (BUNDLE_ROOT / "grader" / "child" / "observe.py").read_text(encoding="utf-8")
    assert "lax_grader_module_method" not in source


@pytest.mark.parametrize("name, method", [("jit_in_method", "__call__"), ("other_method", "loop")])
def test_method_the_scan_ran_under(report, name, method):
    for row in rows(report, name).values():
        assert (row["observed"]["scan_method"], row["observed"]["in_module"]) == (method, True), row["observed"]
        assert row["structure"]["ok"] is True, row


def test_wrapped_lax_scan_does_not_hide_flax_lift(report):
    for row in rows(report, "wrapped_lax_scan_nn_scan").values():
        assert row["observed"]["loop"] == "flax_scan", row["observed"]
    for row in rows(report, "wrapped_lax_scan_raw").values():
        assert row["observed"]["loop"] == "scan", row["observed"]
    for row in rows(report, "forged_traceback_nn_scan").values():   # a traceback put in its place
        assert row["observed"]["loop"] == "unknown", row["observed"]


def test_lift_decision_is_cheap(report):
    """Reading a scan's traceback frames costs microseconds (H=64, T=100, nn.scan behind a wrapper)."""
    probes = report["probes"]
    assert probes["lifted"] and all(probes["lifted"]), probes
    assert probes["lifted_s"] < 0.005, probes


def test_unroll_reported(report):
    assert {c: r["observed"]["unroll"] for c, r in rows(report, "unroll_7").items()} == {"u": 7, "u37": 7}
    assert {c: r["observed"]["unroll"] for c, r in rows(report, "unroll_3").items()} == {"u": 3}
    assert {c: r["observed"]["unroll"] for c, r in rows(report, "unroll_True").items()} == {"u": 9, "u37": 37}
    got = {c: r["observed"]["unroll"] for c, r in rows(report, "scan_unroll_true").items()}
    assert got == {"a": 5, "h1": 3, "t0": 1}, got


# -- runner -----------------------------------------------------------------------------------------
def test_jit_helper_repeated_shapes_still_shows_init(report):
    """Cases a and b share (H, T): jit's cache runs no Python for b, and its init is still seen."""
    for cid, row in rows(report, "jit_helper").items():
        H = {"a": 6, "b": 6, "h1": 1, "t0": 4}[cid]
        assert row["observed"]["params"] == {"params/W": [[H, H], "float32"]}, (cid, row["observed"])
        assert row["observed"]["in_module"] is True and row["structure"]["ok"] is True, row


@pytest.mark.parametrize("name, dtype", [("np_asarray", "float32"), ("np_array_dtype", "float32")])
def test_numpy_conversion_of_the_result_is_exported(report, name, dtype):
    for row in rows(report, name).values():
        assert row["type"] == "program", row
        assert row["structure"]["ok"] is True and row["observed"]["in_module"] is True, row
        assert row["dtype"] == dtype and row["max_err"] <= 1e-6, row
    assert report["probes"]["asarray_restored"] is True


def test_other_numpy_on_a_tracer_still_falls_back(report):
    for row in rows(report, "np_tanh_falls_back").values():
        assert row["type"] == "result" and row["fallback"] in ("concrete_values", "numpy"), row


# -- verifier ---------------------------------------------------------------------------------------
OK_FORMS = ["pytree_carry_wtt", "transposed_outside_loop", "einsum", "einsum_w_first", "matmul",
            "dot_general_w_first", "row_vector_carry", "row_vector_step", "column_form", "x64_on_w",
            "bfloat16_result"]


@pytest.mark.parametrize("name", OK_FORMS)
def test_forms_of_the_step_verify(report, name):
    for cid, row in rows(report, name).items():
        s = row["structure"]
        T = {"a": 5, "h1": 3, "t0": 0}[cid]
        assert s["ok"] is True, (cid, s)
        assert (s["trips"], s["per_trip"]) == ((T, 1) if T else (None, None)), (cid, s)


def test_x64_on_w_is_within_tolerance(report):
    for row in rows(report, "x64_on_w").values():
        assert row["dtype"] == "float64" and row["max_err"] <= 1e-5, row


@pytest.mark.parametrize("name", ["w_ttt_is_transposed", "transposed_w"])
def test_transposed_w_is_still_caught(report, name):
    got = structures(report, name)
    assert got["a"] in ("loop_body_not_step", "init_not_tanh_xw", "output_not_recurrence"), got
    assert got["h1"] == "ok", got        # H = 1: a transposition is invisible


@pytest.mark.parametrize("name", ["constant_w", "constant_plus_zero_bits", "w_from_x"])
def test_w_not_from_init(report, name):
    got = structures(report, name)
    if name == "constant_plus_zero_bits":      # a 1 x 1 constant is a scalar like any other: H = 1 passes
        assert got.pop("h1") == "ok"
    assert set(got.values()) == {"w_not_from_init"}, got
    if name != "w_from_x":
        assert all(row["max_err"] <= 1e-6 for row in rows(report, name).values())   # right values


@pytest.mark.parametrize("k", UNROLLS)
def test_unroll_every_k(report, k):
    """k < T: a loop of T // k trips of k steps, the remainder outside; k >= T (or True): no loop left,
    all T steps outside, every one with the init's W (no_loop, which checks.py judges with the
    observed unroll)."""
    for cid, row in rows(report, f"unroll_{k}").items():
        T = UNROLL_T if cid == "u" else 37
        s, kk = row["structure"], T if k is True else k
        if kk >= T:
            assert (s["ok"], s["reason"], s["outside"], s["trips"]) == (False, "no_loop", T, None), (k, cid, s)
        else:
            assert s["ok"] is True and s["trips"] * s["per_trip"] + s["outside"] == T, (k, cid, s)
            assert (s["trips"], s["per_trip"]) == (T // kk, kk) or (s["trips"], s["per_trip"]) == (T // kk - 1, kk), s
        assert row.get("max_err", 0.0) == 0.0, row


def test_partial_unroll_at_t37(report):
    """T = 37 with k = 7 and k = 16 (37 % k != 0): trips x per_trip + the remainder outside."""
    got = {k: tuple(report[f"unroll_{k}"]["u37"]["structure"][f] for f in ("trips", "per_trip", "outside"))
           for k in (7, 16)}
    assert got == {7: (5, 7, 2), 16: (2, 16, 5)}, got
