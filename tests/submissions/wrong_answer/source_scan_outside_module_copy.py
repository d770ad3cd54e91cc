"""Hostile (source witness): the raw jax.lax.scan runs in lax_scan_in_module, outside the Module, and
its carry is then passed through a Module method that only copies it (`jnp.array(c, copy=True)`), so
an equation on the way from the loop to the output runs under the Module's name scope and the copy
vanishes from the exported program. The values and the program's recurrence are right; the scan is
not in the Module: the grader's reading of the source finds jax.lax.scan only in lax_scan_in_module
(and the runner sees the scan equation itself outside every method). WA, never AC."""
# grade: all
# isolation: bwrap uid
import jax
import jax.numpy as jnp
import flax.linen as nn


class LaxScanModule(nn.Module):
    hidden: int
    T: int

    @nn.compact
    def __call__(self, x):
        return self.param("W", nn.initializers.lecun_normal(), (self.hidden, self.hidden))

    def finish(self, c):
        return jnp.array(c, copy=True)


def lax_scan_in_module(seed, x, hidden, T):
    model = LaxScanModule(hidden=hidden, T=T)
    variables = model.init(jax.random.PRNGKey(seed), x)
    W = variables["params"]["W"]
    final, _ = jax.lax.scan(lambda c, _: (jnp.tanh(c @ W), None), jnp.tanh(x @ W), jnp.arange(T))
    return model.apply(variables, final, method=LaxScanModule.finish)
