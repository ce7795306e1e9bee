"""pcdiag.hessian against matrices whose spectrum is known.

- Lanczos with full reorthogonalisation and steps = n reproduces eigvalsh; with fewer steps
  its Ritz values lie inside the spectrum (Cauchy interlacing) and the top one converges first;
- a linear PCN with squared-error output has a constant Hessian in its free states, block
  tridiagonal with pi_l I + pi_{l+1} W_{l+1} W_{l+1}^T on the diagonal and -pi_{l+1} W_{l+1}
  off it (our convention mu_l = x_{l-1} @ W_l + b_l, row vectors); a cross-entropy output
  replaces the last diagonal block's W_L W_L^T by W_L (diag(p) - p p^T) W_L^T;
- the trainer's recorded hessian_condition and hessian_lambda_max are the medians over the
  first hessian_samples samples of the exact condition number and largest eigenvalue at
  forward initialisation (pc: states; epc: errors, where the Hessian is I + J^T (d^2 E_L) J,
  so its smallest eigenvalue is exactly 1);
- lambda_max of a linear 2-layer net with se output is 1 + sigma_max(W2)^2, and a state step
  above its limit 2 / lambda_max (2 (1 + beta) / lambda_max with momentum; times the batch
  size on the batch_mean convention) makes inference blow up while one below relaxes.
"""

import os
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

import pcdiag
from pcdiag import data as data_module
from pcdiag import measures, status
from pcdiag.algorithms import Hyper, Program, TrainState, init_state, train_step, weight_optimizer
from pcdiag.algorithms.infer import forward_init
from pcdiag.config import Config
from pcdiag.energy import layer_energies
from pcdiag.hessian import condition_number, lanczos_extremes
from pcdiag.nets.mlp import init_params
from tests._nets import mlp, predict, with_sizes

DATA = Path(
    os.environ.get("PCDIAG_DATA") or Path(__file__).resolve().parents[2] / "shared" / "data"
)


def random_spd(n: int, seed: int, low: float = 0.1, high: float = 100.0):
    """Q diag(lam) Q^T with log-spaced eigenvalues in [low, high]; returns (matrix, lam)."""
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    lam = np.geomspace(low, high, n)
    return (q * lam) @ q.T, lam


def linear_params(sizes, seed):
    rng = np.random.default_rng(seed)
    return tuple(
        (
            jnp.asarray(rng.standard_normal((i, o)) / np.sqrt(i), jnp.float32),
            jnp.asarray(0.3 * rng.standard_normal(o), jnp.float32),
        )
        for i, o in zip(sizes[:-1], sizes[1:])
    )


def block_tridiagonal_hessian(params, precision=None, output_curvature=None):
    """The Hessian of one sample's F w.r.t. (x_1, ..., x_{L-1}) of a linear PCN, float64.

    d^2F/dx_l^2 = pi_l I + pi_{l+1} W_{l+1} C_{l+1} W_{l+1}^T, d^2F/dx_l dx_{l+1} =
    -pi_{l+1} W_{l+1}, with C = I except at the output, where C is the Hessian of the output
    energy in mu_L (I for se; diag(p) - p p^T for ce). No state or input appears: quadratic.
    """
    w = [np.asarray(weight, np.float64) for weight, _ in params]
    depth = len(w)
    pi = np.ones(depth) if precision is None else np.asarray(precision, np.float64)
    sizes = [m.shape[1] for m in w[:-1]]  # n_1 .. n_{L-1}
    offsets = np.concatenate([[0], np.cumsum(sizes)])
    h = np.zeros((offsets[-1], offsets[-1]))
    for layer in range(1, depth):  # free node x_layer
        rows = slice(offsets[layer - 1], offsets[layer])
        above = w[layer]  # W_{layer+1}: (n_layer, n_{layer+1})
        curv = np.eye(above.shape[1])
        if layer == depth - 1 and output_curvature is not None:
            curv = output_curvature
        h[rows, rows] = (pi[layer - 1] * np.eye(sizes[layer - 1])
                         + pi[layer] * above @ curv @ above.T)
        if layer < depth - 1:
            cols = slice(offsets[layer], offsets[layer + 1])
            h[rows, cols] = -pi[layer] * above
            h[cols, rows] = -pi[layer] * above.T
    return h


