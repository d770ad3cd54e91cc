"""Hostile: the raw jax.lax.scan runs in lax_scan_in_module, outside the Module, on the W its init
created; the final carry is then passed through a Module method that only copies it
(jnp.array(c, copy=True)), so the last equation on the way to the output is under the Module's scope
and the copy vanishes in StableHLO. The program is a correct recurrence, but the observation reads
the scope of the scan equation itself: no Module method ran it. WA."""
# grade: all
# isolation: bwrap uid
import jax
import jax.numpy as jnp
import flax.linen as nn


class LaxScanModule(nn.Module):
    hidden: int
    T: int

    @nn.compact
    def __call__(self, c):
        self.param("W", nn.initializers.lecun_normal(), (self.hidden, self.hidden))
        return jnp.array(c, copy=True)


def lax_scan_in_module(seed, x, hidden, T):
    model = LaxScanModule(hidden=hidden, T=T)
    variables = model.init(jax.random.PRNGKey(seed), x)
    W = variables["params"]["W"]
    final, _ = jax.lax.scan(lambda c, _: (jnp.tanh(c @ W), None), jnp.tanh(x @ W), None, length=T)
    return model.apply(variables, final)
