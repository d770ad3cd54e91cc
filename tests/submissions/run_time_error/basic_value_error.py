"""Run-time error: raises while computing."""
import flax.linen as nn


class LaxScanModule(nn.Module):
    hidden: int
    T: int

    @nn.compact
    def __call__(self, x):
        raise ValueError(f"I do not know how to scan over {self.T} steps yet")


def lax_scan_in_module(seed, x, hidden, T):
    import jax
    m = LaxScanModule(hidden=hidden, T=T)
    return m.apply(m.init(jax.random.PRNGKey(seed), x), x)
