"""The remedies for deep PCNs, each on a case with a known answer.

- muPC (parameterization="mupc", skip=True): the multipliers are the published formulas,
  and at initialisation the forward pass stays O(1) with depth (the standard residual net
  does not); the output scale is ~ 1/N.
- ePC (algorithm="epc"): zero errors are the forward initialisation; on a linear network the
  error-space equilibrium is the state-space closed form; the output error reaches layer 1
  in one inference step, where PC needs L - 1.
- layer_precision: F = sum_l pi_l E_l with the documented geometric weights; a linear net's
  weighted equilibrium is the weighted quadratic's minimiser.
- bp_alignment: at a small gamma the PC gradient points along backprop's (cosine > 0.99);
  the recorded cosine is the one computed directly; NaN for bp.
- more inference steps: a depth-16, T = 256 run trains; the error front moves down one layer
  per step, so layer 1 is silent for t < 15 and active at T.

Notation (row vectors, as in pcdiag.model): mu_l = x_{l-1} @ W_l + b_l for a linear layer.
"""

import math
import os
from functools import partial
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from _tolerance import rtol_after

import pcdiag
from pcdiag import data as data_module
from pcdiag.algorithms import (
    Hyper,
    Program,
    TrainState,
    train_step,
    weight_optimizer,
)
from pcdiag.algorithms.base import output_loss_of
from pcdiag.algorithms.infer import forward_init, infer, states_from_errors
from pcdiag.config import Config, parse_precision
from pcdiag.energy import layer_energies
from pcdiag.nets.base import ACTIVATION_FNS
from pcdiag.nets.mlp import init_params, mupc_multiplier
from tests._nets import forward, mlp, predict, with_sizes

DATA = Path(
    os.environ.get("PCDIAG_DATA") or Path(__file__).resolve().parents[2] / "shared" / "data"
)

step_fn = jax.jit(train_step, static_argnums=(0, 5))  # one compile per Program, shared


@pytest.fixture(scope="module")
def real_batch():
    """64 real Fashion-MNIST images (standardised) and their one-hot labels."""
    train, _ = data_module.load("fashion-mnist", DATA, train_limit=64, test_limit=1)
    return jnp.asarray(train.images), jax.nn.one_hot(jnp.asarray(train.labels), 10)


def program(sizes, **changes) -> Program:
    cfg = Config(**(dict(activation="tanh", output_energy="ce", state_optimizer="sgd") | changes))
    return with_sizes(Program.from_config(cfg), sizes)


def first_record(prog, params, x0, y, gamma):
    """The StepRecord of one train_step from `params` (weight decay 0)."""
    hyper = Hyper.from_config(Config(gamma=float(gamma), weight_lr=1e-3, momentum=0.9,
                                     weight_decay=0.0))
    state = TrainState(params, weight_optimizer(prog, hyper).init(params),
                       jax.random.PRNGKey(0), jnp.int32(0), jnp.int32(-1))
    return step_fn(prog, hyper, state, x0, y, True)[1]


def gaussian_params(sizes, seed, parameterization="linear_test", bias=0.3):
    """float32 params; "mupc": W ~ N(0, 1), b = 0 (what init_params draws); "sp": the
    U(-1/sqrt(fan_in), 1/sqrt(fan_in)) of init_params; otherwise W ~ N(0, 1/fan_in)."""
    rng = np.random.default_rng(seed)
    params = []
    for i, o in zip(sizes[:-1], sizes[1:]):
        if parameterization == "mupc":
            w, b = rng.standard_normal((i, o)), np.zeros(o)
        elif parameterization == "sp":
            bound = 1 / math.sqrt(i)
            w, b = rng.uniform(-bound, bound, (i, o)), rng.uniform(-bound, bound, o)
        else:
            w, b = rng.standard_normal((i, o)) / math.sqrt(i), bias * rng.standard_normal(o)
        params.append((jnp.asarray(w, jnp.float32), jnp.asarray(b, jnp.float32)))
    return tuple(params)


# --- closed form: the (weighted) linear PCN -----------------------------------------------------


