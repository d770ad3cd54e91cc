"""Homework 3: a recurrent tanh update written with jax.lax.scan inside a Flax module.

I keep the parameter outside the loop body because the traced body has no module context, and I
check shapes on the way so that a mistake shows up as a clear assertion instead of a wrong number.
"""
import jax
import jax.numpy as jnp
import flax.linen as nn


class LaxScanModule(nn.Module):
    """Runs c <- tanh(c @ W) for T steps starting from tanh(x @ W)."""

    hidden: int
    T: int

    @nn.compact
    def __call__(self, x):
        n = self.hidden
        steps = self.T
        assert x.shape == (n,), f"expected x of shape ({n},), got {x.shape}"

        # the one and only trainable matrix of this model
        W = self.param("W", nn.initializers.lecun_normal(), (n, n))

        # the initial carry already goes through one tanh
        h0 = jnp.tanh(x @ W)

        def body(h_prev, t):
            # t is not needed: every step uses the same matrix
            h_next = jnp.tanh(h_prev @ W)
            assert h_next.shape == h_prev.shape
            return h_next, None

        ts = jnp.arange(steps)
        h_final, ys = jax.lax.scan(body, h0, ts)
        assert ys is None
        return h_final


def make_net(h, t):
    """A small factory so that the construction is in one place."""
    return LaxScanModule(hidden=h, T=t)


def lax_scan_in_module(seed, x, hidden, T):
    """Initialise the module from PRNGKey(seed), then apply it to x and return the final state."""
    net = make_net(hidden, T)
    k = jax.random.PRNGKey(seed)
    vs = net.init(k, x)
    y = net.apply(vs, x)
    assert y.shape == (hidden,)
    return y