def sample_energy(params, x0, y, arch, output_energy, precision=None):
    """F of one sample (x0: (n_0,), y: (n_L,)) as a function of a flat vector of free states."""
    template = tuple(jnp.zeros(w.shape[1]) for w, _ in params[:-1])
    _, unravel = ravel_pytree(template)

    def energy(flat):
        states = tuple(s[None] for s in unravel(flat))
        return jnp.sum(
            layer_energies(params, x0[None], states, y[None], mlp(arch), output_energy,
                           precision=precision)
        )

    return energy, template


# --- Lanczos -----------------------------------------------------------------------------------


def test_lanczos_with_n_steps_equals_eigvalsh():
    n = 40
    matrix, lam = random_spd(n, seed=n)
    op = jnp.asarray(matrix, jnp.float32)

    @jax.jit
    def extremes(key):
        exact_steps = lanczos_extremes(lambda v: op @ v, n, key, steps=n)
        capped = lanczos_extremes(lambda v: op @ v, n, key, steps=3 * n)  # capped at n
        return jnp.stack([*exact_steps, *capped])

    got = np.asarray(extremes(jax.random.PRNGKey(1)))
    want = np.linalg.eigvalsh(matrix)
    np.testing.assert_allclose(want[[0, -1]], lam[[0, -1]], rtol=1e-10)  # the premise
    np.testing.assert_allclose(got, np.tile(want[[0, -1]], 2), rtol=1e-3)


def test_lanczos_ritz_values_interlace_and_the_top_converges_first():
    """With k < n steps the Ritz values are eigenvalues of Q^T A Q: inside [lam_min, lam_max]
    (Cauchy interlacing); for a spectrum with a gap at the top, lam_max is found early."""
    n = 60
    matrix, _ = random_spd(n, seed=3, low=1.0, high=2.0)
    rng = np.random.default_rng(4)
    top = rng.standard_normal(n)
    top /= np.linalg.norm(top)
    matrix = matrix + 20.0 * np.outer(top, top)  # one well-separated top eigenvalue
    want = np.linalg.eigvalsh(matrix)
    op = jnp.asarray(matrix, jnp.float32)
    low, high = lanczos_extremes(lambda v: op @ v, n, jax.random.PRNGKey(0), steps=12)
    assert want[0] - 1e-4 <= float(low) and float(high) <= want[-1] * (1 + 1e-5)
    np.testing.assert_allclose(float(high), want[-1], rtol=1e-4)
    assert float(low) > want[0] * (1 + 1e-3)  # 12 steps are not enough for the bottom


# --- condition number on a PCN energy ------------------------------------------------------------


