"""How far the reference's result lands from the golden values when returned in a low-precision
dtype, in units of that dtype's rounding (the PRECISION_UNITS bound of grader/judge/compare.py).

Run from the bundle root: `.venv/bin/python tools/measure_low_precision.py`. Columns: case id, H, T,
edge, float32 result cast to bfloat16, the recurrence computed in bfloat16 throughout, the float32
result cast to float16 (each: the smallest k with |g - a| <= atol + (rtol + k u)|a|).
"""
import sys

import flax.linen as nn  # noqa: F401 - the reference imports it
import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, ".")
from grader.problem import load_problem
from grader.judge.cases import load_golden
sys.path.insert(0, "reference"); import solution as ref
p = load_problem(None)
rows = []
for s in ("public", "hidden"):
    for g in load_golden(p, s).cases:
        c = g.spec
        x = jnp.asarray(g.x if hasattr(g, "x") else None)
        out = ref.lax_scan_in_module(c.seed, x, c.hidden, c.T)
        exp = g.expected.astype(np.float64)
        cast = np.asarray(out.astype(jnp.bfloat16).astype(jnp.float32), np.float64)
        W = ref.LaxScanModule(hidden=c.hidden, T=c.T).init(jax.random.PRNGKey(c.seed), x)["params"]["W"].astype(jnp.bfloat16)
        carry = jnp.tanh(x.astype(jnp.bfloat16) @ W)
        for _ in range(c.T):
            carry = jnp.tanh(carry @ W)
        full = np.asarray(carry.astype(jnp.float32), np.float64)
        h16 = np.asarray(out.astype(jnp.float16), np.float64)
        def units(got, u):  # smallest k with |g-a| <= atol + (rtol + k u)|a|
            e = np.abs(got - exp); a = np.abs(exp)
            need = np.where(a > 0, (e - 1e-5 - 1e-4 * a) / np.maximum(a, 1e-30) / u, np.where(e <= 1e-5, 0, np.inf))
            return float(max(0.0, need.max()))
        rows.append((c.id, c.hidden, c.T, c.edge, units(cast, 2**-8), units(full, 2**-8), units(h16, 2**-11)))
for r in rows: print(r)
print("max units: cast bf16 %.2f, all-bf16 %.2f, cast f16 %.2f" % tuple(max(r[i] for r in rows) for i in (4,5,6)))
