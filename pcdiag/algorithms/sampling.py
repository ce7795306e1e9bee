"""Sampling images from a trained generative PCN, Monte Carlo PC style (Oliviers, Bogacz &
Meulemans 2024; PCX v0.6.1, examples/s4_2_generative_mode/generation_mcpc/mcpc_mnist.py).

PCX's MCPC model gives its top node a Gaussian prior (a clamped zero input predicts its
mean) and generates by unclamping the output node and running long noisy inference; the
sample is the output's prediction. pcdiag's decoder (pcdiag.tasks.generation) has no such
prior: its latent x_0 carries no energy, so a trained decoder says nothing about where
latents lie. `latent_prior` supplies one ex post, a Gaussian fitted to the latents inference
gives training images; `sample` draws latents from it and runs Langevin dynamics on

    F(x_0, ..., x_L) = 1/2 (x_0 - m)^T S^-1 (x_0 - m) + sum_l pi_l 1/2 ||x_l - mu_l||^2

(the PC energies of x_1..x_L, the output x_L free, squared-error output only), each step
x <- x - gamma_s dF_i/dx + sqrt(2 gamma_s) * noise * xi: plain (overdamped) Langevin on the
per-sample energy at temperature noise^2, whatever state optimizer training used; gamma_s is
the per-sample step of the config (gamma, or gamma / batch_size under "batch_mean"). x_0's
step is preconditioned by S (`langevin_chain` says why); the stationary density is the same.

The chain samples the model's joint, in which every hidden node is Gaussian with unit
variance about its prediction: a decoder trained with plain PC inference (the MAP of that
joint) gives noisy images at temperature 1; one trained with MCPC (`mcpc_noise` = 1) was
fitted to that joint, and its chain's images are garments (its inferred latents collapse,
so its steps=0 images are one image). tests/test_sampling.py measures both.
"""

from __future__ import annotations

from functools import cache, partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from pcdiag.algorithms.reconstruct import infer_latent
from pcdiag.data.registry import DATASETS
from pcdiag.energy import layer_energies
from pcdiag.engine.compile_options import jit
from pcdiag.errors import BadInputError, ConfigError


class LatentPrior(NamedTuple):
    """A Gaussian over the latent x_0: mean (d,) and covariance (d, d), float64."""

    mean: np.ndarray
    cov: np.ndarray


def _check_decoder(prog) -> None:
    if not prog.input_free:
        raise ConfigError(f"task={prog.task!r} with algorithm={prog.algorithm!r}: sampling "
                          "needs a decoder whose latent x_0 is inferred; train one with "
                          "task='generation' and a PC algorithm (not bp)")
    if prog.output_energy != "se":
        raise ConfigError(f"output_energy={prog.output_energy!r}: sampling frees the output "
                          "node, which needs a Gaussian (squared-error) output energy; train "
                          "with output_energy='se'")


def latent_prior(prog, hyper, params, images) -> LatentPrior:
    """A Gaussian fitted (float64) to the latents `pcdiag.algorithms.reconstruct.
    infer_latent` gives for `images` (training images as the data arrive, unit scale):
    their mean and covariance (numpy's, ``np.cov`` with ddof=1). An ex-post density
    estimate: the decoder has no prior of its own (its x_0 has no energy), so this is what
    the training images' latents look like, not what the model learned about them."""

    _check_decoder(prog)
    images = jnp.asarray(images)
    if images.shape[0] < 2:
        raise BadInputError(f"images: {images.shape[0]} of them; a covariance needs at "
                            "least 2 (pass a few thousand training images)")
    target = images.reshape(images.shape[0], *prog.net.node_shapes[-1])
    latents = np.asarray(jit(partial(infer_latent, prog))(hyper, params, target))
    latents = latents.reshape(len(latents), -1).astype(np.float64)
    return LatentPrior(latents.mean(axis=0), np.atleast_2d(np.cov(latents, rowvar=False)))


def state_step(prog, hyper) -> jax.Array:
    """gamma_s, the step each sample's states took in training inference: gamma, or
    gamma / batch_size under the "batch_mean" convention."""
    gamma = jnp.asarray(hyper.gamma, jnp.float32)
    return gamma if prog.gamma_convention == "per_sample" else gamma / prog.batch_size