def test_condition_number_exact_and_lanczos_agree_on_a_small_pcn():
    """Width 16, depth 4: n = 3 * 16 = 48 free units, tanh, ce, at forward initialisation and
    at perturbed states. Lanczos with its default 64 steps (capped at n) agrees with the
    dense Hessian; with 24 steps the top eigenvalue has already converged. (n <= 512, so
    method="auto" would take the dense path.)"""
    sizes = (8, 16, 16, 16, 4)
    params = init_params(jax.random.PRNGKey(2), list(sizes))
    rng = np.random.default_rng(0)
    x0 = jnp.asarray(rng.standard_normal(sizes[0]), jnp.float32)
    y = jax.nn.one_hot(1, sizes[-1])
    energy, _ = sample_energy(params, x0, y, "tanh", "ce")
    start = forward_init(params, predict(params, 1, x0[None], "tanh"), mlp("tanh"))
    flat0, unravel = ravel_pytree(tuple(s[0] for s in start))
    assert flat0.shape == (48,)

    @jax.jit
    def measure(flat):
        def f(states):
            return energy(ravel_pytree(states)[0])

        def hvp(v):
            return jax.jvp(jax.grad(energy), (flat,), (v,))[1]

        return dict(
            hessian=jax.hessian(energy)(flat),
            exact=condition_number(f, unravel(flat), jax.random.PRNGKey(0), method="exact"),
            lanczos=jnp.stack(lanczos_extremes(hvp, 48, jax.random.PRNGKey(5))),  # 64 -> 48
            lanczos24=jnp.stack(lanczos_extremes(hvp, 48, jax.random.PRNGKey(5), steps=24)),
        )

    noise = jnp.asarray(rng.standard_normal(48), jnp.float32)
    for flat in (flat0, flat0 + 0.3 * noise):
        got = jax.tree_util.tree_map(np.asarray, measure(flat))
        hess = got["hessian"].astype(np.float64)
        eig = np.linalg.eigvalsh(0.5 * (hess + hess.T))
        assert eig[0] > 0  # convex here: the condition number is meaningful
        np.testing.assert_allclose(got["exact"], eig[-1] / eig[0], rtol=1e-3)
        low, high = got["lanczos"]
        np.testing.assert_allclose(high, eig[-1], rtol=1e-2)
        np.testing.assert_allclose(low, eig[0], rtol=5e-2)
        np.testing.assert_allclose(high / low, got["exact"], rtol=5e-2)
        np.testing.assert_allclose(got["lanczos24"][1], eig[-1], rtol=1e-2)


# --- closed form: the linear PCN -----------------------------------------------------------------


@pytest.mark.parametrize(
    "precision", [None, (1.0, 0.5, 0.25, 0.125)], ids=["unweighted", "geometric:2"]
)
def test_linear_pcn_hessian_is_block_tridiagonal_closed_form(precision):
    sizes = (5, 4, 3, 3, 2)
    params = linear_params(sizes, seed=7)
    rng = np.random.default_rng(8)
    x0 = jnp.asarray(rng.standard_normal(sizes[0]), jnp.float32)
    y = jnp.asarray(rng.standard_normal(sizes[-1]), jnp.float32)
    energy, _ = sample_energy(params, x0, y, "linear", "se", precision)
    want = block_tridiagonal_hessian(params, precision)
    eig = np.linalg.eigvalsh(want)
    np.testing.assert_allclose(eig[-1] / eig[0], np.linalg.cond(want), rtol=1e-9)

    @jax.jit
    def measure(flat):
        def f(states):
            return energy(ravel_pytree(states)[0])

        states = (flat[:4], flat[4:7], flat[7:])
        key = jax.random.PRNGKey(0)
        conds = [condition_number(f, states, key, method=m) for m in ("exact", "lanczos")]
        return jax.hessian(energy)(flat), jnp.stack(conds)

    for seed in (0, 1):  # the same Hessian at any states: F is quadratic
        flat = jnp.asarray(np.random.default_rng(seed).standard_normal(10), jnp.float32)
        hess, conds = measure(flat)
        np.testing.assert_allclose(np.asarray(hess), want, atol=1e-5)
        np.testing.assert_allclose(np.asarray(conds), np.linalg.cond(want), rtol=1e-3)


