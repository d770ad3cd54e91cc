import jax, jax.numpy as jnp, flax.linen as nn

class LaxScanModule(nn.Module):
    hidden: int
    T: int
    @nn.compact
    def __call__(self, x):
        W = self.param('W', nn.initializers.lecun_normal(), (self.hidden,) * 2)
        f = lambda c: jnp.tanh(c @ W)
        return jax.lax.scan(lambda c, _: (f(c), None), f(x), None, length=self.T)[0]

def lax_scan_in_module(seed, x, hidden, T):
    m = LaxScanModule(hidden=hidden, T=T)
    return m.apply(m.init(jax.random.PRNGKey(seed), x), x)
