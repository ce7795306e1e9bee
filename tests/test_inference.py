"""The inference loop (pcdiag.infer) against closed forms and exact invariants.

- a linear PCN's equilibrium is the solution of a linear system, its minimal energy the
  Mahalanobis norm of the output residual;
- plain gradient descent on F at a small gamma lowers F at every step;
- at forward initialisation the error enters at the top and moves down one layer per step;
- the gamma conventions: batch_mean at gamma * B is per_sample at gamma, and per_sample
  trajectories do not depend on the rest of the batch;
- the training step's t = T record is the energy after the T-th update;
- near equilibrium with a small output error, the PC weight gradient is the backprop gradient.
"""

import dataclasses
import os
from functools import partial
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from pcdiag import data as data_module
from pcdiag.algorithms import Hyper, Program, TrainState, train_step, weight_optimizer
from pcdiag.algorithms.infer import forward_init, infer
from pcdiag.config import Config
from pcdiag.energy import layer_energies, output_loss
from tests._nets import forward, mlp, predict, with_sizes

DATA = Path(
    os.environ.get("PCDIAG_DATA") or Path(__file__).resolve().parents[2] / "shared" / "data"
)


def program(sizes, **changes) -> Program:
    """A Program for a tiny synthetic or real network of the given node sizes."""
    defaults = dict(activation="tanh", output_energy="ce", state_optimizer="sgd")
    cfg = Config(**(defaults | changes))
    return with_sizes(Program.from_config(cfg), sizes)


@partial(jax.jit, static_argnums=0)
def relax(prog, params, x0, y, gamma):
    """Forward-initialise, run pcdiag.infer, and read the energies at the final states."""
    mu1 = predict(params, 1, x0, prog.net)

    def energies_of(states, batch_sum):
        return layer_energies(
            params, x0, states, y, prog.net, prog.output_energy, mu1=mu1,
            precision=prog.precision, batch_sum=batch_sum,
        )

    def energy_fn(states):
        sums = energies_of(states, True)
        return jnp.sum(sums), sums

    states, record, finite = infer(
        energy_fn, forward_init(params, mu1, prog.net), gamma, prog, True, x0.shape[0]
    )
    return states, record, finite, energies_of(states, False)


@pytest.fixture(scope="module")
def real_batch():
    """64 real Fashion-MNIST images (standardised) and their one-hot labels."""
    train, _ = data_module.load("fashion-mnist", DATA, train_limit=64, test_limit=1)
    return jnp.asarray(train.images), jax.nn.one_hot(jnp.asarray(train.labels), 10)


def real_net(depth, width=32, seed=0):
    """pcdiag's standard initialisation, U(-1/sqrt(fan_in), 1/sqrt(fan_in)), drawn by numpy
    (cheaper in a test than compiling jax.random for every shape)."""
    rng = np.random.default_rng(seed)
    sizes = [784] + [width] * (depth - 1) + [10]
    return tuple(
        (
            jnp.asarray(rng.uniform(-1, 1, (i, o)) / np.sqrt(i), jnp.float32),
            jnp.asarray(rng.uniform(-1, 1, o) / np.sqrt(i), jnp.float32),
        )
        for i, o in zip(sizes[:-1], sizes[1:])
    )


#: the network most tests share (one compiled program): 784-32-32-10, tanh, ce, T = 10
NET = (784, 32, 32, 10)
STEPS = 10
BATCH = 16


# --- linear network: closed form --------------------------------------------------------------