def test_linear_pcn_hessian_with_cross_entropy_output():
    """ce output: the last block's curvature is the softmax Hessian diag(p) - p p^T at
    mu_L = x_{L-1} W_L + b_L, so the Hessian now depends on x_{L-1} (and only on it)."""
    sizes = (5, 4, 3, 6)
    params = linear_params(sizes, seed=9)
    rng = np.random.default_rng(10)
    x0 = jnp.asarray(rng.standard_normal(sizes[0]), jnp.float32)
    y = jax.nn.one_hot(2, sizes[-1])
    energy, _ = sample_energy(params, x0, y, "linear", "ce")
    flat = jnp.asarray(rng.standard_normal(7), jnp.float32)
    got = np.asarray(jax.jit(jax.hessian(energy))(flat))
    x_top = np.asarray(flat[4:], np.float64)
    logits = x_top @ np.asarray(params[-1][0], np.float64) + np.asarray(params[-1][1], np.float64)
    p = np.exp(logits - logits.max())
    p /= p.sum()
    want = block_tridiagonal_hessian(params, output_curvature=np.diag(p) - np.outer(p, p))
    np.testing.assert_allclose(got, want, atol=1e-5)


# --- the trainer's record ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def real_batch():
    train, _ = data_module.load("fashion-mnist", DATA, train_limit=8, test_limit=1)
    return jnp.asarray(train.images), jax.nn.one_hot(jnp.asarray(train.labels), 10)


def first_step(algorithm, x0, y, activation="tanh", samples=2, sizes=(784, 16, 16, 10)):
    """Params and the record of one train_step with hessian_samples = `samples`."""
    cfg = Config(algorithm=algorithm, activation=activation, output_energy="ce",
                 inference_steps=3, hessian_samples=samples, batch_size=8)
    prog = with_sizes(Program.from_config(cfg), sizes)
    params = init_params(jax.random.PRNGKey(11), list(sizes))
    hyper = Hyper.from_config(Config(gamma=0.1, weight_lr=1e-3, momentum=0.9, weight_decay=0.0))
    state = TrainState(params, weight_optimizer(prog, hyper).init(params),
                       jax.random.PRNGKey(0), jnp.int32(0), jnp.int32(-1))
    _, rec = jax.jit(train_step, static_argnums=(0, 5))(prog, hyper, state, x0, y, True)
    return params, rec


def direct_spectra(params, x0, y, samples, activation, errors: bool):
    """Per sample (rows): the eigenvalues (float64) of the Hessian of F_i at forward
    initialisation, w.r.t. the states (pc) or the errors e_l = x_l - mu_l(x_{l-1}) (epc),
    built here from the MLP's predict alone."""

    def hessian(xi, yi):
        xi, yi = xi[None], yi[None]
        mu1 = predict(params, 1, xi, activation)
        states0 = forward_init(params, mu1, mlp(activation))
        flat0, unravel = ravel_pytree(tuple(s[0] for s in states0))

        def energy(flat):
            z = [v[None] for v in unravel(flat)]
            if errors:  # x_1 = mu_1 + e_1, x_l = mu_l(x_{l-1}) + e_l
                states, x = [], mu1 + z[0]
                for layer in range(2, len(params)):
                    states.append(x)
                    x = predict(params, layer, x, activation) + z[layer - 1]
                z = [*states, x]
            return jnp.sum(layer_energies(params, xi, tuple(z), yi, mlp(activation), "ce"))

        return jax.hessian(energy)(jnp.zeros_like(flat0) if errors else flat0)

    hess = np.asarray(jax.jit(jax.vmap(hessian))(x0[:samples], y[:samples]), np.float64)
    return np.linalg.eigvalsh(0.5 * (hess + np.swapaxes(hess, 1, 2)))


def test_recorded_hessian_condition_equals_direct_computation_pc(real_batch):
    x0, y = real_batch
    params, rec = first_step("pc", x0, y)
    spectra = direct_spectra(params, x0, y, 2, "tanh", errors=False)
    assert (spectra[:, 0] > 0).all()
    conds = spectra[:, -1] / spectra[:, 0]
    np.testing.assert_allclose(float(rec.hessian_condition), np.median(conds), rtol=1e-3)
    np.testing.assert_allclose(float(rec.hessian_lambda_max), np.median(spectra[:, -1]),
                               rtol=1e-3)
    assert conds[0] != pytest.approx(conds[1], rel=1e-3)  # two samples, a real median


