"""A right computation returned in bfloat16. bfloat16 is accepted as a dtype, but its rounding
(≈4e-3 relative) is coarser than the 1e-4 tolerance: WA "precision too low", not "wrong type"
(measured with tools/measure_low_precision.py: at most 0.94 units of bfloat16's rounding off)."""
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
        return final.astype(jnp.bfloat16)


def lax_scan_in_module(seed, x, hidden, T):
    model = LaxScanModule(hidden=hidden, T=T)
    return model.apply(model.init(jax.random.PRNGKey(seed), x), x)
