"""Property-based tests (hypothesis): config validation over random valid and invalid
values, and the energy invariants on random small networks."""

import math

import jax
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pcdiag import config as config_module
from pcdiag.algorithms import Hyper, Program, init_state, train_step
from pcdiag.algorithms.infer import forward_init
from pcdiag.config import Config, ConfigError, field_names, field_type
from pcdiag.energy import layer_energies
from pcdiag.nets.mlp import init_params
from tests._nets import mlp, predict

SETTINGS = settings(max_examples=25, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow])
FIELDS = set(field_names())
FLOATS = dict(allow_nan=False, allow_infinity=False)


# ------------------------------------------------------------------------------------------
# config validation


@st.composite
def valid_configs(draw) -> dict:
    """Field values a Config must accept (fields this test does not know keep defaults)."""
    dataset = draw(st.sampled_from(config_module.DATASETS))
    values = {
        "dataset": dataset,
        "train_limit": draw(st.none() | st.integers(1, config_module.TRAIN_SIZE[dataset])),
        "test_limit": draw(st.none() | st.integers(1, 10000)),
        "depth": draw(st.integers(1, 64)),
        "width": draw(st.integers(1, 4096)),
        "activation": draw(st.sampled_from(config_module.ACTIVATIONS)),
        "output_energy": draw(st.sampled_from(config_module.OUTPUT_ENERGIES)),
        "algorithm": draw(st.sampled_from(config_module.ALGORITHMS)),
        "inference_steps": draw(st.integers(1, 1000)),
        "gamma": draw(st.floats(1e-6, 1e3, **FLOATS)),
        "gamma_convention": draw(st.sampled_from(config_module.GAMMA_CONVENTIONS)),
        "state_optimizer": draw(st.sampled_from(config_module.STATE_OPTIMIZERS)),
        "state_momentum": draw(st.floats(0, 1, **FLOATS)),
        "weight_optimizer": draw(st.sampled_from(config_module.WEIGHT_OPTIMIZERS)),
        "weight_lr": draw(st.floats(1e-8, 1e2, **FLOATS) | st.integers(1, 10)),
        "momentum": draw(st.floats(0, 1, **FLOATS)),
        "weight_decay": draw(st.floats(0, 1, **FLOATS)),
        "epochs": draw(st.integers(1, 100)),
        "seed": draw(st.integers(0, 2**31 - 1)),
        "log_every": draw(st.integers(1, 1000)),
        "record_inference": draw(st.booleans()),
        "memory_limit_gb": draw(st.none() | st.floats(1e-3, 1e6, **FLOATS)),
        "data_dir": draw(st.none() | st.text(min_size=1, max_size=20)),
    }
    n_train = values["train_limit"] or config_module.TRAIN_SIZE[dataset]
    values["batch_size"] = draw(st.integers(1, min(n_train, 4096)))
    if "skip" in FIELDS:
        values["skip"] = draw(st.booleans())
    if "parameterization" in FIELDS:
        values["parameterization"] = draw(st.sampled_from(config_module.PARAMETERIZATIONS))
    if "layer_precision" in FIELDS:
        ratio = draw(st.floats(0.5, 2.0, **FLOATS))
        weights = draw(st.lists(st.floats(1e-3, 1e3, **FLOATS), min_size=values["depth"],
                                max_size=values["depth"]))
        values["layer_precision"] = draw(st.sampled_from(
            [None, f"geometric:{ratio}", ",".join(map(repr, weights))]))
    if "epc_weight_update" in FIELDS:  # a setting of epc's step: "local" for the others
        values["epc_weight_update"] = (draw(st.sampled_from(config_module.EPC_WEIGHT_UPDATES))
                                       if values["algorithm"] == "epc" else "local")
    if "bp_alignment" in FIELDS:
        values["bp_alignment"] = draw(st.booleans())
    if "hessian_samples" in FIELDS:
        values["hessian_samples"] = draw(st.integers(0, values["batch_size"]))
    return {k: v for k, v in values.items() if k in FIELDS}


@SETTINGS
@given(valid_configs())
def test_random_valid_configs_construct_and_round_trip(values):
    cfg = Config(**values)
    assert Config.from_json(cfg.to_json()) == cfg
    assert cfg.replace() == cfg


