"""The end-of-epoch evaluation of each task (pcdiag.tasks): one sum per chunk of rows,
added up and divided on the host, so a run's score is bit-equal alone or in a vmapped sweep.

classification: how many rows the feedforward prediction classifies right; generation: the
squared error of each row's reconstruction summed over its pixels (pcdiag.algorithms.
reconstruct), divided by rows x pixels on the host (the per-pixel MSE, PCX's measure).
Padding rows carry the label -1 and count for nothing.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from pcdiag.algorithms.reconstruct import reconstruct


def correct_counts(prog, hyper, params, images: jax.Array, labels: jax.Array) -> jax.Array:
    """Per chunk, how many rows the feedforward prediction classifies right."""

    def correct(pair):
        x, y = pair
        return jnp.sum(jnp.argmax(prog.net.forward(params, x)[-1], axis=-1) == y)

    return jax.lax.map(correct, (images, labels))


def squared_errors(prog, hyper, params, images: jax.Array, labels: jax.Array) -> jax.Array:
    """Per chunk ((chunks, rows, ...) images), the sum over its real rows and pixels of
    (x_hat - x)^2."""

    def chunk(pair):
        x, y = pair
        x_hat = reconstruct(prog, hyper, params, x)
        error = jnp.sum((x_hat - x.reshape(x_hat.shape)) ** 2,
                        axis=tuple(range(1, x_hat.ndim)))
        return jnp.sum(jnp.where(y >= 0, error, 0))

    return jax.lax.map(chunk, (images, labels))


#: Each task's evaluation ``(prog, hyper, params, images, labels) -> (chunks,)`` sums.
EVALUATIONS = {"classification": correct_counts, "generation": squared_errors}


def mean_image_mse(train_images: np.ndarray, test_images: np.ndarray) -> float:
    """Per-pixel MSE on `test_images` of the mean training image predicted for each (in
    float64: the scale generation's test_mse is read against)."""
    mean = np.asarray(train_images, np.float64).mean(axis=0)
    return float(np.mean((np.asarray(test_images, np.float64) - mean) ** 2))
