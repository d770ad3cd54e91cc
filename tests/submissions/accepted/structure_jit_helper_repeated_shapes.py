"""Correct: a module-level jitted helper (hidden and T static, the seed traced) does init + apply, and
lax_scan_in_module only calls it. Two graded cases share (hidden, T) = (16, 200): on the second one
jit's cache runs no Python, so nothing of the Module is traced again. The runner then clears JAX's
trace caches and traces that case once more, so init's variables are seen on every case: AC with
full marks (params_tree used to fail with "no variables seen")."""
# grade: all
import functools

import jax
import jax.numpy as jnp
import flax.linen as nn


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


@functools.partial(jax.jit, static_argnums=(2, 3))
def _init_and_apply(seed, x, hidden, T):
    model = LaxScanModule(hidden=hidden, T=T)
    variables = model.init(jax.random.PRNGKey(seed), x)
    return model.apply(variables, x)


def lax_scan_in_module(seed, x, hidden, T):
    return _init_and_apply(seed, x, hidden, T)
