"""Known wrong variant: the scan runs T+1 steps (off by one)."""
import jax
import jax.numpy as jnp
import flax.linen as nn


class LaxScanModule(nn.Module):
    hidden: int
    T: int

    @nn.compact
    def __call__(self, x):
        W = self.param("W", nn.initializers.lecun_normal(), (self.hidden, self.hidden))
        init_carry = jnp.tanh(x @ W)

        def body(carry, _):
            return jnp.tanh(carry @ W), None

        final, _ = jax.lax.scan(body, init_carry, jnp.arange(self.T + 1))
        return final


def lax_scan_in_module(seed, x, hidden, T):
    model = LaxScanModule(hidden=hidden, T=T)
    variables = model.init(jax.random.PRNGKey(seed), x)
    return model.apply(variables, x)
