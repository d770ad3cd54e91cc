"""Correct, in float64: inside `with jax.enable_x64():` W is widened with astype(float64) and the whole
recurrence runs in float64. The recurrence is the same, on the one W from self.param widened by a
convert (the verifier sees through a widening float convert of W and of the carry), and the values
stay within the tolerance (float64 arithmetic on the same W: ~10x inside it). Fair: AC, float64 is an
accepted result dtype."""
# grade: all
import jax
import jax.numpy as jnp
import flax.linen as nn


class LaxScanModule(nn.Module):
    hidden: int
    T: int

    @nn.compact
    def __call__(self, x):
        W = self.param("W", nn.initializers.lecun_normal(), (self.hidden, self.hidden))
        with jax.enable_x64():
            W64 = W.astype(jnp.float64)

            def body(carry, _):
                return jnp.tanh(carry @ W64), None

            final, _ = jax.lax.scan(body, jnp.tanh(x.astype(jnp.float64) @ W64), jnp.arange(self.T))
            return final


def lax_scan_in_module(seed, x, hidden, T):
    model = LaxScanModule(hidden=hidden, T=T)
    return model.apply(model.init(jax.random.PRNGKey(seed), x), x)
