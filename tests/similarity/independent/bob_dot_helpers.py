import jax
import jax.numpy as jnp
import flax.linen as nn


def _mix(v, m):
    # one application of the recurrence: a matrix-vector product through tanh
    return jnp.tanh(jnp.dot(v, m))


def _make_body(m):
    def body(c, t):
        return _mix(c, m), None
    return body


class LaxScanModule(nn.Module):
    hidden: int
    T: int

    @nn.compact
    def __call__(self, x):
        n = self.hidden
        kernel = self.param("W", nn.initializers.lecun_normal(), (n, n))
        steps = jnp.arange(self.T)
        out, _ = jax.lax.scan(_make_body(kernel), _mix(x, kernel), steps)
        return out


def lax_scan_in_module(seed, x, hidden, T):
    module = LaxScanModule(hidden, T)
    key = jax.random.PRNGKey(seed)
    variables = module.init(key, x)
    result = module.apply(variables, x)
    return result