def linear_equilibrium(params, x0, y, precision=None):
    """Minimiser of F = sum_l pi_l/2 ||x_l - x_{l-1} W_l - b_l||^2 (y clamped) over the free
    states, and the per-layer terms pi_l E_l there, in float64.

    F is quadratic with the constant block-tridiagonal Hessian H (diagonal blocks
    pi_l I + pi_{l+1} W_{l+1} W_{l+1}^T, off-diagonal -pi_{l+1} W_{l+1}); at the feedforward
    states only dF/dx_{L-1} = -pi_L (y - mu_L) W_L^T is non-zero, so one Newton step from
    there is exact: x* = x_ff + H^-1 [0, ..., 0, pi_L (y - mu_L) W_L^T].
    """
    w = [np.asarray(a, np.float64) for a, _ in params]
    b = [np.asarray(a, np.float64) for _, a in params]
    depth = len(w)
    pi = np.ones(depth) if precision is None else np.asarray(precision, np.float64)
    sizes = [m.shape[1] for m in w[:-1]]
    offsets = np.concatenate([[0], np.cumsum(sizes)])
    hess = np.zeros((offsets[-1], offsets[-1]))
    for layer in range(1, depth):
        rows = slice(offsets[layer - 1], offsets[layer])
        hess[rows, rows] = (pi[layer - 1] * np.eye(sizes[layer - 1])
                            + pi[layer] * w[layer] @ w[layer].T)
        if layer < depth - 1:
            cols = slice(offsets[layer], offsets[layer + 1])
            hess[rows, cols] = -pi[layer] * w[layer]
            hess[cols, rows] = -pi[layer] * w[layer].T
    xs = [np.asarray(x0, np.float64)]
    for wl, bl in zip(w, b):
        xs.append(xs[-1] @ wl + bl)
    rhs = np.zeros((len(xs[0]), offsets[-1]))
    rhs[:, offsets[-2]:] = pi[-1] * (np.asarray(y, np.float64) - xs[-1]) @ w[-1].T
    flat = np.concatenate(xs[1:-1], axis=1) + np.linalg.solve(hess, rhs.T).T
    states = np.split(flat, offsets[1:-1], axis=1)
    nodes = [xs[0], *states, np.asarray(y, np.float64)]
    energies = np.stack(
        [pi[k] / 2 * np.sum((nodes[k + 1] - nodes[k] @ w[k] - b[k]) ** 2, -1)
         for k in range(depth)], -1
    )
    return states, energies, np.linalg.eigvalsh(hess)


@partial(jax.jit, static_argnums=0)
def relax(prog, params, x0, y, gamma):
    """Inference as pc_step runs it (pc: states from forward init; epc: errors from 0),
    returning the final states and the per-sample energies there."""
    mu1 = predict(params, 1, x0, prog.net)
    start = forward_init(params, mu1, prog.net)
    if prog.algorithm == "epc":
        z0 = tuple(jnp.zeros_like(s) for s in start)

        def to_states(z):
            return states_from_errors(params, mu1, z, prog.net)
    else:
        z0 = start

        def to_states(z):
            return z

    def energies_of(states):
        return layer_energies(params, x0, states, y, prog.net, prog.output_energy, mu1=mu1,
                              precision=prog.precision)

    def energy_fn(z):
        energies = jnp.sum(energies_of(to_states(z)), axis=0)
        return jnp.sum(energies), energies

    z, _, finite = infer(energy_fn, z0, gamma, prog, False, x0.shape[0])
    states = to_states(z)
    return states, energies_of(states), finite


# --- muPC ----------------------------------------------------------------------------------------


def test_mupc_multipliers_equal_the_formulas():
    n0, width = 784, 64
    for depth in (4, 32, 128):
        assert mupc_multiplier(1, depth, n0, width, True) == 1 / math.sqrt(n0)
        assert mupc_multiplier(depth, depth, n0, width, True) == 1 / width
        for layer in (2, depth - 1):
            assert mupc_multiplier(layer, depth, n0, width, True) == pytest.approx(
                1 / math.sqrt(width * depth), rel=1e-15)
            assert mupc_multiplier(layer, depth, n0, width, False) == pytest.approx(
                1 / math.sqrt(width), rel=1e-15)


