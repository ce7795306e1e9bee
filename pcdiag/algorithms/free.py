"""What inference moves, a declared part (`FreeVariables`): the states x_1..x_{L-1}
(`STATES`, pc) or the errors e_1..e_{L-1} (`ERRORS`, epc: x_l = mu_l(x_{l-1}) + e_l;
Goemaere et al. 2025, "Error optimization: overcoming exponential signal decay in deep
predictive coding networks")."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import jax
import jax.numpy as jnp

from pcdiag.algorithms.initialise import Variables
from pcdiag.nets.base import Net, Params


def states_from_errors(params: Params, mu1: jax.Array, errors: Variables, net: Net) -> Variables:
    """ePC's states: x_l = mu_l(x_{l-1}) + e_l, computed upwards from the clamped input."""
    states, x = [], mu1 + errors[0] if errors else mu1
    for layer in range(2, len(params)):
        states.append(x)
        x = net.predict(params, layer, x) + errors[layer - 1]
    if errors:
        states.append(x)
    return tuple(states)


@dataclass(frozen=True)
class FreeVariables:
    """What inference moves: where it starts (`initial`, from the initialised states), how
    it gives the states (`to_states`), and whether it is the states themselves (`is_states`:
    then dF/dz is the state gradient a local weight rule computes anyway)."""

    name: str  # "states" | "errors"
    initial: Callable[[Variables], Variables]
    to_states: Callable[[Params, jax.Array, Variables, Net], Variables]
    is_states: bool = False


STATES = FreeVariables("states", lambda states0: states0,
                       lambda params, mu1, z, net: z, is_states=True)
ERRORS = FreeVariables("errors", lambda states0: jax.tree_util.tree_map(jnp.zeros_like, states0),
                       states_from_errors)


@functools.cache
def with_input(free: FreeVariables) -> FreeVariables:
    """`free` with the input node x_0 as one more free variable, first (generation's latent,
    moved as itself): z = (x_0, *z') and the states (x_0, *free.to_states(z')), node 1's
    prediction computed from the current x_0."""

    def initial(states0: Variables) -> Variables:
        return (states0[0], *free.initial(states0[1:]))

    def to_states(params: Params, mu1: jax.Array, z: Variables, net: Net) -> Variables:
        return (z[0], *free.to_states(params, net.predict(params, 1, z[0]), z[1:], net))

    return FreeVariables(f"input+{free.name}", initial, to_states, free.is_states)
