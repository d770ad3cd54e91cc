"""Known wrong variant: W @ carry instead of carry @ W (W transposed)."""
import jax
import jax.numpy as jnp
import flax.linen as nn


class LaxScanModule(nn.Module):
    hidden: int
    T: int

    @nn.compact
    def __call__(self, x):
        W = self.param("W", nn.initializers.lecun_normal(), (self.hidden, self.hidden))
        init_carry = jnp.tanh(W @ x)

        def body(carry, _):
            return jnp.tanh(W @ carry), None

        final, _ = jax.lax.scan(body, init_carry, jnp.arange(self.T))
        return final


def lax_scan_in_module(seed, x, hidden, T):
    model = LaxScanModule(hidden=hidden, T=T)
    variables = model.init(jax.random.PRNGKey(seed), x)
    return model.apply(variables, x)