def test_mupc_predict_uses_the_multipliers():
    """mu_1 = a_1 x_0 W_1 + b_1, mu_l = x_{l-1} + a_l f(x_{l-1}) W_l + b_l,
    mu_L = a_L f(x_{L-1}) W_L + b_L, with non-zero biases to see where they enter."""
    sizes, depth = (6, 5, 5, 5, 3), 4
    params = gaussian_params(sizes, seed=1, parameterization="mupc")
    params = tuple((w, jnp.full(w.shape[1], 0.1 * (i + 1))) for i, (w, _) in enumerate(params))
    rng = np.random.default_rng(2)
    x = jnp.asarray(rng.standard_normal((3, 6)), jnp.float32)
    arch = mlp("tanh", "mupc", True)
    w = [np.asarray(p[0], np.float64) for p in params]
    b = [np.asarray(p[1], np.float64) for p in params]
    xn = np.asarray(x, np.float64)
    want = [xn @ w[0] / math.sqrt(6) + b[0]]
    for layer in (2, 3):
        want.append(want[-1] + np.tanh(want[-1]) @ w[layer - 1] / math.sqrt(5 * depth)
                    + b[layer - 1])
    want.append(np.tanh(want[-1]) @ w[3] / 5 + b[3])
    for layer, (got, expected) in enumerate(zip(forward(params, x, arch), want), start=1):
        np.testing.assert_allclose(np.asarray(got), expected, rtol=1e-5, atol=1e-6,
                                   err_msg=f"mu_{layer}")
    # without skips: no identity and a_l = 1/sqrt(N) for the hidden layers
    no_skip = np.tanh(want[0]) @ w[1] / math.sqrt(5) + b[1]
    got = predict(params, 2, jnp.asarray(want[0], jnp.float32), mlp("tanh", "mupc", False))
    np.testing.assert_allclose(np.asarray(got), no_skip, rtol=1e-5, atol=1e-6)


def test_mupc_init_draws_standard_normal_weights_and_zero_biases():
    params = init_params(jax.random.PRNGKey(0), [784, 64, 64, 10], "mupc")
    for w, b in params:
        w = np.asarray(w)
        assert abs(w.mean()) < 0.05 and abs(w.std() - 1) < 0.05, (w.mean(), w.std())
        assert not np.asarray(b).any()
    sp = init_params(jax.random.PRNGKey(0), [784, 64, 10], "sp")
    assert np.abs(np.asarray(sp[0][0])).max() <= 1 / 28 and np.asarray(sp[0][1]).any()


@pytest.mark.parametrize("activation", ["hard_tanh", "relu"])
def test_mupc_forward_pass_stays_order_one_with_depth(real_batch, activation):
    """Width 64, depths 8 / 32 / 128, real inputs. muPC's last hidden node keeps a mean
    square of O(1) (each residual branch adds O(1/L)); the standard residual net adds O(1)
    per layer (hard_tanh: grows ~ L or faster) or multiplies it (relu: explodes)."""
    x0 = real_batch[0]
    width, depths = 64, (8, 32, 128)
    hidden, outputs = {"mupc": [], "sp": []}, []
    for parameterization in ("mupc", "sp"):
        arch = mlp(activation, parameterization, True)
        for depth in depths:
            sizes = [784] + [width] * (depth - 1) + [10]
            params = gaussian_params(sizes, seed=depth, parameterization=parameterization)
            nodes = forward(params, x0, arch)
            hidden[parameterization].append(float(jnp.mean(nodes[-2] ** 2)))
            if parameterization == "mupc":
                act = ACTIVATION_FNS[activation](nodes[-2])
                # mu_L = f(x_{L-1}) W_L / N: E[mu_L^2] = E ||f(x_{L-1})||^2 / N^2 over W
                outputs.append(float(jnp.mean(nodes[-1] ** 2) * width
                                     / jnp.mean(jnp.sum(act**2, -1) / width)))
    mupc, sp = np.array(hidden["mupc"]), np.array(hidden["sp"])
    assert (mupc > 0.3).all() and (mupc < 3).all(), mupc
    assert mupc.max() / mupc.min() < 1.5, mupc
    assert sp[-1] / sp[0] > 20, sp  # the standard residual net grows by far more
    # output ~ 1/N: N * mean(mu_L^2) / mean(f^2) is O(1) (10 output columns: loose bounds)
    assert all(0.3 < r < 3 for r in outputs), outputs


