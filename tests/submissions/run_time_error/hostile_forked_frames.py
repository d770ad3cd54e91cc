"""Hostile (issue 10): the real runner dies in every case (os._exit(1)) right after a forked child of
it wrote result frames for every remaining case on the grader's pipe, with the right values (computed
beforehand, before forking), and a `done`. Frames say nothing about who wrote them; the runner's own
death does: each case its runner died in is RTE, so the fair verdict is RTE, never AC or WA."""
# isolation: bwrap uid
import json
import os
import struct
import sys

import numpy as np
import jax
import jax.numpy as jnp
import flax.linen as nn


class LaxScanModule(nn.Module):
    hidden: int
    T: int

    @nn.compact
    def __call__(self, x):
        W = self.param("W", nn.initializers.lecun_normal(), (self.hidden, self.hidden))
        return jax.lax.scan(lambda c, _: (jnp.tanh(c @ W), None), jnp.tanh(x @ W), None, length=self.T)[0]


def _answer(case):
    with jax.ensure_compile_time_eval():
        x = jnp.asarray(np.asarray(case["x"], np.float32))
        model = LaxScanModule(case["hidden"], case["T"])
        return np.asarray(model.apply(model.init(jax.random.PRNGKey(case["seed"]), x), x), "<f4")


def _frame(head, payload=b""):
    data = json.dumps(head).encode()
    return struct.pack(">I", len(data)) + data + payload


def lax_scan_in_module(seed, x, hidden, T):
    job = json.load(open(sys.argv[1]))
    blob, first = b"", True
    for case in job["cases"]:
        if not first:
            blob += _frame({"type": "start", "id": case["id"]})
        first = False
        out = _answer(case).tobytes()
        blob += _frame({"type": "result", "id": case["id"], "kind": "array", "shape": [case["hidden"]],
                        "dtype": "<f4", "nbytes": len(out), "data_nbytes": len(out), "fallback": "numpy",
                        "observed": {"loop": "scan", "length": case["T"], "carry": True, "in_module": True}}, out)
    blob += _frame({"type": "done"})
    if os.fork() == 0:
        os.write(job["result_fd"], blob)
        os._exit(0)
    os._exit(1)
