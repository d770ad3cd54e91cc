# grade: all
"""A correct solution that asks XLA for two host devices before importing JAX and returns its result
sharded over them (a NamedSharding on a two-device mesh; replicated where H is odd). Its exported
program is lowered for two devices: the executor runs it on two host devices, so the values and the
structure are the reference's and the verdict is AC."""
import os

os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=2"

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import flax.linen as nn  # noqa: E402
from jax.sharding import Mesh, NamedSharding, PartitionSpec  # noqa: E402


class LaxScanModule(nn.Module):
    hidden: int
    T: int

    @nn.compact
    def __call__(self, x):
        W = self.param("W", nn.initializers.lecun_normal(), (self.hidden, self.hidden))

        def body(carry, _):
            return jnp.tanh(carry @ W), None

        final, _ = jax.lax.scan(body, jnp.tanh(x @ W), None, length=self.T)
        return final


def lax_scan_in_module(seed, x, hidden, T):
    model = LaxScanModule(hidden=hidden, T=T)
    variables = model.init(jax.random.PRNGKey(seed), x)
    out = model.apply(variables, x)
    mesh = Mesh(jax.devices()[:2], ("d",))
    spec = PartitionSpec("d") if hidden % 2 == 0 else PartitionSpec()
    return jax.lax.with_sharding_constraint(out, NamedSharding(mesh, spec))
