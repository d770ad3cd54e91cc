"""Hostile (source witness): the scan runs outside the Module, under a name scope spelt like the one
the runner once put around the Module's methods ("lax_grader_module_method"), hoping the observation
takes it for a method's. The runner's marker is drawn per grading, and the grader's own reading of the
source finds the jax.lax.scan in lax_scan_in_module, outside LaxScanModule. WA, never AC."""
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


def lax_scan_in_module(seed, x, hidden, T):
    model = LaxScanModule(hidden=hidden, T=T)
    variables = model.init(jax.random.PRNGKey(seed), x)
    W = model.apply(variables, x)
    with jax.named_scope("lax_grader_module_method"):
        final, _ = jax.lax.scan(lambda c, _: (jnp.tanh(c @ W), None), jnp.tanh(x @ W), jnp.arange(T))
    return final
