"""A correct solution that is jitted, unrolls its scan by 3 and debugs with jax.debug.print inside
__call__ and the body: the prints are silenced while the grader exports it; accepted, checks pass."""
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
        jax.debug.print("x[0] = {v}", v=x[0])

        def body(carry, _):
            jax.debug.print("carry[0] = {v}", v=carry[0])
            return jnp.tanh(carry @ W), None

        final, _ = jax.lax.scan(body, jnp.tanh(x @ W), jnp.arange(self.T), unroll=3)
        return final


@functools.partial(jax.jit, static_argnums=(0, 2, 3))
def lax_scan_in_module(seed, x, hidden, T):
    model = LaxScanModule(hidden=hidden, T=T)
    return model.apply(model.init(jax.random.PRNGKey(seed), x), x)