def linear_equilibrium(params, x0, y):
    """Per sample: F(z) = 1/2 ||M z - c||^2 over z = (x_1, ..., x_{L-1}) stacked; the free
    states minimising it and the minimal F, in float64.

    Blocks (column vectors, A_l = W_l^T): layer 1 gives x_1 - (A_1 x_0 + b_1); layer
    1 < l < L gives x_l - A_l x_{l-1} - b_l; the output layer gives y - A_L x_{L-1} - b_L.
    """
    a = [np.asarray(w, np.float64).T for w, _ in params]
    b = [np.asarray(bias, np.float64) for _, bias in params]
    x0, y = np.asarray(x0, np.float64), np.asarray(y, np.float64)
    depth = len(params)
    sizes = [m.shape[0] for m in a[:-1]]
    offsets = np.concatenate([[0], np.cumsum(sizes)])
    rows = sum(m.shape[0] for m in a)
    states, energies, hessian = [], [], None
    for x_in, target in zip(x0, y):
        m = np.zeros((rows, offsets[-1]))
        c = np.zeros(rows)
        r = 0
        for layer in range(1, depth + 1):
            n = a[layer - 1].shape[0]
            if layer < depth:  # x_l - A_l x_{l-1} - b_l
                m[r : r + n, offsets[layer - 1] : offsets[layer]] = np.eye(n)
                c[r : r + n] = b[layer - 1]
            else:  # the clamped output: y - A_L x_{L-1} - b_L
                c[r : r + n] = b[layer - 1] - target
            if layer == 1:
                c[r : r + n] += a[0] @ x_in
            else:
                m[r : r + n, offsets[layer - 2] : offsets[layer - 1]] = -a[layer - 1]
            r += n
        z = np.linalg.solve(m.T @ m, m.T @ c)
        states.append(np.split(z, offsets[1:-1]))
        energies.append(0.5 * np.sum((m @ z - c) ** 2))
        hessian = m.T @ m
    per_layer = [np.stack([s[i] for s in states]) for i in range(depth - 1)]
    return per_layer, np.array(energies), np.linalg.eigvalsh(hessian)


def gaussian_min_energy(params, x0, y):
    """The same minimum from the generative model: x_l = A_l x_{l-1} + b_l + n_l with unit
    Gaussian noise at every layer, so y ~ N(feedforward(x0), S) with
    S = I + sum_{k=1}^{L-1} P_k P_k^T, P_k = A_L ... A_{k+1}; min_z F = 1/2 r^T S^-1 r."""
    a = [np.asarray(w, np.float64).T for w, _ in params]
    depth = len(params)
    cov = np.eye(a[-1].shape[0])
    for k in range(1, depth):
        prop = np.eye(a[k].shape[1])
        for layer in range(k + 1, depth + 1):
            prop = a[layer - 1] @ prop
        cov += prop @ prop.T
    out = np.asarray(x0, np.float64)
    for w, b in params:
        out = out @ np.asarray(w, np.float64) + np.asarray(b, np.float64)
    resid = np.asarray(y, np.float64) - out
    return 0.5 * np.einsum("bi,ij,bj->b", resid, np.linalg.inv(cov), resid)


@pytest.mark.parametrize("sizes", [(4, 3, 2), (5, 4, 3, 2)], ids=str)
def test_linear_network_relaxes_to_closed_form_equilibrium(sizes):
    steps, gamma = 1500, 0.1
    prog = program(sizes, activation="linear", output_energy="se", inference_steps=steps)
    rng = np.random.default_rng(len(sizes))
    params = tuple(
        (
            jnp.asarray(rng.standard_normal((i, o)) / np.sqrt(i), jnp.float32),
            jnp.asarray(0.5 * rng.standard_normal(o), jnp.float32),
        )
        for i, o in zip(sizes[:-1], sizes[1:])
    )
    x0 = jnp.asarray(rng.standard_normal((5, sizes[0])), jnp.float32)
    y = jnp.asarray(rng.standard_normal((5, sizes[-1])), jnp.float32)  # far from the prediction

    want_states, want_energy, eig = linear_equilibrium(params, x0, y)
    # the test's own premise: gradient descent at this gamma contracts to < 1e-6 in T steps
    assert np.max(np.abs(1 - gamma * eig)) ** steps < 1e-6, eig
    np.testing.assert_allclose(want_energy, gaussian_min_energy(params, x0, y), rtol=1e-9)

    states, record, finite, final = relax(prog, params, x0, y, jnp.float32(gamma))
    assert bool(finite)
    for layer, (got, want) in enumerate(zip(states, want_states), start=1):
        np.testing.assert_allclose(np.asarray(got), want, atol=1e-4, err_msg=f"x_{layer}")
    np.testing.assert_allclose(np.asarray(final).sum(-1), want_energy, rtol=1e-4, atol=1e-5)
    # relaxation lowered the energy from the feedforward output loss to the minimum
    e0 = np.asarray(record.energy[0])
    ff_loss = np.asarray(output_loss(forward(params, x0, "linear")[-1], y, "se"))
    np.testing.assert_allclose(e0[-1], ff_loss.mean(), rtol=1e-5)
    assert want_energy.mean() < 0.9 * ff_loss.mean()
    # the record's last t (one step before the end) is already at the minimum
    np.testing.assert_allclose(
        np.asarray(record.energy[-1]).sum(), want_energy.mean(), rtol=1e-4, atol=1e-5
    )


