"""Correct: keeps the state as a tuple carry with a step counter, and uses a bound module."""
import jax
import jax.numpy as jnp
import flax.linen as nn


class LaxScanModule(nn.Module):
    hidden: int
    T: int

    @nn.compact
    def __call__(self, x):
        W = self.param("W", nn.initializers.lecun_normal(), (self.hidden, self.hidden))

        def body(state, _):
            c, n = state
            return (jnp.tanh(c @ W), n + 1), None

        (final, _steps), _ = jax.lax.scan(body, (jnp.tanh(x @ W), 0), jnp.arange(self.T))
        return final


def lax_scan_in_module(seed, x, hidden, T):
    model = LaxScanModule(hidden=hidden, T=T)
    variables = model.init(jax.random.PRNGKey(seed), x)
    bound = model.bind(variables)
    return bound(x)
