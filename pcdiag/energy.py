"""Per-sample, per-layer energies of a PCN over any network of the contract
(`pcdiag.nets.base.Net`). The total energy F is their sum over layers.

E_l = 1/2 ||x_l - mu_l||^2 for hidden nodes and for a squared-error output node, summed over
all of the node's non-batch axes (units, or H x W x C of a feature map);
E_L = -y . log_softmax(mu_L) for a cross-entropy output node, with x_L clamped to y.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from pcdiag.nets.base import Net, Params, node_axes


def squared_error(x: jax.Array, mu: jax.Array) -> jax.Array:
    return 0.5 * jnp.sum((x - mu) ** 2, axis=node_axes(x))


def output_loss(mu_out: jax.Array, y: jax.Array, output_energy: str) -> jax.Array:
    """Per-sample energy of the output node clamped to the one-hot target y."""
    if output_energy == "ce":
        return -jnp.sum(y * jax.nn.log_softmax(mu_out, axis=-1), axis=-1)
    return squared_error(y, mu_out)


def layer_energies(
    params: Params,
    x0: jax.Array,
    states: tuple[jax.Array, ...],
    y: jax.Array,
    net: Net,
    output_energy: str,
    mu1: jax.Array | None = None,
    precision: tuple[float, ...] | None = None,
    batch_sum: bool = False,
) -> jax.Array:
    """Per-sample energies, shape (batch, L); column l-1 is layer l. With `batch_sum`, their
    sums over the batch, shape (L,): one reduction per layer, what the trainers record.

    `states` are the free nodes (x_1, ..., x_{L-1}); the output node is clamped to `y`.
    `mu1`, the prediction of node 1 from the clamped input, may be passed in precomputed:
    it does not depend on the free states, so the inference loop computes it once.
    `precision` (one weight per layer) multiplies each E_l: F = sum_l pi_l E_l.
    """
    depth = len(params)
    if mu1 is None:
        mu1 = net.predict(params, 1, x0)
    nodes = (*states, y)
    energies = []
    for layer in range(1, depth + 1):
        mu = mu1 if layer == 1 else net.predict(params, layer, nodes[layer - 2])
        if layer == depth:
            energy = output_loss(mu, y, output_energy)
        else:
            energy = squared_error(nodes[layer - 1], mu)
        # per sample, then over the batch: faster on a CPU than one reduction over both axes
        energies.append(jnp.sum(energy) if batch_sum else energy)
    energies = jnp.stack(energies, axis=-1)
    return energies if precision is None else energies * jnp.asarray(precision, energies.dtype)
