"""Energies of a PCN (pcdiag.energy, pcdiag.model) against hand-derived formulas.

Notation (row vectors, batch first, as in pcdiag.model): a_l = x_{l-1} W_l + b_l,
mu_l = f(a_l) for hidden nodes and mu_L = a_L (logits) for the output node.
e_l = x_l - mu_l for the free hidden nodes l = 1..L-1, and E_l = 1/2 ||e_l||^2.
Output node, clamped to y:  se: E_L = 1/2 ||y - mu_L||^2, so dE_L/dmu_L = mu_L - y;
                            ce: E_L = -y . log softmax(mu_L), so dE_L/dmu_L = softmax(mu_L) - y.
Writing e_L = -dE_L/dmu_L (= y - mu_L for se, y - softmax(mu_L) for ce), every layer obeys
dE_l/dmu_l = -e_l, and with the Jacobian J_{l+1} = dmu_{l+1}/dx_l (= W_{l+1}^T diag f'(a_{l+1})
for a hidden l+1, W_L^T for the output):

    dF/dx_l = e_l - J_{l+1}^T e_{l+1}
            = e_l - (e_{l+1} * f'(a_{l+1})) W_{l+1}^T     (l + 1 < L)
            = e_l - e_L W_L^T                             (l + 1 = L)
    dF/dW_l = -x_{l-1}^T (e_l * f'(a_l)),  dF/db_l = -sum_batch e_l * f'(a_l)   (l < L)
    dF/dW_L = -x_{L-1}^T e_L,              dF/db_L = -sum_batch e_L

F here is the sum over the batch of the per-sample sums over layers.
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from pcdiag.algorithms.infer import forward_init
from pcdiag.energy import layer_energies, output_loss
from pcdiag.nets.base import layer_norms, sums_of_squares
from pcdiag.nets.mlp import init_params, layer_sizes
from tests._nets import forward, mlp, predict

BATCH = 6
N_IN, N_OUT = 5, 4


def _phi(a):
    return np.exp(-0.5 * a * a) / np.sqrt(2 * np.pi)


erf = np.vectorize(math.erf)


def log_softmax(z, axis=-1):
    z = z - z.max(axis=axis, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=axis, keepdims=True))


def softmax(z, axis=-1):
    return np.exp(log_softmax(z, axis))


#: activation -> (f, f') in float64 numpy, written out by hand
ACT = {
    "tanh": (np.tanh, lambda a: 1 - np.tanh(a) ** 2),
    "linear": (lambda a: a, np.ones_like),
    "hard_tanh": (lambda a: np.clip(a, -1, 1), lambda a: (np.abs(a) < 1).astype(float)),
    "relu": (lambda a: np.maximum(a, 0), lambda a: (a > 0).astype(float)),
    "leaky_relu": (lambda a: np.where(a >= 0, a, 0.01 * a), lambda a: np.where(a > 0, 1, 0.01)),
    "gelu": (
        lambda a: a * 0.5 * (1 + erf(a / np.sqrt(2))),
        lambda a: 0.5 * (1 + erf(a / np.sqrt(2))) + a * _phi(a),
    ),
}


def network(depth, seed=0, scale=1.5, n_hidden=(7, 7, 7)):
    """Random params (W_l ~ N(0, scale^2 / fan_in), so hard_tanh and relu hit both regimes),
    an input batch, free states away from forward initialisation and one-hot targets."""
    rng = np.random.default_rng(seed)
    sizes = [N_IN, *n_hidden[: depth - 1], N_OUT]

    def f32(*shape, std=1.0):
        return jnp.asarray(std * rng.standard_normal(shape), jnp.float32)

    params = tuple(
        (f32(n_in, n_out, std=scale / np.sqrt(n_in)), f32(n_out, std=0.3))
        for n_in, n_out in zip(sizes[:-1], sizes[1:])
    )
    x0 = f32(BATCH, N_IN)
    states = tuple(f32(BATCH, n) for n in sizes[1:-1])
    y = jnp.asarray(np.eye(N_OUT)[rng.integers(0, N_OUT, BATCH)], jnp.float32)
    return params, x0, states, y


def as64(tree):
    return jax.tree_util.tree_map(lambda a: np.asarray(a, np.float64), tree)


def hand_forward(params, x0, states, y, activation, output_energy):
    """Pre-activations, predictions, errors e_1..e_L and energies E_1..E_L (float64)."""
    f, _ = ACT[activation]
    params, x0, states, y = as64(params), as64(x0), as64(states), as64(y)
    depth = len(params)
    nodes = [x0, *states]
    pre, mu, err, energy = [], [], [], []
    for layer in range(1, depth + 1):
        w, b = params[layer - 1]
        a = nodes[layer - 1] @ w + b
        pre.append(a)
        if layer < depth:
            mu.append(f(a))
            err.append(states[layer - 1] - mu[-1])
            energy.append(0.5 * np.sum(err[-1] ** 2, axis=-1))
        else:
            mu.append(a)
            if output_energy == "se":
                err.append(y - a)
                energy.append(0.5 * np.sum((y - a) ** 2, axis=-1))
            else:
                err.append(y - softmax(a, axis=-1))
                energy.append(-np.sum(y * log_softmax(a, axis=-1), axis=-1))
    return pre, mu, err, np.stack(energy, axis=-1), nodes


def hand_grads(params, x0, states, y, activation, output_energy):
    """dF/dx_l (l = 1..L-1) and dF/d(W_l, b_l) from the prediction-error formulas above."""
    _, fprime = ACT[activation]
    pre, _, err, _, nodes = hand_forward(params, x0, states, y, activation, output_energy)
    depth = len(params)
    weights = [w for w, _ in as64(params)]
    # local error signal of each layer: e_l * f'(a_l) for hidden, e_L for the linear output
    delta = [err[i] * fprime(pre[i]) for i in range(depth - 1)] + [err[-1]]
    state_grads = tuple(err[k - 1] - delta[k] @ weights[k].T for k in range(1, depth))
    weight_grads = tuple(
        (-nodes[k - 1].T @ delta[k - 1], -np.sum(delta[k - 1], axis=0)) for k in range(1, depth + 1)
    )
    return state_grads, weight_grads


def total_energy(params, x0, states, y, activation, output_energy):
    return jnp.sum(layer_energies(params, x0, states, y, mlp(activation), output_energy))


CASES = [(a, o) for a in ACT for o in ("se", "ce")]


def check_close(got, want, what, rtol=1e-4, atol=2e-5):
    np.testing.assert_allclose(np.asarray(got), want, rtol=rtol, atol=atol, err_msg=what)


#: every activation and output at depth 4 (hidden -> hidden and hidden -> output Jacobians);
#: depth 2 (one hidden node, fed only from the output) for tanh and linear
GRAD_CASES = [(4, a, o) for a, o in CASES] + [
    (2, a, o) for a in ("tanh", "linear") for o in ("se", "ce")
]


@pytest.mark.parametrize(("depth", "activation", "output_energy"), GRAD_CASES)
def test_energies_and_gradients_match_prediction_error_formulas(depth, activation, output_energy):
    """E_l >= 0 and equal to the hand formula; F is their sum; jax.grad of F with respect to
    the free states and to the weights equals the prediction-error expressions."""
    params, x0, states, y = network(depth, seed=depth)
    energies = layer_energies(params, x0, states, y, mlp(activation), output_energy)
    _, _, _, want, _ = hand_forward(params, x0, states, y, activation, output_energy)
    energies = np.asarray(energies)
    assert energies.shape == (BATCH, depth)
    check_close(energies, want, "E_l", rtol=2e-5, atol=1e-6)
    assert (energies >= 0).all()
    assert (energies[:, :-1] > 0).all()  # states away from forward init: every node has error

    total, (weight_grads, state_grads) = jax.value_and_grad(total_energy, argnums=(0, 2))(
        params, x0, states, y, activation, output_energy
    )
    check_close(total, want.sum(), "F = sum of E_l", rtol=2e-5)
    want_states, want_weights = hand_grads(params, x0, states, y, activation, output_energy)
    assert len(state_grads) == depth - 1
    for layer, (g, w) in enumerate(zip(state_grads, want_states), start=1):
        check_close(g, w, f"dF/dx_{layer}")
    for layer, ((gw, gb), (ww, wb)) in enumerate(zip(weight_grads, want_weights), start=1):
        check_close(gw, ww, f"dF/dW_{layer}")
        check_close(gb, wb, f"dF/db_{layer}")

    # mu1 may be passed precomputed: same numbers
    mu1 = predict(params, 1, x0, activation)
    again = layer_energies(params, x0, states, y, mlp(activation), output_energy, mu1=mu1)
    np.testing.assert_array_equal(np.asarray(again), energies)


@pytest.mark.parametrize("output_energy", ["se", "ce"])
def test_single_layer_network_energy_is_the_output_loss(output_energy):
    """Depth 1: no free node; F is the output loss and dF/dW the delta rule."""
    params, x0, states, y = network(1, seed=11)
    assert states == ()
    energies = np.asarray(layer_energies(params, x0, (), y, mlp("tanh"), output_energy))
    logits = forward(params, x0, "tanh")[-1]
    check_close(energies[:, 0], np.asarray(output_loss(logits, y, output_energy)), "E_1", 1e-6)
    grads = jax.grad(total_energy)(params, x0, (), y, "tanh", output_energy)
    _, want = hand_grads(params, x0, (), y, "tanh", output_energy)
    check_close(grads[0][0], want[0][0], "dF/dW_1")
    check_close(grads[0][1], want[0][1], "dF/db_1")


def test_cross_entropy_energy_is_log_sum_exp_minus_target_logit():
    logits = jnp.array([[2.0, -1.0, 0.5], [0.0, 0.0, 0.0], [30.0, -30.0, 0.0]])
    y = jax.nn.one_hot(jnp.array([0, 2, 1]), 3)
    got = np.asarray(output_loss(logits, y, "ce"))
    z = np.asarray(logits, np.float64)
    want = np.log(np.exp(z).sum(-1)) - z[np.arange(3), [0, 2, 1]]
    np.testing.assert_allclose(got, want, rtol=1e-6)
    np.testing.assert_allclose(got[1], np.log(3), rtol=1e-6)  # uniform logits: ln(#classes)
    assert np.isfinite(got).all()  # stable at large logits
    se = np.asarray(output_loss(logits, y, "se"))
    np.testing.assert_allclose(se, 0.5 * ((z - np.asarray(y)) ** 2).sum(-1), rtol=1e-6)


@pytest.mark.parametrize(
    ("activation", "output_energy"), [(a, ("se", "ce")[i % 2]) for i, a in enumerate(ACT)]
)
@pytest.mark.parametrize("jit", [False, True], ids=["eager", "jit"])
def test_forward_initialisation_puts_all_energy_in_the_output_node(activation, output_energy, jit):
    depth = 4
    params, x0, _, y = network(depth, seed=3)

    def energies_at_init(params, x0, y):
        mu1 = predict(params, 1, x0, activation)
        states = forward_init(params, mu1, mlp(activation))
        energies = layer_energies(params, x0, states, y, mlp(activation), output_energy, mu1=mu1)
        return states, energies

    fn = jax.jit(energies_at_init) if jit else energies_at_init
    states, energies = fn(params, x0, y)
    energies = np.asarray(energies)
    assert (energies[:, :-1] == 0).all(), "hidden energies must be exactly 0 at t = 0"
    # the forward-initialised states are the feedforward pass ...
    ff = forward(params, x0, activation)
    for s, x in zip(states, ff[:-1]):
        np.testing.assert_allclose(np.asarray(s), np.asarray(x), rtol=1e-6, atol=1e-7)
    # ... and the output energy is the output loss of the feedforward prediction
    loss = np.asarray(output_loss(ff[-1], y, output_energy))
    np.testing.assert_allclose(energies[:, -1], loss, rtol=1e-6, atol=1e-7)
    assert (energies[:, -1] > 0).all()
    # at forward initialisation only the top hidden node feels a force: dF/dx_l = 0 below it
    grads = jax.grad(total_energy, argnums=2)(params, x0, states, y, activation, output_energy)
    for g in grads[:-1]:
        assert (np.asarray(g) == 0).all()
    assert np.abs(np.asarray(grads[-1])).max() > 0


def test_output_prediction_is_linear_hidden_predictions_use_the_activation():
    params, x0, states, _ = network(3, seed=4, scale=4.0)
    w, b = params[-1]
    np.testing.assert_allclose(
        np.asarray(predict(params, 3, states[-1], "hard_tanh")),
        np.asarray(states[-1] @ w + b),
        rtol=1e-6,
    )
    hidden = np.asarray(predict(params, 1, x0, "hard_tanh"))
    assert np.abs(hidden).max() == 1.0  # saturated: the activation is applied
    pre = np.asarray(x0 @ params[0][0] + params[0][1])
    np.testing.assert_allclose(hidden, np.clip(pre, -1, 1), rtol=1e-6)


def test_init_params_uniform_fan_in_bounds_and_seeded():
    assert layer_sizes(3, 128) == [784, 128, 128, 10]
    assert layer_sizes(1, 128) == [784, 10]
    sizes = [200, 48, 10]
    init = jax.jit(lambda key: init_params(key, sizes))  # one compile, not one per op
    params = init(jax.random.PRNGKey(0))
    for (w, b), n_in, n_out in zip(params, sizes[:-1], sizes[1:]):
        w, b = np.asarray(w), np.asarray(b)
        assert w.shape == (n_in, n_out) and b.shape == (n_out,)
        bound = 1 / np.sqrt(n_in)
        assert np.abs(w).max() <= bound and np.abs(b).max() <= bound
        # U(-c, c) has variance c^2 / 3 and mean 0
        np.testing.assert_allclose(w.var(), bound**2 / 3, rtol=0.1)
        assert abs(w.mean()) < 0.05 * bound
    same, other = init(jax.random.PRNGKey(0)), init(jax.random.PRNGKey(1))
    for (w, _), (w2, _), (w3, _) in zip(params, same, other):
        np.testing.assert_array_equal(np.asarray(w), np.asarray(w2))
        assert not np.allclose(np.asarray(w), np.asarray(w3))


def test_layer_norms_are_frobenius_of_weight_and_bias_together():
    params, *_ = network(3, seed=5)
    want = [np.sqrt(np.sum(np.asarray(w) ** 2) + np.sum(np.asarray(b) ** 2)) for w, b in params]
    np.testing.assert_allclose(np.asarray(layer_norms(params)), want, rtol=1e-6)


def test_layer_norms_of_several_trees_and_sums_of_squares_of_mixed_shapes():
    """Several trees at once (one variadic reduction per layer), under vmap too; arrays of
    different shapes are grouped, each result in its input's place."""
    params, *_ = network(3, seed=5)
    twice = jax.tree_util.tree_map(lambda a: 2 * a, params)
    one = np.asarray(layer_norms(params))
    np.testing.assert_allclose(np.asarray(layer_norms(params, twice)), [one, 2 * one], rtol=1e-6)
    stacked = jax.tree_util.tree_map(lambda a, b: jnp.stack([a, b]), params, twice)
    np.testing.assert_allclose(np.asarray(jax.vmap(layer_norms)(stacked)), [one, 2 * one],
                               rtol=1e-6)
    rng = np.random.default_rng(0)
    arrays = [rng.normal(size=s).astype(np.float32) for s in ((4, 3), (4, 5), (4, 3))]
    for variadic in (True, False, None):  # one variadic reduction per shape, or one each
        got = jax.jit(lambda xs, v=variadic: sums_of_squares(xs, True, v))(
            [jnp.asarray(a) for a in arrays])
        for g, a in zip(got, arrays):
            np.testing.assert_allclose(np.asarray(g), np.sum(a.astype(np.float64) ** 2, axis=1),
                                       rtol=1e-6, err_msg=f"variadic={variadic}")