def test_mupc_output_scale_falls_as_one_over_width(real_batch):
    x0 = real_batch[0]
    means = []
    for width in (64, 1024):
        sizes = [784] + [width] * 3 + [10]
        params = gaussian_params(sizes, seed=width, parameterization="mupc")
        means.append(float(jnp.mean(forward(params, x0, mlp("hard_tanh", "mupc", True))[-1]
                                     ** 2)))
    # mean square ~ 1/N: 16 times smaller for a 16 times wider net (loose: 10 columns)
    assert 5 < means[0] / means[1] < 50, means


# --- ePC -----------------------------------------------------------------------------------------


def test_states_from_zero_errors_are_the_forward_initialisation():
    sizes = (6, 5, 5, 5, 3)  # equal hidden widths: the mupc arch has identity skips
    params = gaussian_params(sizes, seed=3)
    x0 = jnp.asarray(np.random.default_rng(4).standard_normal((2, 6)), jnp.float32)
    for arch in ("tanh", mlp("relu", "mupc", True)):
        mu1 = predict(params, 1, x0, arch)
        zero = tuple(jnp.zeros((2, n)) for n in sizes[1:-1])
        for got, want in zip(states_from_errors(params, mu1, zero, mlp(arch)),
                             forward_init(params, mu1, mlp(arch)), strict=True):
            np.testing.assert_array_equal(np.asarray(got), np.asarray(want))
    # non-zero errors are exactly the hidden prediction errors: E_l = 1/2 ||e_l||^2
    rng = np.random.default_rng(5)
    errors = tuple(jnp.asarray(rng.standard_normal((2, n)), jnp.float32) for n in sizes[1:-1])
    mu1 = predict(params, 1, x0, "tanh")
    states = states_from_errors(params, mu1, errors, mlp("tanh"))
    energies = layer_energies(params, x0, states, jnp.zeros((2, 3)), mlp("tanh"), "se")
    want = np.stack([0.5 * np.sum(np.asarray(e) ** 2, -1) for e in errors], -1)
    np.testing.assert_allclose(np.asarray(energies[:, :-1]), want, rtol=1e-5)
    # edge cases: one free node, and none
    one = states_from_errors(params[-2:], x0[:, :5], (errors[-1],), mlp("tanh"))
    np.testing.assert_allclose(np.asarray(one[0]), np.asarray(x0[:, :5] + errors[-1]))
    assert states_from_errors(params[:1], mu1, (), mlp("tanh")) == ()


def linear_problem(sizes, seed):
    params = gaussian_params(sizes, seed)
    rng = np.random.default_rng(seed + 100)
    x0 = jnp.asarray(rng.standard_normal((5, sizes[0])), jnp.float32)
    y = jnp.asarray(rng.standard_normal((5, sizes[-1])), jnp.float32)  # far from the prediction
    return params, x0, y


def test_epc_equilibrium_of_a_linear_network_is_the_pc_closed_form():
    """x = mu(x_prev) + e is a bijection, so the minimiser in e is the state-space minimiser.
    In error space the Hessian is I + J^T J (eigenvalues >= 1): gamma = 0.1 contracts by
    <= 0.9 a step, 400 steps reach it to float32 precision."""
    sizes, steps, gamma = (5, 4, 3, 3, 2), 400, 0.1
    params, x0, y = linear_problem(sizes, seed=6)
    want_states, want_energies, _ = linear_equilibrium(params, x0, y)
    prog = program(sizes, activation="linear", output_energy="se", algorithm="epc",
                   inference_steps=steps)
    states, energies, finite = relax(prog, params, x0, y, jnp.float32(gamma))
    assert bool(finite)
    for layer, (got, want) in enumerate(zip(states, want_states), start=1):
        np.testing.assert_allclose(np.asarray(got), want, atol=1e-4, err_msg=f"x_{layer}")
    np.testing.assert_allclose(np.asarray(energies), want_energies, rtol=1e-4, atol=1e-5)
    # the trainer's epc step records the same equilibrium energy at t = T
    rec = first_record(prog, params, x0, y, gamma)
    np.testing.assert_allclose(np.asarray(rec.energy[-1]), want_energies.mean(0), rtol=1e-4,
                               atol=1e-6)
    # and the equilibrium moved energy out of the output node into the hidden ones
    assert (want_energies[:, :-1] > 1e-3).all()
    assert float(rec.energy[-1].sum()) < 0.9 * float(rec.energy[0].sum())