# --- descent and the direction of the flow ------------------------------------------------------


DEEP = (784, 24, 24, 24, 24, 10)


@pytest.mark.parametrize("activation", ["tanh", "hard_tanh"])
def test_energy_decreases_monotonically_with_small_sgd_steps(real_batch, activation):
    x0, y = real_batch
    prog = program(DEEP, activation=activation, inference_steps=40)
    _, record, finite, final = relax(prog, real_net(5, 24), x0, y, jnp.float32(0.05))
    assert bool(finite)
    energy = np.concatenate([np.asarray(record.energy), np.asarray(final).mean(0)[None]])
    total = energy.sum(-1)
    steps = np.diff(total)
    assert (steps <= 1e-6 * total[0]).all(), f"F rose at t = {np.flatnonzero(steps > 0)}"
    assert total[-1] < 0.99 * total[0]  # and it actually moved
    # energy leaves the output node and spreads into the hidden ones
    assert energy[-1, -1] < energy[0, -1]
    assert (energy[-1, :-1] > 0).all() and (energy[0, :-1] == 0).all()


def test_error_moves_down_one_layer_per_inference_step(real_batch):
    """At t = 0 only the output node holds energy; E_l becomes non-zero exactly at t = L - l
    (l < L), and dF/dx_l becomes non-zero exactly at t = L - 1 - l."""
    x0, y = real_batch
    depth = len(DEEP) - 1
    prog = program(DEEP, inference_steps=40)
    _, record, _, _ = relax(prog, real_net(depth, 24), x0, y, jnp.float32(0.05))
    energy, grad = np.asarray(record.energy), np.asarray(record.state_grad_norm)
    assert np.isnan(grad[:, -1]).all()  # the clamped output node has no state gradient
    for layer in range(1, depth):
        arrival = depth - layer
        assert (energy[:arrival, layer - 1] == 0).all(), f"E_{layer} before t = {arrival}"
        assert (energy[arrival:, layer - 1] > 0).all(), f"E_{layer} from t = {arrival}"
        assert (grad[: arrival - 1, layer - 1] == 0).all(), f"dF/dx_{layer} early"
        assert (grad[arrival - 1 :, layer - 1] > 0).all(), f"dF/dx_{layer} late"


