"""A correct setup()-style Module whose W is declared with self.variable('params', 'W', ...): accepted."""
import jax
import jax.numpy as jnp
import flax.linen as nn


class LaxScanModule(nn.Module):
    hidden: int
    T: int

    def setup(self):
        H = self.hidden
        self.W = self.variable("params", "W",
                               lambda: nn.initializers.lecun_normal()(self.make_rng("params"), (H, H)))

    def __call__(self, x):
        W = self.W.value

        def body(carry, _):
            return jnp.tanh(carry @ W), None

        final, _ = jax.lax.scan(body, jnp.tanh(x @ W), jnp.arange(self.T))
        return final


def lax_scan_in_module(seed, x, hidden, T):
    model = LaxScanModule(hidden=hidden, T=T)
    return model.apply(model.init(jax.random.PRNGKey(seed), x), x)
