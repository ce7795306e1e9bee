"""State initialisation parts: where a step's states x_1..x_{L-1} start before inference.

A part is a function ``(params, mu1, net) -> states`` (mu1: node 1's prediction from the
clamped input); an `Algorithm` names one as its ``init``. Another initialiser (for example an
amortised one) is another such function.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp

from pcdiag.nets.base import Net, Params

Variables = tuple[jax.Array, ...]
StateInit = Callable[[Params, jax.Array, Net], Variables]


def forward_init(params: Params, mu1: jax.Array, net: Net) -> Variables:
    """Free nodes x_1..x_{L-1} set to their feedforward predictions (hidden E_l become 0)."""
    states, x = [], mu1
    for layer in range(2, len(params) + 1):
        states.append(x)
        x = net.predict(params, layer, x)
    return tuple(states)


def zero_init(params: Params, mu1: jax.Array, net: Net) -> Variables:
    """Every free node at 0, the input node x_0 included and first (generation's latent;
    PCX's "to_zero" init of its decoders); `mu1` gives only the batch size."""
    size = mu1.shape[0]
    shapes = (net.input_shape, *net.node_shapes[:-1])
    return tuple(jnp.zeros((size, *shape), mu1.dtype) for shape in shapes)