def test_recorded_hessian_condition_equals_direct_computation_epc(real_batch):
    """In error coordinates F = 1/2 sum_{l<L} ||e_l||^2 + E_L(mu_L(e)). For a linear network
    the Hessian is I + J^T (diag p - p p^T) J: I plus a PSD term of rank <= 10 < 32, so
    lambda_min = 1 exactly and the condition number is lambda_max. (With tanh the network's
    own curvature adds a term of either sign: lambda_min was 0.94 on this batch.)"""
    x0, y = real_batch
    activation = "linear"
    params, rec = first_step("epc", x0, y, activation, samples=3)
    spectra = direct_spectra(params, x0, y, 3, activation, errors=True)
    np.testing.assert_allclose(spectra[:, 0], 1.0, atol=1e-4)
    assert (spectra[:, -1] > 1.01).all()  # and the output term is not negligible
    np.testing.assert_allclose(
        float(rec.hessian_condition), np.median(spectra[:, -1] / spectra[:, 0]), rtol=1e-3
    )
    np.testing.assert_allclose(float(rec.hessian_lambda_max), np.median(spectra[:, -1]),
                               rtol=1e-3)


def test_hessian_condition_is_nan_for_bp(real_batch):
    x0, y = real_batch
    _, rec = first_step("bp", x0, y, sizes=(784, 4, 4, 10))
    assert rec.hessian_condition.shape == () and np.isnan(float(rec.hessian_condition))
    assert rec.hessian_lambda_max.shape == () and np.isnan(float(rec.hessian_lambda_max))


def test_no_hessian_record_when_the_probe_is_off(real_batch):
    """hessian_samples = 0 (the default): both fields are None, so the compiled step is the
    one without the probe."""
    x0, y = real_batch
    for algorithm in ("pc", "bp"):
        _, rec = first_step(algorithm, x0, y, samples=0, sizes=(784, 4, 4, 10))
        assert rec.hessian_condition is None and rec.hessian_lambda_max is None


# --- lambda_max and the stable state step ---------------------------------------------------------


def linear_two_layer(**changes) -> tuple[Config, float]:
    """A linear 2-layer net with a squared-error output on 128 real images (batch 16, 8
    steps), and lambda_max of its inference Hessian at its initial weights, in float64.

    One free node x_1, E_1 = 1/2 ||x_1 - mu_1||^2, E_2 = 1/2 ||y - x_1 W2 - b2||^2 (row
    vectors): H = I + W2 W2^T for every sample and state, so lambda_max = 1 + sigma_max(W2)^2;
    W2 is 32 x 10, so W2 W2^T has rank 10 < 32 and lambda_min = 1 exactly."""
    cfg = Config(depth=2, width=32, activation="linear", output_energy="se", hessian_samples=2,
                 batch_size=16, train_limit=128, test_limit=64, inference_steps=10,
                 weight_optimizer="sgd", weight_lr=1e-3, weight_decay=0.0, data_dir=str(DATA))
    cfg = cfg.replace(**changes)
    params = init_state(Program.from_config(cfg), Hyper.from_config(cfg),
                        jax.random.PRNGKey(cfg.seed)).params  # what pcdiag.train starts from
    w2 = np.asarray(params[1][0], np.float64)
    return cfg, 1.0 + np.linalg.svd(w2, compute_uv=False)[0] ** 2


def test_recorded_lambda_max_is_one_plus_sigma_max_squared_of_the_initial_weights():
    """Step 0's record is taken at the initial weights. eigvalsh in float32 of a 32 x 32
    matrix of norm ~2 is exact to a few n u ||H|| ~ 1e-5 relative: rtol 1e-4."""
    cfg, lam = linear_two_layer()
    ds = pcdiag.train(cfg)
    assert ds["hessian_lambda_max"].dims == ("step",)
    assert ds["hessian_lambda_max"].attrs["long_name"] == "largest Hessian eigenvalue"
    np.testing.assert_allclose(float(ds["hessian_lambda_max"][0]), lam, rtol=1e-4)
    np.testing.assert_allclose(float(ds["hessian_condition"][0]), lam, rtol=1e-4)
    limit = measures.step_limit(ds)
    np.testing.assert_allclose(float(limit["limit"][0]), 2 / lam, rtol=1e-4)


