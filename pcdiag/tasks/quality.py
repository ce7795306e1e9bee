"""Sample quality of generated images, scored by a classifier pcdiag trains itself.

PCX scores its MCPC samples of MNIST with an Inception Score and an FID computed by an
MNIST-trained ResNet-18 in place of InceptionV3 (``examples/s4_2_generative_mode/
generation_mcpc``: ``inception_score/ms`` and ``pytorch_fid``). No network weights can be
downloaded here, so this module does the same in kind with a classifier it trains on the
data set's own training images (backprop, seconds on a CPU) and caches:

- :func:`classifier_score`: ``exp(E_x KL(p(y|x) || p(y)))`` with our classifier's p(y|x)
  (the Inception Score's formula), between 1 (every image gets the same class
  distribution) and the number of classes (each image one sure class, the classes equally
  often);
- :func:`frechet_distance`: the squared Frechet distance between Gaussian fits of our
  classifier's penultimate features of two image sets (FID's formula);
- :func:`sample_quality`: both for the samples, and for an equal number of real test images
  (what a good generator approaches), the mean training image repeated and per-pixel
  Gaussian noise (floors), so the numbers have a scale.

These numbers are NOT comparable to the Inception Score or FID of papers (nor to PCX's):
the network, its feature space and its dimension differ. Compare them only with each other,
with the same data set, classifier settings and number of images.

Images are in the "unit" scale, x / 255 (pixels in [0, 1]), as generative runs use, shaped
(N, H, W, C), (N, H, W) or (N, H * W * C); they are scored as they are (no clipping);
non-finite images give NaN scores.
"""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax

from pcdiag.data import load
from pcdiag.data.registry import DATASETS, DEFAULT
from pcdiag.data.source import cache_root
from pcdiag.engine.compile_options import jit
from pcdiag.errors import BadInputError
from pcdiag.nets.mlp import MLP, init_params

#: The classifier: an MLP, 256 ReLU units then 64 (the features), then the class logits.
HIDDEN = (256, 64)
ACTIVATION = "relu"
LEARNING_RATE = 1e-3  # Adam
BATCH_SIZE = 128
EPOCHS = 3
#: Bumped when the training recipe changes, so an old cache file is not read.
RECIPE_VERSION = 1
#: Rows per compiled evaluation call (the last chunk is padded: one program per classifier).
CHUNK = 2000


