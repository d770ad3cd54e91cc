"""Source witness: a correct recurrence whose scan is looked up with a computed name,
`getattr(lax, "sc" + "an")`. The program and the observation are those of a raw scan, but the grader
reads the source with ast and cannot follow a computed getattr, so it finds no jax.lax.scan call in
LaxScanModule: the check fails with the sentence saying to call jax.lax.scan directly. WA."""
# grade: all
# isolation: bwrap uid
import jax
import jax.numpy as jnp
import flax.linen as nn
from jax import lax


class LaxScanModule(nn.Module):
    hidden: int
    T: int

    @nn.compact
    def __call__(self, x):
        W = self.param("W", nn.initializers.lecun_normal(), (self.hidden, self.hidden))
        scan = getattr(lax, "sc" + "an")
        final, _ = scan(lambda c, _: (jnp.tanh(c @ W), None), jnp.tanh(x @ W), jnp.arange(self.T))
        return final


def lax_scan_in_module(seed, x, hidden, T):
    model = LaxScanModule(hidden=hidden, T=T)
    return model.apply(model.init(jax.random.PRNGKey(seed), x), x)