def test_a_state_step_above_2_over_lambda_max_makes_inference_unstable():
    """On the quadratic F of the linear net, the top eigencomponent of x_1 - x* is multiplied
    by 1 - g lambda_max per step: gamma = 0.5 limit (g lambda = 1) relaxes, 1.3 limit
    (|1 - 2.6| = 1.6 per step, 1.6^20 ~ 1e4 in energy over T = 10) makes F(T) exceed F(0)
    at step 0 and the run inference_unstable or diverged (the blown-up states then wreck
    the weights). Heavy-ball momentum 0.9 (optax: v <- 0.9 v + grad) widens the limit to
    2 (1.9) / lambda: at g lambda = 3 sgd blows up while momentum relaxes (roots of
    z^2 + 1.1 z + 0.9: |z| = 0.95); at 1.3 times its own limit momentum blows up too."""
    cfg, lam = linear_two_layer()
    limit = 2 / lam
    ds = pcdiag.sweep(cfg, gamma=[0.5 * limit, 1.3 * limit])
    below, above = ds.isel(gamma=0), ds.isel(gamma=1)
    f = ds["energy_total"].isel(step=0)
    assert f.isel(gamma=0, t=-1) < f.isel(gamma=0, t=0)
    assert f.isel(gamma=1, t=-1) > 10 * f.isel(gamma=1, t=0)
    assert int(below["run_status"]) not in (status.DIVERGED, status.UNSTABLE)
    assert int(above["run_status"]) in (status.DIVERGED, status.UNSTABLE)
    stable = measures.step_limit(ds)["stable"].isel(step=0).values
    np.testing.assert_array_equal(stable, [1.0, 0.0])

    momentum = 2 * 1.9 / lam
    runs = pcdiag.sweep(cfg, gamma=[3 / lam, 1.3 * momentum],
                        state_optimizer=["sgd", "momentum", "adam"])
    f0 = runs["energy_total"].isel(step=0)
    grew = (f0.isel(t=-1) > f0.isel(t=0)).transpose("gamma", "state_optimizer").values
    np.testing.assert_array_equal(grew[:, :2], [[True, False], [True, True]])
    out = measures.step_limit(runs).isel(step=0).transpose("gamma", "state_optimizer")
    lam0 = float(runs["hessian_lambda_max"].isel(step=0, gamma=0, state_optimizer=0))
    np.testing.assert_allclose(out["limit"].values[0, :2], [2 / lam0, 2 * 1.9 / lam0],
                               rtol=1e-12)
    np.testing.assert_array_equal(out["stable"].values, [[0, 1, np.nan], [0, 0, np.nan]])


@pytest.mark.slow  # the per-sample limit test above is the default tier's
def test_the_batch_mean_convention_moves_the_limit_by_the_batch_size():
    """batch_mean at gamma B g is per_sample at g (same state steps, test_inference.py); its
    limit is B times 2 / lambda_max and the per-sample product g lambda_max is the same."""
    cfg, lam = linear_two_layer(inference_steps=3)
    g = 0.5 * 2 / lam
    per_sample = pcdiag.train(cfg, gamma=g)
    batch_mean = pcdiag.train(cfg, gamma=16 * g, gamma_convention="batch_mean")
    a, b = measures.step_limit(per_sample), measures.step_limit(batch_mean)
    np.testing.assert_allclose(b["limit"], 16 * a["limit"], rtol=1e-6)
    np.testing.assert_allclose(b["gamma_lambda"], a["gamma_lambda"], rtol=1e-6)
    np.testing.assert_array_equal(b["stable"], 1.0)
