"""Long output and a very long error message: both reach the student cut, with a visible marker."""
import jax
import jax.numpy as jnp
import flax.linen as nn


class LaxScanModule(nn.Module):
    hidden: int
    T: int

    @nn.compact
    def __call__(self, x):
        W = self.param("W", nn.initializers.lecun_normal(), (self.hidden, self.hidden))
        return jax.lax.scan(lambda c, _: (jnp.tanh(c @ W), None), jnp.tanh(x @ W), jnp.arange(self.T))[0]


def lax_scan_in_module(seed, x, hidden, T):
    for i in range(30):
        print(f"debug line {i}: " + "." * 60)
    raise ValueError("a very long message " + "blah " * 2000)