def test_recorded_state_gradient_norm_is_batch_mean_of_per_sample_norms(real_batch):
    """At t = 0, dF_i/dx_{L-1} = -e_L W_L^T with e_L = y - softmax(mu_L) (ce output)."""
    x0, y = real_batch[0][:BATCH], real_batch[1][:BATCH]
    params = real_net(3)
    _, record, _, _ = relax(program(NET, inference_steps=STEPS), params, x0, y, 0.1)
    logits = np.asarray(x0, np.float64).reshape(len(x0), -1)  # the MLP flattens the images
    for w, b in params[:-1]:
        logits = np.tanh(logits @ np.asarray(w, np.float64) + np.asarray(b, np.float64))
    w_out = np.asarray(params[-1][0], np.float64)
    logits = logits @ w_out + np.asarray(params[-1][1], np.float64)
    soft = np.exp(logits - logits.max(-1, keepdims=True))
    soft /= soft.sum(-1, keepdims=True)
    grad = (soft - np.asarray(y)) @ w_out.T
    want = np.linalg.norm(grad, axis=-1).mean()
    np.testing.assert_allclose(float(record.state_grad_norm[0, -2]), want, rtol=1e-5)
    assert (np.asarray(record.state_grad_norm[0, :-2]) == 0).all()


# --- the gamma conventions ----------------------------------------------------------------------


def test_batch_mean_at_gamma_times_b_is_per_sample_at_gamma(real_batch):
    """sgd: the batch_mean convention divides each sample's state gradient by B, so it moves
    each sample B times less at the same gamma; at gamma * B it is the per_sample run."""
    x0, y = real_batch[0][:BATCH], real_batch[1][:BATCH]
    params = real_net(3)
    per_sample = relax(program(NET, inference_steps=STEPS), params, x0, y, 0.1)
    batch_prog = program(NET, inference_steps=STEPS, gamma_convention="batch_mean")
    batch_mean = relax(batch_prog, params, x0, y, 0.1 * BATCH)
    for a, b in zip(per_sample[0], batch_mean[0]):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-6)
    for a, b in zip(per_sample[1][:2], batch_mean[1][:2]):  # energies and gradient norms per t
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-7)
    # and at the same gamma the two differ
    slow = relax(batch_prog, params, x0, y, 0.1)
    assert not np.allclose(np.asarray(slow[0][-1]), np.asarray(per_sample[0][-1]), atol=1e-3)


@pytest.mark.parametrize("state_optimizer", ["sgd", "adam"])
def test_per_sample_trajectory_does_not_depend_on_the_batch(real_batch, state_optimizer):
    x0, y = real_batch[0][:BATCH], real_batch[1][:BATCH]
    params = real_net(3)
    prog = program(NET, inference_steps=STEPS, state_optimizer=state_optimizer)
    alone = relax(prog, params, x0[3:4], y[3:4], 0.1)
    inside = relax(prog, params, x0, y, 0.1)
    for a, b in zip(alone[0], inside[0]):
        np.testing.assert_allclose(np.asarray(a)[0], np.asarray(b)[3], rtol=2e-5, atol=1e-6)
    np.testing.assert_allclose(
        np.asarray(alone[3])[0], np.asarray(inside[3])[3], rtol=2e-5, atol=1e-7
    )
    if state_optimizer == "sgd":  # contrast: on the batch-mean convention the batch matters
        batch_prog = program(NET, inference_steps=STEPS, gamma_convention="batch_mean")
        inside_mean = relax(batch_prog, params, x0, y, 0.1)
        assert not np.allclose(
            np.asarray(inside_mean[0][-1])[3], np.asarray(alone[0][-1])[0], atol=1e-3
        )


# --- the training step's record and its relation to backprop -------------------------------------


def step_record(prog, params, x0, y, gamma=0.1):
    hyper = Hyper.from_config(Config(gamma=float(gamma), weight_lr=1e-3, momentum=0.9,
                                     weight_decay=0.0))
    state = TrainState(
        params, weight_optimizer(prog, hyper).init(params), jax.random.PRNGKey(0),
        jnp.int32(0), jnp.int32(-1),
    )
    step = jax.jit(train_step, static_argnums=(0, 5))
    return step(prog, hyper, state, x0, y, True)