def _wrong_type(name: str):
    """Values of the wrong type for field `name`."""
    kind = field_type(name)
    if kind is bool:
        return st.sampled_from([0, 1, "true", None, 1.0])
    if kind is int:
        return st.sampled_from(["3", 2.5, 3.0, True]) | st.integers(-1000, 0).map(str)
    if kind is float:
        return st.sampled_from(["0.1", True, math.nan, math.inf, -math.inf, [0.1]])
    return st.integers() | st.floats() | st.just(True)  # str fields


RANGE = {  # values of the right type outside what the field allows
    "train_limit": st.integers(-5, 0) | st.integers(60001, 10**7),
    "test_limit": st.integers(-5, 0) | st.integers(10001, 10**7),
    "depth": st.integers(-5, 0),
    "width": st.integers(-5, 0),
    "inference_steps": st.integers(-5, 0),
    "gamma": st.floats(-1e3, 0, **FLOATS),
    "state_momentum": st.floats(-1e3, -1e-9, **FLOATS) | st.floats(1.0001, 1e3, **FLOATS),
    "weight_lr": st.floats(-1e3, 0, **FLOATS),
    "momentum": st.floats(-1e3, -1e-9, **FLOATS) | st.floats(1.0001, 1e3, **FLOATS),
    "weight_decay": st.floats(-1e3, -1e-9, **FLOATS),
    "batch_size": st.integers(-5, 0) | st.integers(60001, 10**6),
    "epochs": st.integers(-5, 0),
    "seed": st.integers(-10**6, -1),
    "log_every": st.integers(-5, 0),
    "hessian_samples": st.integers(-5, -1) | st.integers(65, 1000),  # default batch_size 64
    "memory_limit_gb": st.floats(-1e3, 0, **FLOATS),
    "layer_precision": st.sampled_from(["geometric:-1", "1,2", "geometric:x", "1,0,1", ""]),
}
CHOICES = ("dataset", "activation", "output_energy", "algorithm", "gamma_convention",
           "state_optimizer", "weight_optimizer", "parameterization", "epc_weight_update")


@st.composite
def invalid_values(draw):
    name = draw(st.sampled_from(sorted(FIELDS)))
    options = _wrong_type(name)
    if name in RANGE:
        options = options | RANGE[name]
    if name in CHOICES:
        options = options | st.text(max_size=12).map(lambda s: "not-" + s)
    value = draw(options)
    return name, value


@SETTINGS
@given(invalid_values())
def test_random_invalid_values_raise_config_error_naming_the_field(case):
    name, value = case
    if name == "data_dir" and isinstance(value, str):
        return  # any path string is a valid data_dir
    with pytest.raises(ConfigError) as error:
        Config(**{name: value})
    assert str(error.value).startswith(f"{name}="), str(error.value)


# ------------------------------------------------------------------------------------------
# energy invariants on random small networks

ACTIVATIONS = {
    "hard_tanh": lambda x: np.clip(x, -1, 1),
    "tanh": np.tanh,
    "relu": lambda x: np.maximum(x, 0),
    "leaky_relu": lambda x: np.where(x >= 0, x, 0.01 * x),
    "gelu": lambda x: 0.5 * x * (1 + np.vectorize(math.erf)(x / math.sqrt(2))),
    "linear": lambda x: x,
}


@st.composite
def networks(draw):
    # few distinct shapes, so JAX's per-shape op cache is reused across examples
    depth = draw(st.integers(1, 3))
    sizes = [4] + [draw(st.sampled_from([3, 5])) for _ in range(depth - 1)] + [3]
    batch = 3
    activation = draw(st.sampled_from(sorted(ACTIVATIONS)))
    output_energy = draw(st.sampled_from(["se", "ce"]))
    seed = draw(st.integers(0, 2**16))
    scale = draw(st.floats(0.1, 10, **FLOATS))
    return sizes, batch, activation, output_energy, seed, scale


