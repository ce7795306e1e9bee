"""Gradient scalings as optax transforms (stateless ``optax.GradientTransformation``s), each
doing exactly the float operations it names, leaf by leaf.

Where they apply: `optimizers.state_transform` puts the gamma convention in front of the
state optimizer; `optimizers.weight_update` puts a weight rule's own scaling (epc's
local_scaled) and then nudging's 1 / beta in front of the weight optimizer. Dividing by c
and multiplying by 1 / c differ in float32, so each transform keeps its operation.
"""

from __future__ import annotations

import jax
import optax


def divide_by(divisor) -> optax.GradientTransformation:
    """updates / divisor (a Python number stays weakly typed, as in ``g / batch``)."""
    return optax.stateless(
        lambda updates, params: jax.tree_util.tree_map(lambda g: g / divisor, updates))


def multiply_by(factor, cast: bool = False) -> optax.GradientTransformation:
    """updates * factor (with `cast`, the factor first cast to each leaf's dtype)."""
    def times(g):
        return g * (factor.astype(g.dtype) if cast else factor)

    return optax.stateless(lambda updates, params: jax.tree_util.tree_map(times, updates))


def gamma_convention(convention: str, batch_size: int) -> optax.GradientTransformation:
    """Gradients of the summed per-sample energies -> what the state optimizer receives:
    unchanged ("per_sample") or divided by the batch size ("batch_mean")."""
    if convention == "per_sample":
        return optax.identity()
    return divide_by(batch_size)
