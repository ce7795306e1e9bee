"""Sample-quality scores (pcdiag.tasks.quality) on real Fashion-MNIST: the classifier learns,
its cache is read back, and the classifier score and Frechet distance behave as their
definitions and float64 rounding say. One classifier (1 epoch on 10,000 training images,
about a second on a CPU) is trained for the module, cached in a tmp folder."""

import numpy as np
import pytest

from pcdiag.data import load
from pcdiag.errors import BadInputError
from pcdiag.tasks import quality
from tests._tiny import DATA

DATASET = "fashion-mnist"
SETTINGS = {"seed": 0, "epochs": 1, "train_limit": 10_000}


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("quality-cache")


@pytest.fixture(scope="module")
def classifier(cache):
    return quality.train_classifier(DATASET, DATA, cache=cache, **SETTINGS)


@pytest.fixture(scope="module")
def data():
    return load(DATASET, DATA, normalisation="unit")


def test_unit_scale_and_accuracy(classifier, data):
    """The images are x / 255 (0 and 255 become 0 and 1 exactly in float32). One epoch of
    Adam (78 steps) on 10,000 images gives ~76 %; logistic regression on the pixels
    reaches ~84 % given time, chance is 10 %: 60 % leaves room for another platform's
    rounding and still says the classifier learned the classes."""
    train, _ = data
    assert train.images.min() == 0.0 and train.images.max() == 1.0
    assert classifier.test_accuracy >= 0.6
    p = classifier.probabilities(data[1].images[:500])
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=0, atol=1e-12)  # float64 rows
    features = classifier.features(data[1].images[:500])
    assert features.shape == (500, quality.HIDDEN[-1]) and features.min() >= 0.0  # ReLU


def test_cache_is_read_back(classifier, cache, monkeypatch):
    """A second call with the same settings loads the file (training is never reached) and
    gives the same parameters bit for bit; other settings are another file; an unreadable
    file is trained again and replaced."""
    (path,) = cache.glob("classifier-fashion-mnist-*.npz")

    def no_training(*args):
        raise AssertionError("trained again instead of reading the cache")

    with monkeypatch.context() as m:
        m.setattr(quality, "_fit", no_training)
        again = quality.train_classifier(DATASET, DATA, cache=cache, **SETTINGS)
        with pytest.raises(AssertionError, match="trained again"):
            quality.train_classifier(DATASET, DATA, cache=cache,
                                     **{**SETTINGS, "seed": 1})
    assert again.test_accuracy == classifier.test_accuracy
    for (w, b), (w2, b2) in zip(classifier.params, again.params):
        assert np.array_equal(w, w2) and np.array_equal(b, b2)
    path.write_bytes(b"not an npz")
    retrained = quality.train_classifier(DATASET, DATA, cache=cache, **SETTINGS)
    assert retrained.test_accuracy == classifier.test_accuracy  # same seed, same program
    assert np.load(path)["test_accuracy"] == classifier.test_accuracy


def test_real_images_score_the_classifiers_confidence(classifier, data):
    """On the 10,000 test images: the score is exp(H(p(y)) - E_x H(p(y|x))) (computed
    here the other way, to float64 rounding); the test set is balanced (1,000 per class),
    so H(p(y)) is near log 10 and the score near 10 exp(-E_x H(p(y|x))), the classifier's
    confidence; and it is at least exp(H(p(y)) - h(c) - (1 - c) log 9) for the mean top
    probability c (an entropy with top probability c is at most h(c) + (1 - c) log 9, and
    E_x of a concave function at most its value at the mean): well above 1."""
    images = data[1].images
    score = quality.classifier_score(images, classifier)
    log_p = quality.log_softmax64(classifier.logits(images))
    p = np.exp(log_p)
    entropy = -(p * log_p).sum(axis=1).mean()
    marginal = p.mean(axis=0)
    marginal_entropy = -(marginal * np.log(marginal)).sum()
    assert score == pytest.approx(np.exp(marginal_entropy - entropy), rel=1e-12)
    assert np.log(10) - 0.05 < marginal_entropy <= np.log(10)
    assert score == pytest.approx(10 * np.exp(-entropy), rel=0.05)
    c = p.max(axis=1).mean()
    binary = -c * np.log(c) - (1 - c) * np.log(1 - c)
    assert score >= np.exp(marginal_entropy - binary - (1 - c) * np.log(9))
    assert 3.0 < score <= 10.0