def test_epc_reaches_layer_one_in_one_step_pc_needs_L_minus_1(real_batch):
    """Depth 5, real data. PC: E_l = 0 exactly for t < L - l (the error moves down one layer
    per step), so E_1 is 0 after one step. ePC: one step moves every e_l (they all feed the
    output), so every E_l > 0 at t = 1."""
    x0, y = real_batch
    depth = 5
    sizes = (784, *[16] * (depth - 1), 10)
    params = init_params(jax.random.PRNGKey(7), list(sizes))
    pc = np.asarray(first_record(program(sizes, inference_steps=5), params, x0, y, 0.1).energy)
    epc = np.asarray(
        first_record(program(sizes, inference_steps=5, algorithm="epc"), params, x0, y, 0.1)
        .energy
    )
    # the same forward initialisation: hidden energies exactly 0 in both; the output energy
    # is the same arithmetic compiled into two programs, equal up to one step's rounding
    # (tests/_tolerance.py)
    np.testing.assert_array_equal(pc[0, :-1], epc[0, :-1])
    np.testing.assert_allclose(pc[0, -1], epc[0, -1], rtol=rtol_after(1))
    assert (pc[0, :-1] == 0).all() and pc[0, -1] > 0
    for layer in range(1, depth):
        arrival = depth - layer
        assert (pc[:arrival, layer - 1] == 0).all(), f"pc E_{layer} before t = {arrival}"
        assert (pc[arrival:, layer - 1] > 0).all(), f"pc E_{layer} from t = {arrival}"
    assert pc[1, 0] == 0 and (epc[1:] > 0).all(), epc[1]
    # after the same T = L steps ePC holds orders of magnitude more energy in layer 1
    # (measured: 3.9e-4 vs 4.7e-10)
    assert epc[-1, 0] > 1e3 * pc[-1, 0], (epc[-1], pc[-1])
    # known answer: at e = 0 the hidden terms have zero gradient, so dF/de_l is backprop's
    # d loss / d x_l and one sgd step gives E_l(t = 1) = gamma^2 / 2 ||d loss_i / d x_l||^2
    arch = mlp("tanh")

    def loss_of_nudges(nudges):  # per-sample output loss with x_l = mu_l(x_{l-1}) + nudge_l
        x = x0
        for layer in range(1, depth):
            x = predict(params, layer, x, arch) + nudges[layer - 1]
        logits = predict(params, depth, x, arch)
        return -jnp.sum(y * jax.nn.log_softmax(logits))  # sum over samples: per-sample grads

    zeros = [jnp.zeros((x0.shape[0], n)) for n in sizes[1:-1]]
    deltas = jax.jit(jax.grad(loss_of_nudges))(zeros)
    want = [0.5 * 0.1**2 * float(jnp.mean(jnp.sum(d**2, -1))) for d in deltas]
    np.testing.assert_allclose(epc[1, :-1], want, rtol=1e-3)


# --- layer precision ----------------------------------------------------------------------------


def test_geometric_precision_is_normalised_so_the_largest_is_one():
    assert Config(layer_precision="geometric:2", depth=4).precision == (1, 0.5, 0.25, 0.125)
    assert parse_precision("geometric:0.5", 4) == (0.125, 0.25, 0.5, 1.0)
    assert parse_precision("geometric:1", 3) == (1.0, 1.0, 1.0)
    for ratio, depth in ((3.0, 5), (0.1, 6)):
        weights = np.array(parse_precision(f"geometric:{ratio}", depth))
        np.testing.assert_allclose(weights[:-1] / weights[1:], ratio, rtol=1e-12)  # R per layer
        assert weights.max() == 1.0
    assert parse_precision("1,2,0.5", 3) == (1.0, 2.0, 0.5)  # explicit lists are kept as given
    assert Config(depth=4).precision is None
    with pytest.raises(pcdiag.ConfigError, match="layer_precision"):
        Config(layer_precision="geometric:2,", depth=4)
    with pytest.raises(pcdiag.ConfigError, match="lists 2 weights but depth is 3"):
        Config(layer_precision="1,2", depth=3)


