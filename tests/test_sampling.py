"""Sampling a trained decoder, Monte Carlo PC style (pcdiag.algorithms.sampling), and its plots
(pcdiag.plot.generative), on real Fashion-MNIST. Two small decoders are trained for the
module, PCX_DECODER on 6,000 training images for 3 epochs at batch 50 (360 weight steps):
one with plain PC inference (~10 s on a CPU; test MSE ~0.038, mean image ~0.09), one with
Monte Carlo PC inference (mcpc_noise=1, ~30 s), whose inferred latents collapse (test MSE
at the mean image's) and whose images come from the Langevin chain."""

import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np
import pytest

import pcdiag
from pcdiag.algorithms import Hyper, Program, sampling
from pcdiag.algorithms.reconstruct import infer_latent, reconstruct
from pcdiag.data import load
from pcdiag.engine.compile_options import jit
from pcdiag.errors import BadInputError, ConfigError
from pcdiag.plot import generative
from pcdiag.tasks import PCX_DECODER, quality
from tests._tiny import DATA

DATASET = "fashion-mnist"
TRAIN = 6000
DECODER = {**PCX_DECODER, "train_limit": TRAIN, "test_limit": 1000, "epochs": 3,
           "batch_size": 50, "data_dir": str(DATA)}
N = 1000  # samples scored
MCPC_STEPS = 200


def trained(path, **changes):
    pcdiag.train(pcdiag.Config(**{**DECODER, **changes}), checkpoint_dir=path)
    run = pcdiag.load_params(path)
    return Program.from_config(run.config), Hyper.from_config(run.config), run.run(0)


@pytest.fixture(scope="module")
def decoder(tmp_path_factory):
    return trained(tmp_path_factory.mktemp("decoder"))


@pytest.fixture(scope="module")
def mcpc_decoder(tmp_path_factory):
    return trained(tmp_path_factory.mktemp("mcpc-decoder"), mcpc_noise=1.0)


@pytest.fixture(scope="module")
def data():
    return load(DATASET, DATA, train_limit=TRAIN, normalisation="unit")


@pytest.fixture(scope="module")
def prior(decoder, data):
    return sampling.latent_prior(*decoder, data[0].images)


@pytest.fixture(scope="module")
def mcpc_prior(mcpc_decoder, data):
    return sampling.latent_prior(*mcpc_decoder, data[0].images)


@pytest.fixture(scope="module")
def classifier(tmp_path_factory):
    return quality.train_classifier(DATASET, DATA, cache=tmp_path_factory.mktemp("clf"),
                                    seed=0, epochs=1, train_limit=10_000)


def chain(decoder, prior, steps, noise, n=100, seed=0):
    """The chain's states and batch-mean F from n prior draws."""
    prog, hyper, params = decoder
    mean, chol, precision = sampling.prior_factors(prior)
    eps = np.random.default_rng(seed).standard_normal((n, mean.size)).astype(np.float32)
    return sampling.langevin_chain(prog, hyper, params, mean + eps @ chol.T,
                                   (mean, chol, precision), steps, jax.random.PRNGKey(seed),
                                   jnp.float32(noise))