def test_identical_images_score_one(classifier, data):
    """The mean training image 500 times: every row of p(y|x) is the same, so p(y) is that
    row and each KL is 0. In float64 log p(y) = m + log(500 exp(0)) - log 500 differs from
    the row's log p(y|x) by an ulp or two of |m| + log 500; were the compiled matmul to
    round some rows differently (1e-6 in a float32 logit), the KL, second order in that
    difference, would be ~1e-12: 1e-10 covers both."""
    images = np.repeat(data[0].images.mean(axis=0, keepdims=True), 500, axis=0)
    assert abs(quality.classifier_score(images, classifier) - 1.0) < 1e-10


def test_frechet_distance_zero_and_symmetric(classifier, data):
    """d(x, x) is 2 tr S - 2 (sum of singular values of S^1/2 S^1/2), those singular
    values off by ~eps |S| each (64 of them, float64): zero to 1e-10 of tr S. Swapping the
    sets transposes S_1^1/2 S_2^1/2, whose singular values are the same: equal to
    rounding."""
    test_images, train_images = data[1].images[:1000], data[0].images[:1000]
    trace = np.trace(quality.gaussian_fit(classifier.features(test_images))[1])
    assert quality.frechet_distance(test_images, test_images, classifier) <= 1e-10 * trace
    forward = quality.frechet_distance(test_images, train_images, classifier)
    backward = quality.frechet_distance(train_images, test_images, classifier)
    assert forward > 0 and abs(forward - backward) <= 1e-10 * trace


def test_frechet_formula_against_closed_forms():
    """Commuting (diagonal) covariances: |mu_1 - mu_2|^2 + sum (sqrt a - sqrt b)^2. A
    general pair with S_1 = L L^T singular (rank 3 of 6): the nonzero eigenvalues of
    S_1 S_2 are those of L^T S_2 L (3 x 3, well conditioned), the reference. Agreement to
    1e-12 relative; scipy's sqrtm of S_1 S_2 (pytorch-fid's route) is off by ~2e-8 here, the
    square roots of its rounding eigenvalues (the docstring of frechet_from_fits)."""
    a, b = np.array([4.0, 1.0, 0.0, 9.0]), np.array([1.0, 1.0, 4.0, 0.25])
    mu_1, mu_2 = np.array([1.0, 0.0, 2.0, 0.0]), np.zeros(4)
    got = quality.frechet_from_fits((mu_1, np.diag(a)), (mu_2, np.diag(b)))
    assert got == pytest.approx(5.0 + ((np.sqrt(a) - np.sqrt(b)) ** 2).sum(), rel=1e-14)
    rng = np.random.default_rng(0)
    low_rank, full = rng.standard_normal((6, 3)), rng.standard_normal((6, 6))
    cov_1, cov_2 = low_rank @ low_rank.T, full @ full.T + np.eye(6)
    roots = np.sqrt(np.linalg.eigvalsh(low_rank.T @ cov_2 @ low_rank))
    expected = np.trace(cov_1) + np.trace(cov_2) - 2 * roots.sum()
    for pair in ((cov_1, cov_2), (cov_2, cov_1)):
        got = quality.frechet_from_fits(*((np.zeros(6), c) for c in pair))
        assert got == pytest.approx(expected, rel=1e-12)


def test_sample_quality_has_a_scale(classifier, data):
    """Real test images given as the samples: they score as the real comparison set does
    (other test images, same N); the mean image scores 1; noise and the mean image lie
    more than 20 times farther from the training images than real images do (measured:
    ~1.0 against ~270 and ~340, N = 1000 and 20,000 reference images)."""
    samples = data[1].images[5000:6000]
    report = quality.sample_quality(samples, DATASET, DATA, classifier=classifier,
                                    reference_limit=20_000)
    assert (report["n"], report["n_reference"], report["classes"]) == (1000, 20_000, 10)
    assert report["classifier_test_accuracy"] == classifier.test_accuracy
    real, own = report["real"], report["samples"]
    assert own["classifier_score"] == pytest.approx(real["classifier_score"], rel=0.1)
    assert own["frechet_distance"] < 2 * real["frechet_distance"] + 1.0
    assert abs(report["mean_image"]["classifier_score"] - 1.0) < 1e-10
    for floor in ("mean_image", "noise"):
        assert report[floor]["frechet_distance"] > 20 * real["frechet_distance"]
        assert report[floor]["classifier_score"] < real["classifier_score"] - 1.0


def test_bad_images_name_the_argument(classifier):
    with pytest.raises(BadInputError, match=r"images of shape \(5, 27, 27\).*784 values"):
        quality.classifier_score(np.zeros((5, 27, 27), np.float32), classifier)
    with pytest.raises(BadInputError, match="classifier: trained on fashion-mnist, not mnist"):
        quality.sample_quality(np.zeros((5, 784), np.float32), "mnist", DATA,
                               classifier=classifier)
