"""pcdiag.config: every rejected value names the field and the rule; JSON round trips."""

import dataclasses
import json
import math

import pytest

from pcdiag.config import (
    ACTIVATIONS,
    ALGORITHMS,
    DATASETS,
    GAMMA_CONVENTIONS,
    OUTPUT_ENERGIES,
    STATE_OPTIMIZERS,
    WEIGHT_OPTIMIZERS,
    Config,
    ConfigError,
    field_names,
)

POSITIVE = "must be a finite number > 0"
UNIT = r"must be a finite number >= 0(\.0)? and <= 1(\.0)?"
INT_GE_1 = "must be an integer >= 1"

# (changes, regex the message must match): the field name, the bad value, the rule.
REJECTED = [
    ({"gamma": 0.0}, rf"gamma=0\.0 is invalid: {POSITIVE}"),
    ({"gamma": -0.1}, rf"gamma=-0\.1 is invalid: {POSITIVE}"),
    ({"gamma": math.nan}, rf"gamma=nan is invalid: {POSITIVE}"),
    ({"gamma": math.inf}, rf"gamma=inf is invalid: {POSITIVE}"),
    ({"gamma": -math.inf}, rf"gamma=-inf is invalid: {POSITIVE}"),
    ({"gamma": "0.1"}, rf"gamma='0\.1' is invalid: {POSITIVE}"),
    ({"gamma": True}, rf"gamma=True is invalid: {POSITIVE}"),
    ({"weight_lr": 0.0}, rf"weight_lr=0\.0 is invalid: {POSITIVE}"),
    ({"inference_steps": 0}, rf"inference_steps=0 is invalid: {INT_GE_1}"),
    ({"depth": 0}, rf"depth=0 is invalid: {INT_GE_1}"),
    ({"depth": 2.5}, rf"depth=2\.5 is invalid: {INT_GE_1}"),
    ({"depth": True}, rf"depth=True is invalid: {INT_GE_1}"),
    ({"depth": "3"}, rf"depth='3' is invalid: {INT_GE_1}"),
    ({"width": 0}, rf"width=0 is invalid: {INT_GE_1}"),
    ({"width": True}, rf"width=True is invalid: {INT_GE_1}"),
    ({"batch_size": 0}, rf"batch_size=0 is invalid: {INT_GE_1}"),
    ({"batch_size": False}, rf"batch_size=False is invalid: {INT_GE_1}"),
    ({"epochs": 0}, rf"epochs=0 is invalid: {INT_GE_1}"),
    ({"log_every": 0}, rf"log_every=0 is invalid: {INT_GE_1}"),
    ({"norms_every": 0}, rf"norms_every=0 is invalid: {INT_GE_1}"),
    ({"norms_every": 2.5}, rf"norms_every=2.5 is invalid: {INT_GE_1}"),
    ({"seed": -1}, r"seed=-1 is invalid: must be an integer >= 0"),
    ({"seed": True}, r"seed=True is invalid: must be an integer >= 0"),
    ({"train_limit": 0}, rf"train_limit=0 is invalid: {INT_GE_1}"),
    ({"test_limit": 0}, rf"test_limit=0 is invalid: {INT_GE_1}"),
    (
        {"train_limit": 60001},
        r"train_limit=60001 is invalid: fashion-mnist has only 60000 examples",
    ),
    (
        {"dataset": "mnist", "train_limit": 60001},
        r"train_limit=60001 is invalid: mnist has only 60000 examples",
    ),
    ({"test_limit": 10001}, r"test_limit=10001 is invalid: fashion-mnist has only 10000"),
    (
        {"train_limit": 100, "batch_size": 101},
        r"batch_size=101 is invalid: larger than the training set \(100 examples\); "
        r"lower batch_size or raise train_limit",
    ),
    ({"momentum": 1.5}, rf"momentum=1\.5 is invalid: {UNIT}"),
    ({"momentum": -0.1}, rf"momentum=-0\.1 is invalid: {UNIT}"),
    ({"state_momentum": 1.01}, rf"state_momentum=1\.01 is invalid: {UNIT}"),
    ({"weight_decay": -1e-4}, r"weight_decay=-0\.0001 is invalid: must be a finite number >= 0"),
    ({"weight_decay": math.inf}, r"weight_decay=inf is invalid: must be a finite number >= 0"),
    ({"record_inference": 1}, r"record_inference=1 is invalid: must be true or false"),
    ({"data_dir": 3}, r"data_dir=3 is invalid: must be a path string or None"),
]

CHOICES = [
    ("activation", "sigmoid", ACTIVATIONS),
    ("output_energy", "mse", OUTPUT_ENERGIES),
    ("algorithm", "hebbian", ALGORITHMS),
    ("gamma_convention", "batch", GAMMA_CONVENTIONS),
    ("state_optimizer", "rmsprop", STATE_OPTIMIZERS),
    ("weight_optimizer", "adam", WEIGHT_OPTIMIZERS),  # adamw only: adam has no decay here
    ("dataset", "cifar10", DATASETS),
]


@pytest.mark.parametrize(("changes", "message"), REJECTED, ids=lambda v: str(v))
def test_rejected_values_name_field_value_and_rule(changes, message):
    with pytest.raises(ConfigError, match=message):
        Config(**changes)
    # replace() validates too: a sweep built from a good base cannot smuggle in a bad value
    with pytest.raises(ConfigError, match=message):
        Config().replace(**changes)


