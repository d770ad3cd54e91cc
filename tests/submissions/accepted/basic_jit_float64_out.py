"""Correct: a jitted apply, and the result handed back as a float64 numpy array."""
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from flax import linen as nn


class LaxScanModule(nn.Module):
    hidden: int
    T: int

    @nn.compact
    def __call__(self, x):
        W = self.param("W", nn.initializers.lecun_normal(), (self.hidden, self.hidden))

        def body(carry, _):
            return jnp.tanh(jnp.dot(carry, W)), None

        final, _ = jax.lax.scan(body, jnp.tanh(jnp.dot(x, W)), jnp.arange(self.T))
        return final


@partial(jax.jit, static_argnums=(2, 3))
def _run(seed, x, hidden, T):
    model = LaxScanModule(hidden, T)
    variables = model.init(jax.random.PRNGKey(seed), x)
    return model.apply(variables, x)


def lax_scan_in_module(seed, x, hidden, T):
    print(f"running hidden={hidden} T={T}")  # printing a little is fine
    return np.asarray(_run(seed, x, hidden, T), dtype=np.float64)
