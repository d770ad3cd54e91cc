"""The wrong variants' JAX side (grader/variants.py runs it in a child process at `make regen`): the
reference's own W and the recurrence computed with each classic mistake, on every case. Trusted code:
it loads the reference, never a submission. Reads a job on stdin, writes JSON on stdout.
Usage: python -I variants.py < job.json
"""
import importlib.util
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import configure_jax, current_settings  # noqa: E402  (this folder, put on the path just above)


def make_x(x_seed: int, hidden: int) -> np.ndarray:
    """The input vector of a case: standard normal from its own seed (as grader/cases.py makes it)."""
    return np.random.default_rng(x_seed).standard_normal(hidden).astype(np.float32)


def compute(job: dict) -> dict:
    # the executor's settings and XLA options: its recurrence must reproduce the golden vectors' bits
    jax = configure_jax(None, False)
    import flax.linen as nn
    import jax.numpy as jnp

    spec = importlib.util.spec_from_file_location("reference_solution", job["reference"])
    ref = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ref)
    module_class = getattr(ref, job["module_class"])

    class Drawn(nn.Module):
        """Only draws W, like the reference's one self.param("W", ...), with another initializer."""
        hidden: int
        init_fn: object

        @nn.compact
        def __call__(self, x):
            return self.param("W", self.init_fn, (self.hidden, self.hidden))

    def drawn(init_fn, seed, x):
        return Drawn(x.shape[0], init_fn).init(jax.random.PRNGKey(seed), x)["params"]["W"]

    # n is traced (one compile per shape and activation); the while loop is bit-identical to scan
    @jax.jit
    def tanh_steps(W, c0, n):
        return jax.lax.fori_loop(0, n, lambda i, c: jnp.tanh(c @ W), jnp.tanh(c0))

    @jax.jit
    def relu_steps(W, c0, n):
        return jax.lax.fori_loop(0, n, lambda i, c: jax.nn.relu(c @ W), jax.nn.relu(c0))

    @jax.jit
    def raw_start(W, c0, n):
        return jax.lax.fori_loop(0, n, lambda i, c: jnp.tanh(c @ W), c0)

    he = nn.initializers.variance_scaling(2.0, "fan_in", "truncated_normal")
    out = {}
    for c in job["cases"]:
        H, T, seed = c["hidden"], c["T"], c["seed"]
        x = jnp.asarray(make_x(c["x_seed"], H))
        W = module_class(hidden=H, T=T).init(jax.random.PRNGKey(seed), x)["params"]["W"]
        if not np.array_equal(np.asarray(drawn(nn.initializers.lecun_normal(), seed, x)), np.asarray(W)):
            raise RuntimeError("Drawn(lecun_normal) does not reproduce the reference's W")
        row = {
            "correct": tanh_steps(W, x @ W, T),
            "t_minus_1": tanh_steps(W, x @ W, T - 1) if T > 0 else None,
            "t_plus_1": tanh_steps(W, x @ W, T + 1),
            "no_initial_tanh": raw_start(W, x @ W, T),
            "transposed_w": tanh_steps(W.T, x @ W.T, T),
            "seed_ignored": tanh_steps(W0 := module_class(hidden=H, T=T).init(
                jax.random.PRNGKey(0), x)["params"]["W"], x @ W0, T),
            "x_ignored": tanh_steps(W, jnp.zeros_like(x) @ W, T),
            "relu": relu_steps(W, x @ W, T),
            "init_scale": tanh_steps(Wh := drawn(he, seed, x), x @ Wh, T),
            "lecun_uniform": tanh_steps(Wu := drawn(nn.initializers.lecun_uniform(), seed, x), x @ Wu, T),
        }
        out[c["id"]] = {k: [float(v) for v in np.asarray(a, np.float32)] for k, a in row.items()
                        if a is not None and (k == "correct" or k in job["variants"])}
    return {"settings": current_settings(jax), "cases": out}


if __name__ == "__main__":
    json.dump(compute(json.load(sys.stdin)), sys.stdout)