def test_layer_energies_with_precision_are_weighted_unweighted_energies():
    sizes = (6, 5, 4, 3)
    params = gaussian_params(sizes, seed=8)
    rng = np.random.default_rng(9)
    x0 = jnp.asarray(rng.standard_normal((4, 6)), jnp.float32)
    states = tuple(jnp.asarray(rng.standard_normal((4, n)), jnp.float32) for n in sizes[1:-1])
    y = jax.nn.one_hot(jnp.arange(4) % 3, 3)
    precision = (2.0, 0.5, 0.25)
    for output_energy in ("se", "ce"):
        plain = layer_energies(params, x0, states, y, mlp("tanh"), output_energy)
        weighted = layer_energies(params, x0, states, y, mlp("tanh"), output_energy,
                                  precision=precision)
        np.testing.assert_allclose(np.asarray(weighted), np.asarray(plain) * precision,
                                   rtol=1e-6)


def test_precision_weighted_linear_equilibrium_matches_weighted_closed_form():
    """pi = geometric:2 (1, 1/2, 1/4, 1/8): the output error is shared with the hidden nodes
    in proportion to the weights; the equilibrium differs from the unweighted one."""
    sizes, steps, gamma = (5, 4, 3, 3, 2), 1500, 0.2
    params, x0, y = linear_problem(sizes, seed=10)
    precision = parse_precision("geometric:2", 4)
    want_states, want_energies, eig = linear_equilibrium(params, x0, y, precision)
    assert np.max(np.abs(1 - gamma * eig)) ** steps < 1e-6, eig  # the premise: GD converges
    prog = program(sizes, activation="linear", output_energy="se", inference_steps=steps,
                   layer_precision="geometric:2", depth=4)
    assert prog.precision == precision
    states, energies, finite = relax(prog, params, x0, y, jnp.float32(gamma))
    assert bool(finite)
    for layer, (got, want) in enumerate(zip(states, want_states), start=1):
        np.testing.assert_allclose(np.asarray(got), want, atol=1e-4, err_msg=f"x_{layer}")
    np.testing.assert_allclose(np.asarray(energies), want_energies, rtol=1e-4, atol=1e-6)
    plain_states, plain_energies, _ = linear_equilibrium(params, x0, y)
    assert np.abs(plain_states[0] - want_states[0]).max() > 1e-2
    # lower layers carry more weight: less of the error is pushed into them than without
    assert (want_energies[:, -1] / precision[-1] > plain_energies[:, -1]).all()


# --- alignment with backprop ----------------------------------------------------------------------


def direct_cosines(prog, params, x0, y, gamma):
    """PC weight gradient at the inferred states vs jax.grad of output_loss_of, per layer."""
    states, _, _ = relax(prog, params, x0, y, jnp.float32(gamma))

    def mean_f(p):
        return jnp.mean(jnp.sum(layer_energies(p, x0, states, y, prog.net, prog.output_energy,
                                               precision=prog.precision), -1))

    pc = jax.grad(mean_f)(params)
    bp = jax.grad(output_loss_of, argnums=1)(prog, params, x0, y)
    cosines, norms = [], []
    for (pw, pb), (bw, bb) in zip(pc, bp):
        p = np.concatenate([np.ravel(pw), np.ravel(pb)]).astype(np.float64)
        b = np.concatenate([np.ravel(bw), np.ravel(bb)]).astype(np.float64)
        cosines.append(p @ b / np.linalg.norm(p) / np.linalg.norm(b))
        norms.append(np.linalg.norm(p))
    return np.array(cosines), np.array(norms)


ALIGN_SIZES = (784, 64, 64, 10)


