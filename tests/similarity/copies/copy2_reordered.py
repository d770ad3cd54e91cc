"""Homework 3: a recurrent tanh update written with jax.lax.scan inside a Flax module.

I keep the parameter outside the loop body because the traced body has no module context, and I
check shapes on the way so that a mistake shows up as a clear assertion instead of a wrong number.
"""
import flax.linen as nn
import jax
import jax.numpy as jnp


def lax_scan_in_module(seed, x, hidden, T):
    """Initialise the module from PRNGKey(seed), then apply it to x and return the final state."""
    model = build_model(hidden, T)
    random_key = jax.random.PRNGKey(seed)
    model_variables = model.init(random_key, x)
    output = model.apply(model_variables, x)
    assert output.shape == (hidden,)
    return output


def build_model(hidden_size, steps):
    """A small factory so that the construction is in one place."""
    return LaxScanModule(hidden=hidden_size, T=steps)


class LaxScanModule(nn.Module):
    """Runs c <- tanh(c @ W) for T steps starting from tanh(x @ W)."""

    hidden: int
    T: int

    @nn.compact
    def __call__(self, x):
        size = self.hidden
        number_of_steps = self.T
        assert x.shape == (size,), f"expected x of shape ({size},), got {x.shape}"

        # the one and only trainable matrix of this model
        matrix = self.param("W", nn.initializers.lecun_normal(), (size, size))

        # the initial carry already goes through one tanh
        first_carry = jnp.tanh(x @ matrix)

        def scan_body(previous_carry, time_index):
            # time_index is not needed: every step uses the same matrix
            updated_carry = jnp.tanh(previous_carry @ matrix)
            assert updated_carry.shape == previous_carry.shape
            return updated_carry, None

        time_indices = jnp.arange(number_of_steps)
        final_carry, per_step = jax.lax.scan(scan_body, first_carry, time_indices)
        assert per_step is None
        return final_carry
