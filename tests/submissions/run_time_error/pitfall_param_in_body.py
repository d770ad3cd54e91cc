"""Pitfall: a Flax variable created inside the lax.scan body (UnexpectedTracerError during init)."""
import jax
import jax.numpy as jnp
import flax.linen as nn


class LaxScanModule(nn.Module):
    hidden: int
    T: int

    @nn.compact
    def __call__(self, x):
        H = self.hidden

        def body(carry, _):
            W = self.param("W", nn.initializers.lecun_normal(), (H, H))
            return jnp.tanh(carry @ W), None

        final, _ = jax.lax.scan(body, jnp.tanh(x), jnp.arange(self.T))
        return final


def lax_scan_in_module(seed, x, hidden, T):
    model = LaxScanModule(hidden=hidden, T=T)
    variables = model.init(jax.random.PRNGKey(seed), x)
    return model.apply(variables, x)