@pytest.mark.parametrize(("name", "bad", "allowed"), CHOICES, ids=[c[0] for c in CHOICES])
def test_unknown_choice_lists_allowed_values(name, bad, allowed):
    with pytest.raises(ConfigError, match=rf"{name}='{bad}' is invalid: must be one of ") as info:
        Config(**{name: bad})
    for value in allowed:  # every allowed value is offered as the fix
        assert value in str(info.value)
    for value in allowed:  # and each of them is accepted
        Config(**{name: value})


def test_config_error_is_a_value_error():
    assert issubclass(ConfigError, ValueError)


def test_boundary_values_are_accepted():
    cfg = Config(train_limit=60000, test_limit=10000, batch_size=60000)
    assert cfg.n_train == 60000 and cfg.steps_per_epoch == 1
    Config(momentum=0.0, state_momentum=1.0, weight_decay=0.0, seed=0, log_every=1, depth=1)
    Config(train_limit=64, batch_size=64)
    assert Config(gamma=1).gamma == 1  # an int is a valid float


def test_steps_per_epoch_drops_the_partial_batch():
    assert Config(train_limit=1000, batch_size=64).steps_per_epoch == 15
    assert Config().n_train == 60000
    assert Config(batch_size=64).steps_per_epoch == 937


def test_config_is_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        Config().gamma = 1.0  # type: ignore[misc]


def test_replace_unknown_field_names_it_and_lists_known_fields():
    with pytest.raises(ConfigError, match=r"unknown config field\(s\) gama; known fields: ") as i:
        Config().replace(gama=0.1)
    assert "gamma" in str(i.value)
    with pytest.raises(ConfigError, match=r"unknown config field\(s\) a, b"):
        Config().replace(b=1, a=2)


def test_replace_changes_only_what_it_names():
    base = Config(depth=4, gamma=0.3)
    new = base.replace(width=7)
    assert new.width == 7 and new.depth == 4 and new.gamma == 0.3
    assert base.width == 128  # the original is untouched


def test_from_dict_unknown_key():
    with pytest.raises(ConfigError, match=r"^config: unknown key\(s\) 'gama'; known keys: "):
        Config.from_dict({"gama": 0.1})
    with pytest.raises(ConfigError, match=r"^sweep\.toml: unknown key\(s\) 'x'"):
        Config.from_dict({"x": 1}, source="sweep.toml")


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"depth": "3"}, r"config: field 'depth' must be int, got str '3'"),
        ({"depth": 3.0}, r"config: field 'depth' must be int, got float 3\.0"),
        ({"depth": True}, r"config: field 'depth' must be int, got bool True"),
        ({"gamma": "0.1"}, r"config: field 'gamma' must be float, got str '0\.1'"),
        ({"gamma": False}, r"config: field 'gamma' must be float, got bool False"),
        ({"activation": 1}, r"config: field 'activation' must be str, got int 1"),
        ({"record_inference": 1}, r"config: field 'record_inference' must be bool, got int 1"),
        ({"train_limit": "100"}, r"config: field 'train_limit' must be int, got str '100'"),
        ({"seed": None}, r"config: field 'seed' must be int, got NoneType None"),
    ],
    ids=lambda v: str(v),
)
def test_from_dict_wrong_type(values, message):
    with pytest.raises(ConfigError, match=message):
        Config.from_dict(values)


def test_from_dict_coerces_ints_for_floats_and_allows_null_limits():
    cfg = Config.from_dict({"gamma": 1, "weight_decay": 0, "train_limit": None})
    assert cfg.gamma == 1.0 and isinstance(cfg.gamma, float)
    assert isinstance(cfg.weight_decay, float) and cfg.train_limit is None
    # values are still validated after coercion
    with pytest.raises(ConfigError, match=r"gamma=0\.0 is invalid"):
        Config.from_dict({"gamma": 0})


def test_json_round_trip_keeps_every_field():
    cfg = Config(
        dataset="mnist",
        train_limit=1000,
        test_limit=200,
        validation_size=100,  # at its default 0 to_json leaves it out (omit_default)
        depth=5,
        width=32,
        activation="tanh",
        output_energy="se",
        algorithm="ipc",
        inference_steps=20,
        gamma=0.05,
        gamma_convention="batch_mean",
        state_optimizer="momentum",
        state_momentum=0.5,
        weight_optimizer="sgd",
        weight_lr=0.01,
        momentum=0.8,
        weight_decay=0.0,
        batch_size=50,
        epochs=3,
        seed=7,
        log_every=4,
        record_inference=False,
    )
    text = cfg.to_json()
    assert Config.from_json(text) == cfg
    assert Config.from_json(Config().to_json()) == Config()
    # the generative fields and norms_every, added later, are left out at their defaults
    # (omit_default), so the configs stored before them stay the same
    later = {"task", "latent_size", "mcpc_noise", "norms_every"}
    assert set(json.loads(text)) == set(field_names()) - later
    assert text == Config.from_json(text).to_json()  # stable (sorted keys)
    assert list(json.loads(text)) == sorted(set(field_names()) - later)
    generative = Config(task="generation", output_energy="se", latent_size=8, mcpc_noise=0.5,
                        norms_every=4)
    assert later <= set(json.loads(generative.to_json()))
    assert Config.from_json(generative.to_json()) == generative


def test_from_json_rejects_bad_json_values_with_source():
    text = Config().to_json().replace('"depth": 3', '"depth": "3"')
    with pytest.raises(ConfigError, match=r"^config JSON: field 'depth' must be int"):
        Config.from_json(text)