def prior_factors(prior) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(mean, Cholesky factor, precision matrix) of `prior`, in float64 then float32."""
    mean = np.asarray(prior[0], np.float64).reshape(-1)
    cov = np.atleast_2d(np.asarray(prior[1], np.float64))
    if cov.shape != (mean.size, mean.size) or not np.all(np.isfinite(cov)):
        raise BadInputError(f"prior: covariance of shape {cov.shape} for a mean of {mean.size} "
                            "units; pass latent_prior's (mean, cov), finite, cov (d, d)")
    try:
        chol = np.linalg.cholesky(cov)
    except np.linalg.LinAlgError:
        raise BadInputError("prior: the covariance is not positive definite (fewer images "
                            "than latent units, or a latent that never moves); fit "
                            "latent_prior to more images") from None
    precision = np.linalg.inv(cov)
    return tuple(a.astype(np.float32) for a in (mean, chol, (precision + precision.T) / 2))


def pc_energy(prog, params, states, prior) -> jax.Array:
    """Per-sample total energy (batch,) of free nodes `states` = (x_0, ..., x_L): the
    prior's on x_0 (`prior` = (mean, precision matrix), float32) plus the PC energies of
    x_1..x_L (the output x_L free, squared error), precision-weighted as in training."""

    mean, precision = prior
    x0 = states[0].reshape(states[0].shape[0], -1) - mean
    prior_energy = 0.5 * jnp.sum((x0 @ precision) * x0, axis=-1)
    per_layer = layer_energies(params, states[0], states[1:-1], states[-1], prog.net,
                               prog.output_energy, precision=prog.precision)
    return prior_energy + jnp.sum(per_layer, axis=-1)


def langevin_chain(prog, hyper, params, x0, prior, steps: int, key, noise):
    """`steps` Langevin steps (the module docstring) over every node from x_0 = `x0` and
    x_1..x_L at their feedforward predictions (F is then the prior's energy alone).
    `prior` = (mean, Cholesky factor C, precision matrix), float32 (`prior_factors`).
    Returns the final states (x_0, ..., x_L) and the batch-mean total energy F before each
    step and after the last, (steps + 1,).

    x_0's steps are preconditioned by the prior's covariance S = C C^T: x_0 <- x_0 -
    gamma_s S dF/dx_0 + sqrt(2 gamma_s) noise C xi (Langevin with a constant preconditioner
    has the same stationary density). Inferred latents are small and nearly degenerate
    (S's eigenvalues span ~1e-8..1e-2 for PCX_DECODER), so the prior's curvature S^-1
    would make a plain step of gamma_s ~ 0.01 diverge; preconditioned, the prior's pull is
    gamma_s (x_0 - m), stable."""
    return _compiled_chain()(prog, hyper, params, x0, prior, steps, key, noise)


@cache
def _compiled_chain():
    """`_chain` jit-compiled with pcdiag's compiler options, once per (prog, steps) (built on
    first use: the options depend on the backend)."""
    return jit(_chain, static_argnums=(0, 5))


def _chain(prog, hyper, params, x0, prior, steps: int, key, noise):
    """langevin_chain's computation (uncompiled)."""
    step = state_step(prog, hyper)
    scale = jnp.sqrt(2 * step) * noise
    mean, chol, precision = prior
    states = (x0, *prog.net.forward(params, x0))

    def total(z):
        return jnp.sum(pc_energy(prog, params, z, (mean, precision)))

    def times_chol(v):  # C v for each row v of x_0's flattened units
        return (v.reshape(v.shape[0], -1) @ chol.T).reshape(v.shape)

    def update(z, t):
        f, grads = jax.value_and_grad(total)(z)
        keys = jax.random.split(jax.random.fold_in(key, t), len(z))
        xi = [jax.random.normal(k, v.shape, v.dtype) for v, k in zip(z, keys)]
        g0 = grads[0].reshape(grads[0].shape[0], -1) @ chol  # C^T g, then C: S g
        grads = (times_chol(g0.reshape(grads[0].shape)), *grads[1:])
        xi[0] = times_chol(xi[0])
        z = tuple(v - step * g + scale * e for v, g, e in zip(z, grads, xi))
        return z, f

    states, energies = jax.lax.scan(update, states, jnp.arange(steps))
    energies = jnp.append(energies, total(states)) / x0.shape[0]
    return states, energies


def sample(prog, hyper, params, n: int, key, *, prior, steps: int,
           noise: float = 1.0) -> jax.Array:
    """`n` images from the decoder `params` (one run's: `Trained.run(i)`; `hyper` that
    run's `Hyper.from_config`), shaped as the data set's images, in the data's scale (not
    clipped): latents drawn from `prior` (`latent_prior`'s (mean, cov)), then `steps`
    Langevin steps (MCPC, the module docstring) at temperature noise^2 with the output node
    free; the sample is the output's prediction mu_L at the end. `steps=0` is plain
    ancestral decoding of the prior's latents; `noise=0` is gradient descent on F."""
    _check_decoder(prog)
    if steps < 0 or n < 1:
        raise BadInputError(f"steps={steps}, n={n}: need steps >= 0 and n >= 1")
    mean, chol, precision = prior_factors(prior)
    if mean.size != int(np.prod(prog.net.input_shape)):
        raise BadInputError(f"prior: {mean.size} latent units but the decoder's latent has "
                            f"shape {tuple(prog.net.input_shape)}; fit latent_prior to this "
                            "decoder")
    draw, chain = jax.random.split(key)
    eps = jax.random.normal(draw, (n, mean.size), jnp.float32)
    x0 = (mean + eps @ chol.T).reshape(n, *prog.net.input_shape)
    states, _ = langevin_chain(prog, hyper, params, x0, (mean, chol, precision), steps, chain,
                               jnp.float32(noise))
    mu = prog.net.predict(params, prog.net.depth, states[-2])
    return mu.reshape(n, *image_shape(mu[0].size))


def image_shape(units: int) -> tuple[int, ...]:
    """(H, W, C) of the registered data sets' images with `units` numbers (the Program does
    not name its data set; MNIST and Fashion-MNIST share theirs); (units,) if none has."""

    shapes = {d.input_shape for d in DATASETS.values() if int(np.prod(d.input_shape)) == units}
    return shapes.pop() if len(shapes) == 1 else (units,)
