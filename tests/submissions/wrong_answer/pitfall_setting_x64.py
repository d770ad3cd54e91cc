"""Pitfall: turns on 64-bit mode at import; W is then drawn in float64 and differs completely."""
import jax
import jax.numpy as jnp
import flax.linen as nn

jax.config.update("jax_enable_x64", True)


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


def lax_scan_in_module(seed, x, hidden, T):
    model = LaxScanModule(hidden=hidden, T=T)
    variables = model.init(jax.random.PRNGKey(seed), x)
    return model.apply(variables, x)