def test_prior_is_numpys_fit(decoder, prior, data):
    """The prior is numpy's float64 mean and covariance (ddof 1) of the latents inference
    reaches for the training images, the same float32 latents (the same program)."""
    prog, hyper, params = decoder
    target = jnp.asarray(data[0].images).reshape(TRAIN, -1)
    latents = np.asarray(jit(lambda h, p, t: infer_latent(prog, h, p, t))(
        hyper, params, target), np.float64)
    assert prior.mean.dtype == prior.cov.dtype == np.float64
    np.testing.assert_allclose(prior.mean, latents.mean(0), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(prior.cov, np.cov(latents, rowvar=False), rtol=1e-10,
                               atol=1e-15)
    assert prior.cov.shape == (PCX_DECODER["latent_size"],) * 2
    assert np.linalg.eigvalsh(prior.cov).min() > 0  # positive definite: it can be sampled


def test_noise_free_chain_descends(decoder, prior):
    """noise=0: the chain is (preconditioned) gradient descent on F, so F falls at every
    step. From x_1..x_L at their predictions, F_0 is the prior's energy of the draws,
    chi-square / 2 with d = 64 degrees of freedom: mean 32, std 8 per draw, 0.8 for the mean
    of 100. The prior's preconditioned pull is gamma_s (x_0 - m), so x_0 - m shrinks by
    (1 - gamma_s) a step and F by ~(1 - gamma_s)^2 (the PC energies stay small: the nodes
    follow their predictions); the decrease per step is never a float32 rounding."""
    prog, hyper, _ = decoder
    _, energies = chain(decoder, prior, MCPC_STEPS, 0.0)
    f = np.asarray(energies, np.float64)
    assert abs(f[0] - 32) < 4 * 0.8
    assert np.all(np.diff(f) < 0)
    gamma = float(sampling.state_step(prog, hyper))
    expected = f[0] * (1 - gamma) ** (2 * MCPC_STEPS)
    assert expected / 2 < f[-1] < 2 * expected


def test_noisy_chain_is_finite(decoder, prior):
    """noise=1: Langevin at temperature 1. The latent stays near the prior's spread (each
    unit's variance at most the prior's largest, its likelihood only narrows it); each
    hidden node, Gaussian of unit variance about its prediction, settles at a variance of
    order 1 (not growing with the steps); samples are finite."""
    states, energies = chain(decoder, prior, MCPC_STEPS, 1.0)
    assert np.all(np.isfinite(energies))
    latent = np.asarray(states[0], np.float64)
    assert latent.var(0).max() < np.linalg.eigvalsh(prior.cov).max()
    for x in states[1:]:
        assert np.all(np.isfinite(x)) and 0.1 < float(np.var(x)) < 10
    images = sampling.sample(*decoder, 16, jax.random.PRNGKey(1), prior=prior,
                             steps=MCPC_STEPS)
    assert images.shape == (16, 28, 28, 1) and np.all(np.isfinite(images))


def test_steps_zero_is_ancestral_decoding(decoder, prior):
    """steps=0: the decoder's feedforward output of the prior's draws, bit for bit."""
    prog, hyper, params = decoder
    key = jax.random.PRNGKey(2)
    images = sampling.sample(prog, hyper, params, 8, key, prior=prior, steps=0)
    mean, chol, _ = sampling.prior_factors(prior)
    eps = jax.random.normal(jax.random.split(key)[0], (8, mean.size), jnp.float32)
    decoded = prog.net.forward(params, mean + eps @ chol.T)[-1]
    np.testing.assert_array_equal(images.reshape(8, -1), decoded)


def test_sample_refuses(decoder, prior):
    prog, hyper, params = decoder
    with pytest.raises(BadInputError, match="prior: 3 latent units"):
        sampling.sample(prog, hyper, params, 2, jax.random.PRNGKey(0),
                        prior=(np.zeros(3), np.eye(3)), steps=1)
    with pytest.raises(BadInputError, match="not positive definite"):
        sampling.sample(prog, hyper, params, 2, jax.random.PRNGKey(0),
                        prior=(np.zeros(64), np.zeros((64, 64))), steps=1)
    with pytest.raises(ConfigError, match="task='classification'.*task='generation'"):
        sampling.sample(Program.from_config(pcdiag.Config()), hyper, params, 2,
                        jax.random.PRNGKey(0), prior=prior, steps=1)


@pytest.mark.slow
def test_plots_draw(decoder, mcpc_decoder, mcpc_prior, data, tmp_path):
    """Both plots show the pixels on the fixed grey range [0, 1]; values outside it are
    clipped in the picture only (the arrays passed are not changed). Samples: the MCPC
    decoder's chain; reconstructions: the plain decoder's."""
    images = np.asarray(sampling.sample(*mcpc_decoder, 64, jax.random.PRNGKey(3),
                                        prior=mcpc_prior, steps=MCPC_STEPS))
    assert images.min() < 0 or images.max() > 1  # the chain's output leaves [0, 1]
    prog, hyper, params = decoder
    before = images.copy()
    ax = generative.sample_grid(images, rows=8)
    shown = ax.images[0]
    assert shown.get_clim() == (0.0, 1.0) and shown.get_cmap().name == "gray"
    canvas = np.asarray(shown.get_array())
    assert canvas.shape == (8 * 29 - 1, 8 * 29 - 1)
    np.testing.assert_array_equal(canvas[:28, :28], np.clip(images[0, ..., 0], 0, 1))
    np.testing.assert_array_equal(images, before)
    ax.figure.savefig(tmp_path / "samples.png", dpi=120)
    plt.close(ax.figure)

    originals = data[1].images[:10]
    rebuilt = np.asarray(reconstruct(prog, hyper, params, originals)).reshape(originals.shape)
    ax = generative.reconstructions(originals, rebuilt)
    canvas = np.asarray(ax.images[0].get_array())
    np.testing.assert_array_equal(canvas[:28, :28], originals[0, ..., 0])
    np.testing.assert_array_equal(canvas[29:, :28], np.clip(rebuilt[0, ..., 0], 0, 1))
    ax.figure.savefig(tmp_path / "reconstructions.png", dpi=120)
    plt.close(ax.figure)
    with pytest.raises(BadInputError, match="one reconstruction per original"):
        generative.reconstructions(originals, rebuilt[:3])


@pytest.mark.slow
def test_mcpc_samples_beat_noise(mcpc_decoder, mcpc_prior, classifier):
    """The MCPC-trained decoder's latents collapse (its inference is noisy, the latent has no
    energy to hold it), so its ancestral samples (steps=0) are one image, the mean's
    floor; the Langevin chain (200 steps at temperature 1) generates: its samples lie nearer
    the training images in the classifier's feature space than per-pixel Gaussian noise with
    the data's pixel means and stds (sample_quality's "noise" reference) and than its
    ancestral samples. Measured (this module's settings): Frechet distance ~85 for the chain,
    ~333 ancestral, ~235 noise, ~1 real test images."""
    scores = {}
    for steps in (0, MCPC_STEPS):
        images = sampling.sample(*mcpc_decoder, N, jax.random.PRNGKey(4), prior=mcpc_prior,
                                 steps=steps)
        scores[steps] = quality.sample_quality(np.asarray(images), DATASET, DATA,
                                               classifier=classifier, reference_limit=10_000)
    chain = scores[MCPC_STEPS]["samples"]["frechet_distance"]
    assert np.isfinite(chain)
    assert chain < scores[MCPC_STEPS]["noise"]["frechet_distance"]
    assert chain < scores[0]["samples"]["frechet_distance"]
