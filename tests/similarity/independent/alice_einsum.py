"""lax.scan recurrence in a Flax module, written with einsum and a scan over length only."""
import jax
import jax.numpy as jnp
import flax.linen as nn


class LaxScanModule(nn.Module):
    hidden: int
    T: int

    @nn.compact
    def __call__(self, x):
        weight = self.param("W", nn.initializers.lecun_normal(), (self.hidden, self.hidden))
        state0 = jnp.tanh(jnp.einsum("i,ij->j", x, weight))

        def one_step(state, unused):
            del unused
            nxt = jnp.tanh(jnp.einsum("i,ij->j", state, weight))
            return nxt, None

        last, _ = jax.lax.scan(one_step, state0, xs=None, length=self.T)
        return last


def lax_scan_in_module(seed, x, hidden, T):
    rng = jax.random.PRNGKey(seed)
    net = LaxScanModule(hidden=hidden, T=T)
    params = net.init(rng, x)
    return net.apply(params, x)
