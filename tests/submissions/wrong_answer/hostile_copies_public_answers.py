"""Hostile: copies the public answers from the handout and gets everything else wrong (a bias in
the recurrence). Public cases weigh 0, check points need a passing non-edge hidden case, and the
copied answers are constants in the programs the grader runs (no recurrence): 0 (it scored 20/100).
"""
# grade: all
import jax
import jax.numpy as jnp
import flax.linen as nn

PUBLIC = {
    (1001, 4, 1): [-0.70217395, 0.54347485, -0.24749792, -0.6809031],
    (1002, 8, 3): [-0.22859856, 0.3562945, -0.039737295, -0.40547615, -0.24500023, -0.5075572, 0.25089732, -0.1579899],
    (1003, 12, 5): [-0.13992912, -0.062471718, 0.0986989, -0.09151146, 0.4238686, 0.0961871, 0.2281594, -0.44311062, -0.0892952, -0.052494098, 0.021502389, -0.081074715],
    (1004, 16, 10): [-0.07312794, 0.17380863, -0.09286081, 0.112678535, 0.06457336, 0.03686018, 0.044508822, -0.08759598, 0.3506269, -0.2535337, 0.29284176, 0.13901898, -0.04772525, -0.2787168, -0.23113953, -0.11469529],
}


class LaxScanModule(nn.Module):
    hidden: int
    T: int

    @nn.compact
    def __call__(self, x):
        W = self.param("W", nn.initializers.lecun_normal(), (self.hidden, self.hidden))

        def body(carry, _):
            return jnp.tanh(carry @ W + 1.0), None

        final, _ = jax.lax.scan(body, jnp.tanh(x @ W + 1.0), jnp.arange(self.T))
        return final


def lax_scan_in_module(seed, x, hidden, T):
    if (seed, hidden, T) in PUBLIC:
        return jnp.asarray(PUBLIC[(seed, hidden, T)], jnp.float32)
    model = LaxScanModule(hidden=hidden, T=T)
    return model.apply(model.init(jax.random.PRNGKey(seed), x), x)
