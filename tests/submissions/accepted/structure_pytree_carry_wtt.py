"""Correct: the carry is a pytree (the state, a step counter, and a copy of the previous state that
nothing reads), and the step is written jnp.tanh(jnp.dot(h, W.T.T)). W.T.T is W: the verifier follows
any chain of transposes by its parity, and components of the carry that do not feed the result do not
matter. AC (it used to be told "the loop's body does not compute tanh(carry @ W)")."""
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

        def body(carry, _):
            h, step, _previous = carry
            return (jnp.tanh(jnp.dot(h, W.T.T)), step + 1, h), None

        (h, _steps, _previous), _ = jax.lax.scan(body, (jnp.tanh(x @ W), 0, x), jnp.arange(self.T))
        return h


def lax_scan_in_module(seed, x, hidden, T):
    model = LaxScanModule(hidden=hidden, T=T)
    return model.apply(model.init(jax.random.PRNGKey(seed), x), x)