def test_bp_cosine_is_near_one_at_small_gamma(real_batch):
    """Depth 3, T = L = 3, gamma = 1e-3, real batch, ce output: to first order in gamma the
    error at layer l is a multiple of backprop's delta_l, so every layer's cosine > 0.99.
    (Layer 1's error is O(gamma^2): float32 rounding caps its cosine near 0.996.)"""
    x0, y = real_batch
    prog = program(ALIGN_SIZES, activation="hard_tanh", inference_steps=3, bp_alignment=True)
    params = init_params(jax.random.PRNGKey(0), list(ALIGN_SIZES))
    cosine = np.asarray(first_record(prog, params, x0, y, 1e-3).bp_cosine)
    assert cosine.shape == (3,)
    assert (cosine > 0.99).all(), cosine


def test_bp_cosine_equals_a_direct_computation(real_batch):
    """At gamma = 0.5 (T = 3) the cosine is clearly below 1 at the top; the recorded value is
    the direct one, and the recorded weight_grad_norm is the norm of the same gradient."""
    x0, y = real_batch
    prog = program(ALIGN_SIZES, activation="hard_tanh", inference_steps=3, bp_alignment=True)
    params = init_params(jax.random.PRNGKey(0), list(ALIGN_SIZES))
    rec = first_record(prog, params, x0, y, 0.5)
    cosines, norms = direct_cosines(prog, params, x0, y, 0.5)
    np.testing.assert_allclose(np.asarray(rec.bp_cosine), cosines, atol=1e-5)
    np.testing.assert_allclose(np.asarray(rec.weight_grad_norm), norms, rtol=1e-4)
    assert cosines.min() < 0.99, cosines  # a case where the cosine is informative


def test_bp_cosine_is_nan_for_bp(real_batch):
    x0, y = real_batch
    prog = program(ALIGN_SIZES, activation="hard_tanh", algorithm="bp", bp_alignment=True)
    params = init_params(jax.random.PRNGKey(0), list(ALIGN_SIZES))
    rec = first_record(prog, params, x0, y, 0.1)
    assert rec.bp_cosine.shape == (3,) and np.isnan(np.asarray(rec.bp_cosine)).all()


# --- more inference steps ------------------------------------------------------------------------


@pytest.mark.slow  # a depth-16, T = 256 program
def test_depth_16_with_256_inference_steps_trains_and_the_front_reaches_layer_1():
    """Depth 16, T = 256, 512 real images, one logged step of 8. The error reaches layer l at
    t = L - l: layer 1 holds exactly 0 for t < 15 (so T < 15 would leave W_1 without a
    gradient) and holds energy at t = T, where its weights get a non-zero gradient.
    (In float32 the front is slower still: measured first non-zero E_1 at t = 52, because
    gamma^k-small updates are absorbed by x_1's rounding; E_1(T) = 1.5e-9 vs E_L = 2.0.)"""
    cfg = Config(data_dir=str(DATA), depth=16, width=32, inference_steps=256, train_limit=512,
                 test_limit=500, batch_size=64, log_every=8, weight_decay=0.0, seed=1)
    ds = pcdiag.train(cfg)
    pcdiag.validate(ds)
    assert int(ds["diverged_at"]) == -1
    assert ds.sizes["step"] == 1 and ds.sizes["t"] == 257 and ds.sizes["layer"] == 16
    assert ds.nbytes < 200_000, ds.nbytes  # records per t and layer, never the states
    energy = ds["energy"].isel(step=0)
    e1 = energy.sel(layer=1).values
    assert (e1[:15] == 0).all(), np.flatnonzero(e1[:15])
    assert e1[-1] > 0
    # every layer l is silent exactly before t = L - l (float32 may keep it 0 a little longer)
    for layer in range(1, 16):
        assert (energy.sel(layer=layer).values[: 16 - layer] == 0).all(), layer
        assert energy.sel(layer=layer).values[-1] > 0, layer
    assert float(ds["weight_grad_norm"].isel(step=0).sel(layer=1)) > 0
    assert (ds["update_norm"] > 0).all()  # every layer's weights moved, W_1 included
    assert np.isfinite(ds["train_loss"]).all() and np.isfinite(ds["test_accuracy"]).all()
