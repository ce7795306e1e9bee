"""Reconstruction where the input node is free (generation): the latent of each image
inferred with the weights fixed, and the decoder's feedforward output from it (PCX's
generate_on_batch: T state steps from 0 with the training's state optimizer, no noise)."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from pcdiag.algorithms.base import energies
from pcdiag.algorithms.infer import infer


def infer_latent(prog, hyper, params, target: jax.Array) -> jax.Array:
    """The latent x_0 inference reaches for images `target` (shaped as the output node)
    with the weights `params` fixed: T steps of the state optimizer from every free node
    at 0 (the algorithm's free variables: states, or errors for epc)."""
    from pcdiag.algorithms import algorithm_for  # the registry imports this module's peers

    algorithm, net, size = algorithm_for(prog), prog.net, target.shape[0]
    x0 = jnp.zeros((size, *net.input_shape), target.dtype)
    mu1 = net.predict(params, 1, x0)
    free = algorithm.free

    def energy_fn(z):
        per_layer = energies(prog, params, None, free.to_states(params, mu1, z, net), target)
        return jnp.sum(per_layer), per_layer

    z0 = free.initial(algorithm.init(params, mu1, net))
    z, _, _ = infer(energy_fn, z0, hyper.gamma, prog, False, size)
    return free.to_states(params, mu1, z, net)[0]


def reconstruct(prog, hyper, params, images: jax.Array) -> jax.Array:
    """Reconstructions of `images` (a batch as the data arrive), shaped as the output node:
    the decoder's output from the inferred latent, or for bp (the autoencoder, input
    clamped) its feedforward output."""
    target = images.reshape(images.shape[0], *prog.net.node_shapes[-1])
    if not prog.input_free:
        return prog.net.forward(params, images)[-1]
    return prog.net.forward(params, infer_latent(prog, hyper, params, target))[-1]
