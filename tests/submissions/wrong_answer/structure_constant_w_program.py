"""Hostile: the right numbers from a program with W embedded as a constant. For each (seed, hidden)
W is computed eagerly, outside any trace (jax.ensure_compile_time_eval), kept as a NumPy array and
closed over, and a raw jax.lax.scan runs the recurrence on it in lax_scan_in_module. The exported
program is the recurrence, but its W is a constant, not a value the program makes from the seed's
random bits: the verifier says the W is not the one the init creates (w_not_from_init). WA."""
# grade: all
# isolation: bwrap uid
import jax
import jax.numpy as jnp
import flax.linen as nn
import numpy as np

_W = {}


class LaxScanModule(nn.Module):
    hidden: int
    T: int

    @nn.compact
    def __call__(self, x):
        self.param("W", nn.initializers.lecun_normal(), (self.hidden, self.hidden))
        return x


def _constant_w(seed, hidden):
    if (seed, hidden) not in _W:
        with jax.ensure_compile_time_eval():
            variables = LaxScanModule(hidden, 0).init(jax.random.PRNGKey(seed), jnp.zeros(hidden, jnp.float32))
            _W[seed, hidden] = np.asarray(variables["params"]["W"])
    return _W[seed, hidden]


def lax_scan_in_module(seed, x, hidden, T):
    W = jnp.asarray(_constant_w(seed, hidden))
    final, _ = jax.lax.scan(lambda c, _: (jnp.tanh(c @ W), None), jnp.tanh(x @ W), None, length=T)
    return final
