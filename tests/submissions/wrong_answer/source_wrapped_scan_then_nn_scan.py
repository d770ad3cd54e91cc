"""Hostile (source witness): at import, jax.lax.scan is replaced by a wrapper whose body is a lambda of
this file (so the Flax lift's own source no longer shows in the scan body's debug info), then Flax's
nn.scan does the work. The values are right and nn.scan lowers to the same loop, but the exercise
wants a raw jax.lax.scan: the grader reads the source, sees the assignment to jax.lax.scan and no
jax.lax.scan call in LaxScanModule (only nn.scan). WA, never AC."""
# grade: all
# isolation: bwrap uid
import jax
import jax.numpy as jnp
import flax.linen as nn

real = jax.lax.scan
jax.lax.scan = lambda f, *a, **k: real(lambda *x: f(*x), *a, **k)


class LaxScanModule(nn.Module):
    hidden: int
    T: int

    @nn.compact
    def __call__(self, x):
        W = self.param("W", nn.initializers.lecun_normal(), (self.hidden, self.hidden))

        def step(mdl, c, _):
            return jnp.tanh(c @ W), None

        scan = nn.scan(step, variable_broadcast="params", split_rngs={"params": False}, length=self.T)
        return scan(self, jnp.tanh(x @ W), None)[0]


def lax_scan_in_module(seed, x, hidden, T):
    model = LaxScanModule(hidden=hidden, T=T)
    return model.apply(model.init(jax.random.PRNGKey(seed), x), x)