@dataclass(frozen=True, eq=False)
class Classifier:
    """A trained classifier of `dataset`'s images in the unit scale. `test_accuracy` is its
    accuracy on the whole official test split; `settings` what it was trained with (the
    cache key)."""

    net: MLP
    params: tuple
    dataset: str
    test_accuracy: float
    settings: dict

    @property
    def classes(self) -> int:
        return self.net.sizes[-1]

    def logits(self, images) -> np.ndarray:
        """Class scores (N, classes), float32."""
        return self._evaluate(images)[1]

    def probabilities(self, images) -> np.ndarray:
        """p(y|x): (N, classes), float64 rows summing to 1 (a softmax of the float32
        logits taken in float64)."""
        return np.exp(log_softmax64(self.logits(images)))

    def features(self, images) -> np.ndarray:
        """The penultimate layer's activations (N, HIDDEN[-1]), float32: what
        :func:`frechet_distance` fits Gaussians to."""
        return self._evaluate(images)[0]

    def _evaluate(self, images) -> tuple[np.ndarray, np.ndarray]:
        x = self._flat(images)
        n = len(x)
        padded = np.zeros((-(-n // CHUNK) * CHUNK, x.shape[1]), np.float32)
        padded[:n] = x
        run = _evaluator(self.net)
        parts = [run(self.params, padded[i:i + CHUNK]) for i in range(0, len(padded), CHUNK)]
        features = np.concatenate([np.asarray(f) for f, _ in parts])[:n]
        logits = np.concatenate([np.asarray(g) for _, g in parts])[:n]
        return features, logits

    def _flat(self, images) -> np.ndarray:
        x = np.asarray(images, np.float32)
        size = self.net.sizes[0]
        shape = ", ".join(map(str, self.net.input_shape))
        if x.ndim < 2 or len(x) == 0 or x[0].size != size:
            raise BadInputError(
                f"images of shape {x.shape}: must be a non-empty batch of {self.dataset} "
                f"images with {size} values each, shaped (N, {shape}) or "
                f"(N, {size}); pass a batch of images in the unit scale x / 255.")
        return x.reshape(len(x), size)


def log_softmax64(logits) -> np.ndarray:
    """log p(y|x) in float64: logits minus their log-sum-exp (max subtracted first)."""
    z = np.asarray(logits, np.float64)
    z = z - z.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


_EVALUATORS: dict = {}


def _evaluator(net: MLP):
    """A jit-compiled (params, x) -> (features, logits), one per network."""
    if net not in _EVALUATORS:
        def run(params, x):
            nodes = net.forward(params, x)
            return nodes[-2], nodes[-1]

        _EVALUATORS[net] = jit(run)
    return _EVALUATORS[net]


# -- training --------------------------------------------------------------------------


def train_classifier(dataset: str = DEFAULT, data_dir=None, *, seed: int = 0,
                     epochs: int = EPOCHS, train_limit: int | None = None,
                     cache: bool | str | os.PathLike = True) -> Classifier:
    """A backprop-trained MLP classifier (:data:`HIDDEN`, ReLU, Adam at
    :data:`LEARNING_RATE`, batches of :data:`BATCH_SIZE`, cross-entropy) on `dataset`'s
    training images (the first `train_limit`, all when None) in the unit scale, from
    `seed`.

    An MLP rather than a conv net: an epoch of Fashion-MNIST takes about a second on a CPU,
    3 epochs reach ~87 % test accuracy (seed 0), and its 64 features keep the covariance of
    :func:`frechet_distance` well estimated from a few hundred images.

    `cache`: True keeps the parameters in ``<pcdiag cache>/quality/`` ($PCDIAG_CACHE, see
    :func:`pcdiag.data.cache_root`), a path keeps them in that folder, False trains
    every time. The file name hashes the data set, seed and every setting, so a second
    call with the same arguments loads the file instead of training; an unreadable file is
    trained again and replaced.
    """
    if dataset not in DATASETS:
        raise BadInputError(f"dataset={dataset!r}: must be one of {', '.join(DATASETS)}.")
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise BadInputError(f"epochs={epochs!r}: must be a positive int; pass e.g. 3.")
    info = DATASETS[dataset]
    net = MLP((int(np.prod(info.input_shape)), *HIDDEN, info.classes), ACTIVATION, "sp",
              False, tuple(info.input_shape))
    settings = {"dataset": dataset, "seed": int(seed), "epochs": epochs,
                "train_limit": train_limit, "sizes": list(net.sizes), "activation": ACTIVATION,
                "learning_rate": LEARNING_RATE, "batch_size": BATCH_SIZE,
                "normalisation": "unit", "recipe_version": RECIPE_VERSION}
    path = _cache_file(cache, settings)
    if path is not None and (found := _read(path, net, dataset, settings)) is not None:
        return found
    train, test = load(dataset, data_dir, train_limit=train_limit, normalisation="unit")
    params = _fit(net, train.images, train.labels, seed, epochs)
    classifier = Classifier(net, params, dataset, 0.0, settings)
    accuracy = float(np.mean(classifier.logits(test.images).argmax(1) == test.labels))
    classifier = Classifier(net, params, dataset, accuracy, settings)
    if path is not None:
        _write(path, classifier)
    return classifier


def _fit(net: MLP, images: np.ndarray, labels: np.ndarray, seed: int, epochs: int) -> tuple:
    """Adam on the mean cross-entropy, one jit-compiled scan per epoch over shuffled
    batches (the last incomplete batch of each shuffle is dropped)."""
    x = jnp.asarray(images.reshape(len(images), -1))
    y = jnp.asarray(labels)
    steps = len(x) // BATCH_SIZE
    if steps == 0:
        raise BadInputError(f"train_limit={len(x)}: must be at least {BATCH_SIZE} (one "
                            f"batch); pass a larger train_limit or None.")
    key, init_key = jax.random.split(jax.random.PRNGKey(seed))
    params = init_params(init_key, list(net.sizes), "sp")
    optimizer = optax.adam(LEARNING_RATE)

    def loss(p, xb, yb):
        logits = net.forward(p, xb)[-1]
        return optax.softmax_cross_entropy_with_integer_labels(logits, yb).mean()

    @jit
    def epoch(p, state, k, x, y):  # the data as arguments, not constants of the program
        order = jax.random.permutation(k, len(x))[:steps * BATCH_SIZE]

        def step(carry, rows):
            p, state = carry
            grads = jax.grad(loss)(p, x[rows], y[rows])
            updates, state = optimizer.update(grads, state, p)
            return (optax.apply_updates(p, updates), state), None

        (p, state), _ = jax.lax.scan(step, (p, state), order.reshape(steps, BATCH_SIZE))
        return p, state

    state = optimizer.init(params)
    for k in jax.random.split(key, epochs):
        params, state = epoch(params, state, k, x, y)
    return tuple((np.asarray(w), np.asarray(b)) for w, b in params)


def _cache_file(cache, settings: dict) -> Path | None:
    if cache is False:
        return None
    folder = cache_root() / "quality" if cache is True else Path(cache)
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]
    return folder / f"classifier-{settings['dataset']}-{digest}.npz"


def _read(path: Path, net: MLP, dataset: str, settings: dict) -> Classifier | None:
    try:
        with np.load(path) as f:
            if json.loads(str(f["settings"])) != settings:
                return None
            params = tuple((f[f"w{i}"], f[f"b{i}"]) for i in range(net.depth))
            accuracy = float(f["test_accuracy"])
    except (OSError, KeyError, ValueError, zipfile.BadZipFile):
        return None
    return Classifier(net, params, dataset, accuracy, settings)


def _write(path: Path, classifier: Classifier) -> None:
    """Atomic: a temporary file in the same folder, then a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = {f"{n}{i}": a for i, (w, b) in enumerate(classifier.params)
              for n, a in (("w", w), ("b", b))}
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as f:
        np.savez(f, settings=json.dumps(classifier.settings, sort_keys=True),
                 test_accuracy=classifier.test_accuracy, **arrays)
    os.replace(tmp, path)


# -- scores ----------------------------------------------------------------------------


def classifier_score(images, classifier: Classifier) -> float:
    """``exp(E_x KL(p(y|x) || p(y)))``, p(y) the mean of p(y|x) over `images`: the
    Inception Score's formula with our classifier, over the whole set at once (PCX averages
    it over 10 splits, which reads lower for small sets). Between 1 and the number of
    classes; equal to ``exp(H(p(y)) - E_x H(p(y|x)))``. NOT comparable to a paper's
    Inception Score.

    float64 from the float32 logits: log p(y|x) by log-sum-exp, log p(y) by log-sum-exp of
    the log p(y|x) over the images, so no probability is rounded to 0 before its log.
    """
    log_p = log_softmax64(classifier.logits(images))
    top = log_p.max(axis=0)
    log_marginal = top + np.log(np.exp(log_p - top).sum(axis=0)) - np.log(len(log_p))
    kl = (np.exp(log_p) * (log_p - log_marginal)).sum(axis=1)
    return float(np.exp(kl.mean()))


def gaussian_fit(features) -> tuple[np.ndarray, np.ndarray]:
    """(mean, covariance) in float64; the covariance with 1 / (N - 1) (numpy's np.cov, as
    pytorch-fid); zeros for a single image."""
    f = np.asarray(features, np.float64)
    mean = f.mean(axis=0)
    centred = f - mean
    return mean, centred.T @ centred / max(len(f) - 1, 1)


def frechet_distance(images, reference, classifier: Classifier) -> float:
    """The squared Frechet (2-Wasserstein) distance between Gaussian fits of the
    classifier's features (:meth:`Classifier.features`) of `images` and of `reference`:
    ``|mu_1 - mu_2|^2 + tr S_1 + tr S_2 - 2 tr (S_1^1/2 S_2 S_1^1/2)^1/2``, FID's formula in
    our classifier's feature space; 0 for equal sets, symmetric, in squared feature units.
    NOT comparable to a paper's FID. Its bias grows as N shrinks: compare sets of equal
    size."""
    return frechet_from_fits(gaussian_fit(classifier.features(images)),
                             gaussian_fit(classifier.features(reference)))


def frechet_from_fits(fit_1, fit_2) -> float:
    """:func:`frechet_distance` from two (mean, covariance) fits, in float64 numpy.

    ``tr (S_1^1/2 S_2 S_1^1/2)^1/2`` is the sum of the singular values (the nuclear norm) of
    ``S_1^1/2 S_2^1/2``, each root from a symmetric eigendecomposition (:func:`sqrt_psd`).
    Rounding: the trace root is not Lipschitz where a covariance is singular (dead units,
    N at or below the feature count d): an eigenvalue 0 computed as delta ~ eps |S| would
    add sqrt(delta) ~ 1e-8 |S|^1/2 per direction (what the sqrtm of ``S_1 S_2`` that
    pytorch-fid takes does), so eigenvalues within eigh's backward error of 0 (below
    d eps lambda_max) count as 0: the value of the nearest exactly singular covariance.
    The rest is backward stable: each singular value is off by ~eps |S|, so equal fits give
    ``2 tr S - 2 (tr S + O(d eps |S|))``, zero to ~1e-13 of tr S, and swapping the fits
    (a transpose of the product, same singular values) changes only the rounding. A value
    rounded below 0 reads 0.
    """
    (mean_1, cov_1), (mean_2, cov_2) = fit_1, fit_2
    if not all(np.isfinite(a).all() for a in (mean_1, cov_1, mean_2, cov_2)):
        return float("nan")  # non-finite images (a diverged generator)
    product = sqrt_psd(cov_1) @ sqrt_psd(cov_2)
    trace_root = np.linalg.svd(product, compute_uv=False).sum()
    diff = mean_1 - mean_2
    value = diff @ diff + np.trace(cov_1) + np.trace(cov_2) - 2.0 * trace_root
    return float(max(value, 0.0))


def sqrt_psd(cov: np.ndarray) -> np.ndarray:
    """The symmetric square root of a covariance, float64; its eigenvalues below
    d eps lambda_max (rounding of 0, eigh's backward error) set to 0."""
    values, vectors = np.linalg.eigh((cov + cov.T) / 2)
    floor = len(values) * np.finfo(np.float64).eps * max(values.max(initial=0.0), 0.0)
    values = np.where(values > floor, values, 0.0)
    return (vectors * np.sqrt(values)) @ vectors.T


# -- the report ------------------------------------------------------------------------


def sample_quality(images, dataset: str = DEFAULT, data_dir=None, *,
                   classifier: Classifier | None = None, seed: int = 0,
                   reference_limit: int | None = None) -> dict:
    """Both scores of `images` (generated, unit scale) and of three comparison sets of the
    same number of images N, so the numbers have a scale:

    - ``"samples"``: the images given;
    - ``"real"``: the first N official test images (what a perfect generator scores);
    - ``"mean_image"``: the mean reference image N times (a floor: classifier score 1);
    - ``"noise"``: each pixel independently Gaussian with that pixel's mean and std over the
      reference images (drawn from `seed`; a floor with the right pixel statistics).

    Each is ``{"classifier_score": ..., "frechet_distance": ...}``: :func:`classifier_score`
    of the set, and :func:`frechet_distance` from the set to the reference, the first
    `reference_limit` training images (all when None; the test images are not in it). Also
    ``"n"`` (N), ``"n_reference"``, ``"classes"`` (the classifier score's ceiling) and
    ``"classifier_test_accuracy"``. `classifier` defaults to ``train_classifier(dataset,
    data_dir, seed=seed)`` (cached). These numbers are NOT comparable to papers' Inception
    Scores or FIDs (a different network); compare them with each other only.
    """
    classifier = classifier or train_classifier(dataset, data_dir, seed=seed)
    if classifier.dataset != dataset:
        raise BadInputError(f"classifier: trained on {classifier.dataset}, not {dataset}; "
                            f"pass one from train_classifier({dataset!r}).")
    n = len(classifier._flat(images))
    train, test = load(dataset, data_dir, train_limit=reference_limit, normalisation="unit")
    if n > len(test.labels):
        raise BadInputError(f"images: {n} of them, more than the {len(test.labels)} test "
                            f"images the real comparison needs; pass at most that many.")
    flat = train.images.reshape(len(train.images), -1)
    rng = np.random.default_rng(seed)
    noise = flat.mean(0) + flat.std(0) * rng.standard_normal((n, flat.shape[1]))
    sets = {"samples": images, "real": test.images[:n],
            "mean_image": np.repeat(flat.mean(0, keepdims=True), n, axis=0),
            "noise": noise.astype(np.float32)}
    reference_fit = gaussian_fit(classifier.features(train.images))
    report = {name: {"classifier_score": classifier_score(x, classifier),
                     "frechet_distance": frechet_from_fits(
                         gaussian_fit(classifier.features(x)), reference_fit)}
              for name, x in sets.items()}
    return {**report, "n": n, "n_reference": len(train.labels), "classes": classifier.classes,
            "classifier_test_accuracy": classifier.test_accuracy}
