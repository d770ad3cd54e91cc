"""Solution: the weight is created first, then a partial-applied step is scanned."""
from functools import partial

import jax
import jax.numpy as jnp
import flax.linen as nn


def step_fn(W, h, _t):
    h_new = jnp.tanh(jnp.matmul(h, W))
    return h_new, None


def make_weight(module):
    shape = (module.hidden, module.hidden)
    return module.param("W", nn.initializers.lecun_normal(), shape)


class LaxScanModule(nn.Module):
    hidden: int
    T: int

    @nn.compact
    def __call__(self, x):
        W = make_weight(self)
        h = jnp.tanh(jnp.matmul(x, W))
        h, _ = jax.lax.scan(partial(step_fn, W), h, jnp.arange(self.T))
        return h


def lax_scan_in_module(seed, x, hidden, T):
    return LaxScanModule(hidden=hidden, T=T).apply(
        LaxScanModule(hidden=hidden, T=T).init(jax.random.PRNGKey(seed), x), x)
