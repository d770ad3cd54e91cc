"""Pitfall: the scan body changes the carry shape ((hidden,) -> (hidden, 1)): a TypeError from scan."""
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
            return jnp.tanh(W.T @ carry[:, None]), None   # a column vector: no longer (hidden,)

        final, _ = jax.lax.scan(body, jnp.tanh(x @ W), jnp.arange(self.T))
        return final


def lax_scan_in_module(seed, x, hidden, T):
    model = LaxScanModule(hidden=hidden, T=T)
    variables = model.init(jax.random.PRNGKey(seed), x)
    return model.apply(variables, x)
