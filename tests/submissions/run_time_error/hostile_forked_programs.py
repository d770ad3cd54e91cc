"""Hostile: like hostile_forked_frames, but what the forked child writes for every case is a `program`
frame holding a real, correct exported program (the intended recurrence, exported by the submission
itself before forking), with honest-looking evidence, and a `done`; the real runner dies (os._exit(1)).
Where the executor runs programs while the runner still works (programs.py, overlap), it will have
run these and got the right values: they must never count, because the runner that sent them did not
end cleanly. Fair verdict: RTE, never AC or WA."""
# isolation: bwrap uid
import json
import os
import struct
import sys

import jax
import jax.numpy as jnp
import flax.linen as nn
from jax import export


class LaxScanModule(nn.Module):
    hidden: int
    T: int

    @nn.compact
    def __call__(self, x):
        W = self.param("W", nn.initializers.lecun_normal(), (self.hidden, self.hidden))
        return jax.lax.scan(lambda c, _: (jnp.tanh(c @ W), None), jnp.tanh(x @ W), None, length=self.T)[0]


def _program(case):
    model = LaxScanModule(case["hidden"], case["T"])

    def f(x):
        return model.apply(model.init(jax.random.PRNGKey(case["seed"]), x), x)
    spec = jax.ShapeDtypeStruct((case["hidden"],), jnp.float32)
    return export.export(jax.jit(f))(spec).serialize()


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
        program = bytes(_program(case))
        blob += _frame({"type": "program", "id": case["id"], "time_s": 0.01, "nbytes": len(program),
                        "observed": {"loop": "scan", "length": case["T"], "carry": True, "in_module": True}},
                       program)
    blob += _frame({"type": "done"})
    if os.fork() == 0:
        os.write(job["result_fd"], blob)
        os._exit(0)
    os._exit(1)