def test_pc_step_records_t_0_to_T_with_T_after_the_last_update(real_batch):
    x0, y = real_batch[0][:BATCH], real_batch[1][:BATCH]
    prog = program(NET, inference_steps=STEPS)
    params = real_net(3)
    _, rec = step_record(prog, params, x0, y)
    _, record, _, final = relax(prog, params, x0, y, 0.1)
    assert rec.energy.shape == (STEPS + 1, 3)
    np.testing.assert_allclose(np.asarray(rec.energy[:STEPS]), np.asarray(record.energy),
                               rtol=1e-5)
    np.testing.assert_allclose(np.asarray(rec.energy[STEPS]), np.asarray(final).mean(0),
                               rtol=1e-5)
    np.testing.assert_allclose(
        np.asarray(rec.state_grad_norm[:STEPS]), np.asarray(record.state_grad_norm), rtol=1e-5
    )
    # the t = T gradient norm is per-sample too (not divided by the batch size)
    last, before = np.asarray(rec.state_grad_norm[STEPS]), np.asarray(record.state_grad_norm[-1])
    np.testing.assert_allclose(last[:-1], before[:-1], rtol=0.2)
    ff = forward(params, x0, "tanh")[-1]
    np.testing.assert_allclose(float(rec.train_loss), float(jnp.mean(output_loss(ff, y, "ce"))),
                               rtol=1e-6)


@pytest.mark.parametrize("beta", [1.0, 1e-3])
def test_pc_weight_gradient_approaches_backprop_with_weak_output_nudge(real_batch, beta):
    """Output precision beta (F = E_1 + E_2 + beta E_3), target = feedforward output + a small
    perturbation, se output. At equilibrium, to first order in beta, e_l = beta * delta_l of
    backprop, so dF/dtheta / beta -> the backprop gradient of 1/2 ||y - mu_L||^2 as beta -> 0.
    At beta = 1 the equilibrium shares the output error with the hidden nodes (for a linear
    net e_L = S^-1 r, S = I + sum P_k P_k^T), so the gradients are smaller than backprop's but
    still closely aligned; the figures below are what this network gives."""
    x0 = real_batch[0][:BATCH]
    params = real_net(3, 32, seed=3)
    out = forward(params, x0, "tanh")[-1]
    y = out + 0.05 * np.random.default_rng(5).standard_normal(out.shape).astype(np.float32)
    prog = program(NET, output_energy="se", inference_steps=400)
    prog = dataclasses.replace(prog, layer_precision=f"1,1,{beta!r}")
    states, _, _, _ = relax(prog, params, x0, y, jnp.float32(0.2))

    def mean_f(p):
        energies = layer_energies(p, x0, states, y, mlp("tanh"), "se", precision=prog.precision)
        return jnp.mean(jnp.sum(energies, -1))

    def bp_loss(p):
        return jnp.mean(output_loss(forward(p, x0, "tanh")[-1], y, "se"))

    pc, bp = jax.grad(mean_f)(params), jax.grad(bp_loss)(params)
    cosines, ratios = [], []
    for (pw, pb), (bw, bb) in zip(pc, bp):
        p = np.concatenate([np.ravel(pw), np.ravel(pb)]).astype(np.float64) / beta
        b = np.concatenate([np.ravel(bw), np.ravel(bb)]).astype(np.float64)
        cosines.append(p @ b / np.linalg.norm(p) / np.linalg.norm(b))
        ratios.append(np.linalg.norm(p) / np.linalg.norm(b))
    cosines, ratios = np.array(cosines), np.array(ratios)
    if beta < 1:
        assert (cosines > 0.999).all(), cosines
        np.testing.assert_allclose(ratios, 1.0, rtol=0.01)
    else:
        assert (cosines > 0.95).all(), cosines
        assert (ratios < 0.95).all() and (ratios > 0.3).all(), ratios
    if beta == 1:
        return
    # the trainer's bp_alignment record measures the same cosine
    _, rec = step_record(dataclasses.replace(prog, bp_alignment=True), params, x0, y, 0.2)
    np.testing.assert_allclose(np.asarray(rec.bp_cosine), cosines, atol=1e-3)