def _reference(params, x0, states, y, activation, output_energy):
    """Per-sample energies in float64 numpy, written out from the definitions."""
    f = ACTIVATIONS[activation]
    nodes = [np.asarray(x0, np.float64)] + [np.asarray(s, np.float64) for s in states]
    out = []
    for layer, (w, b) in enumerate(params, start=1):
        pre = nodes[layer - 1] @ np.asarray(w, np.float64) + np.asarray(b, np.float64)
        if layer < len(params):
            out.append(0.5 * np.sum((nodes[layer] - f(pre)) ** 2, axis=-1))
        elif output_energy == "se":
            out.append(0.5 * np.sum((y - pre) ** 2, axis=-1))
        else:
            shifted = pre - pre.max(axis=-1, keepdims=True)
            log_p = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
            out.append(-np.sum(y * log_p, axis=-1))
    return np.stack(out, axis=-1)


@SETTINGS
@given(networks())
@pytest.mark.slow  # a program per random network
def test_energy_invariants_on_random_networks(net):
    sizes, batch, activation, output_energy, seed, scale = net
    keys = jax.random.split(jax.random.PRNGKey(seed), 4)
    params = init_params(keys[0], sizes)
    x0 = scale * jax.random.normal(keys[1], (batch, sizes[0]))
    y = jax.nn.one_hot(jax.random.randint(keys[2], (batch,), 0, sizes[-1]), sizes[-1])
    mu1 = predict(params, 1, x0, activation)

    # forward initialisation: every hidden energy is exactly 0, the output's is >= 0
    at_init = np.asarray(layer_energies(params, x0, forward_init(params, mu1, mlp(activation)), y,
                                        mlp(activation), output_energy))
    assert at_init.shape == (batch, len(sizes) - 1)
    assert np.all(at_init[:, :-1] == 0.0)
    assert np.all(at_init[:, -1] >= 0)

    # random states: every E_l >= 0, each equals its definition, and F is their sum
    states = tuple(scale * jax.random.normal(k, (batch, n))
                   for k, n in zip(jax.random.split(keys[3], len(sizes)), sizes[1:-1]))
    energies = np.asarray(layer_energies(params, x0, states, y, mlp(activation), output_energy))
    assert np.all(energies >= 0)
    expected = _reference(params, x0, states, y, activation, output_energy)
    np.testing.assert_allclose(energies, expected, rtol=2e-5, atol=1e-5)
    np.testing.assert_allclose(energies.sum(-1), expected.sum(-1), rtol=2e-5, atol=1e-5)


PROGRAMS = [  # fixed shapes, so each compiles once; hypothesis varies weights, data and gamma
    Config(depth=3, width=6, activation="tanh", output_energy="se", inference_steps=12,
           batch_size=4, train_limit=64),
    Config(depth=2, width=5, activation="hard_tanh", output_energy="ce", inference_steps=12,
           batch_size=4, train_limit=64),
]
_STEP = jax.jit(train_step, static_argnums=(0, 5))


@SETTINGS
@given(st.sampled_from(PROGRAMS), st.integers(0, 2**16), st.floats(1e-3, 0.05, **FLOATS),
       st.floats(0.2, 3.0, **FLOATS))
def test_energy_does_not_increase_over_inference_at_small_gamma(cfg, seed, gamma, scale):
    cfg = cfg.replace(gamma=gamma, state_optimizer="sgd", algorithm="pc")
    prog, hyper = Program.from_config(cfg), Hyper.from_config(cfg)
    key_init, key_x, key_y = jax.random.split(jax.random.PRNGKey(seed), 3)
    state = init_state(prog, hyper, key_init)
    x0 = scale * jax.random.normal(key_x, (cfg.batch_size, 784))
    y = jax.nn.one_hot(jax.random.randint(key_y, (cfg.batch_size,), 0, 10), 10)
    _, record = _STEP(prog, hyper, state, x0, y, True)
    energy = np.asarray(record.energy, np.float64)  # (T+1, L)
    assert np.all(energy >= 0)
    assert np.all(energy[0, :-1] == 0)  # forward initialisation
    total = energy.sum(-1)
    assert np.all(np.diff(total) <= 1e-5 * total[:-1] + 1e-7), total
    assert total[-1] < total[0]  # and it moves

