"""Correct: returns the Module's result as a NumPy array (and converts x with np.asarray first). A
NumPy conversion of a tracer cannot be traced, so this used to take the slow plain-call fallback
(50 s of the 50 s budget on one CPU for 31 cases) and fail the structure check. While the runner
traces for export, numpy.asarray/numpy.array of a tracer are the tracer itself (or its dtype cast),
so the program is exported and verified like any other and the executor computes the values: AC
with full marks, as fast as the same solution without NumPy."""
# grade: all
import jax
import jax.numpy as jnp
import flax.linen as nn
import numpy as np


class LaxScanModule(nn.Module):
    hidden: int
    T: int

    @nn.compact
    def __call__(self, x):
        W = self.param("W", nn.initializers.lecun_normal(), (self.hidden, self.hidden))

        def body(carry, _):
            return jnp.tanh(carry @ W), None

        final, _ = jax.lax.scan(body, jnp.tanh(x @ W), jnp.arange(self.T))
        return final


def lax_scan_in_module(seed, x, hidden, T):
    x = np.asarray(x, dtype=np.float32)
    model = LaxScanModule(hidden=hidden, T=T)
    variables = model.init(jax.random.PRNGKey(seed), x)
    return np.asarray(model.apply(variables, x))
