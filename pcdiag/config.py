"""The run configuration: one frozen dataclass, validated on construction.

Every invalid value raises `ConfigError` with a message that names the field, the value,
and what is allowed, so a typo in a sweep never silently trains the wrong model.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, fields
from typing import Any

ACTIVATIONS = ("hard_tanh", "tanh", "relu", "leaky_relu", "gelu", "linear")
OUTPUT_ENERGIES = ("se", "ce")
ALGORITHMS = ("pc", "ipc", "bp", "epc")
PARAMETERIZATIONS = ("sp", "mupc")
GAMMA_CONVENTIONS = ("per_sample", "batch_mean")
STATE_OPTIMIZERS = ("sgd", "momentum", "adam")
WEIGHT_OPTIMIZERS = ("sgd", "momentum", "adamw")
DATASETS = ("fashion-mnist", "mnist")
TRAIN_SIZE = {"fashion-mnist": 60000, "mnist": 60000}

NULLABLE = ("data_dir", "train_limit", "test_limit", "layer_precision", "memory_limit_gb")

#: Fields that change neither array shapes nor code paths: a sweep over them is vmapped.
VECTORISABLE = ("gamma", "weight_lr", "momentum", "weight_decay", "seed")


class ConfigError(ValueError):
    """An invalid configuration value; the message names the field, the rule and the fix."""


@dataclass(frozen=True)
class Config:
    """Everything that defines a run. Same config and seed, same Dataset.

    Conventions (see the README): `gamma` is the state learning rate; with
    ``gamma_convention="per_sample"`` each sample's states follow the gradient of that
    sample's own energy (step independent of batch size); with ``"batch_mean"`` they follow
    the gradient of the batch-mean energy, as PCX's API does (step gamma / batch_size).
    """

    # data
    dataset: str = "fashion-mnist"
    data_dir: str | None = None
    train_limit: int | None = None
    test_limit: int | None = None
    # model
    depth: int = 3
    width: int = 128
    activation: str = "hard_tanh"
    output_energy: str = "ce"
    skip: bool = False
    parameterization: str = "sp"
    layer_precision: str | None = None
    # algorithm
    algorithm: str = "pc"
    inference_steps: int = 8
    gamma: float = 0.1
    gamma_convention: str = "per_sample"
    state_optimizer: str = "sgd"
    state_momentum: float = 0.9
    weight_optimizer: str = "adamw"
    weight_lr: float = 1e-3
    momentum: float = 0.9
    weight_decay: float = 1e-4
    # training loop
    batch_size: int = 64
    epochs: int = 1
    seed: int = 0
    log_every: int = 1
    record_inference: bool = True
    bp_alignment: bool = False
    hessian_samples: int = 0
    # resources
    memory_limit_gb: float | None = None  # None: half of the machine memory

    def __post_init__(self) -> None:
        _validate(self)

    def replace(self, **changes: Any) -> Config:
        """A copy with some fields changed (validated again)."""
        unknown = sorted(set(changes) - set(field_names()))
        if unknown:
            raise ConfigError(
                f"unknown config field(s) {', '.join(unknown)}; "
                f"known fields: {', '.join(field_names())}"
            )
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, values: dict[str, Any], *, source: str = "config") -> Config:
        """Build from a mapping (a TOML table, a JSON attr); unknown keys are an error."""
        unknown = sorted(set(values) - set(field_names()))
        if unknown:
            raise ConfigError(
                f"{source}: unknown key(s) {', '.join(map(repr, unknown))}; "
                f"known keys: {', '.join(field_names())}"
            )
        return cls(**{k: _coerce(k, v, source) for k, v in values.items()})

    @classmethod
    def from_json(cls, text: str) -> Config:
        return cls.from_dict(json.loads(text), source="config JSON")

    @property
    def precision(self) -> tuple[float, ...] | None:
        """Per-layer precision weights pi_1..pi_L from `layer_precision`, or None (all 1).

        ``"geometric:R"`` gives pi_l proportional to R ** (L - l), each layer R times its upper
        neighbour, scaled so the largest weight is 1 (so the stable range of gamma is kept);
        ``"a,b,..."`` lists one positive weight per layer, layer 1 first.
        """
        return parse_precision(self.layer_precision, self.depth)

    @property
    def n_train(self) -> int:
        """Number of training examples this config uses."""
        return self.train_limit or TRAIN_SIZE[self.dataset]

    @property
    def steps_per_epoch(self) -> int:
        """Weight updates per epoch; the last partial batch of an epoch is dropped."""
        return self.n_train // self.batch_size


def parse_precision(text: str | None, depth: int) -> tuple[float, ...] | None:
    if text is None:
        return None
    rule = "'geometric:R' with R > 0, or a comma list of positive numbers, one per layer"
    try:
        if text.startswith("geometric:"):
            ratio = float(text.split(":", 1)[1])
            if not ratio > 0:
                raise ValueError
            weights = tuple(ratio ** (depth - layer) for layer in range(1, depth + 1))
            weights = tuple(w / max(weights) for w in weights)
        else:
            weights = tuple(float(part) for part in text.split(","))
    except ValueError:
        _fail("layer_precision", text, f"must be {rule}")
    if len(weights) != depth:
        _fail("layer_precision", text, f"lists {len(weights)} weights but depth is {depth}; {rule}")
    if not all(math.isfinite(w) and w > 0 for w in weights):
        _fail("layer_precision", text, f"weights must be finite and > 0; {rule}")
    return weights


def field_names() -> tuple[str, ...]:
    return tuple(f.name for f in fields(Config))


def field_type(name: str) -> type:
    """The Python type a field holds (int, float, str or bool)."""
    annotation = {f.name: f.type for f in fields(Config)}[name]
    for kind in (bool, int, float, str):
        if annotation.startswith(kind.__name__):
            return kind
    raise AssertionError(name)


def _coerce(name: str, value: Any, source: str) -> Any:
    """Accept ints for float fields; reject every other type mismatch with a clear message."""
    kind = field_type(name)
    nullable = name in NULLABLE
    if value is None and nullable:
        return None
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, kind) and not (kind is int and isinstance(value, bool)):
        return value
    raise ConfigError(
        f"{source}: field {name!r} must be {kind.__name__}, got {type(value).__name__} "
        f"{value!r}"
    )


def _fail(name: str, value: Any, rule: str) -> None:
    raise ConfigError(f"{name}={value!r} is invalid: {rule}")


def _choice(cfg: Config, name: str, allowed: tuple[str, ...]) -> None:
    value = getattr(cfg, name)
    if value not in allowed:
        _fail(name, value, f"must be one of {', '.join(allowed)}")


def _int_at_least(cfg: Config, name: str, low: int, *, nullable: bool = False) -> None:
    value = getattr(cfg, name)
    if nullable and value is None:
        return
    if not isinstance(value, int) or isinstance(value, bool) or value < low:
        _fail(name, value, f"must be an integer >= {low}")


def _real(cfg: Config, name: str, *, low: float, low_open: bool, high: float = math.inf) -> None:
    value = getattr(cfg, name)
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if ok:
        ok = (value > low if low_open else value >= low) and value <= high
    if not ok:
        sign = ">" if low_open else ">="
        upper = f" and <= {high}" if math.isfinite(high) else ""
        _fail(name, value, f"must be a finite number {sign} {low}{upper}")


def _validate(cfg: Config) -> None:
    _choice(cfg, "dataset", DATASETS)
    if cfg.data_dir is not None and not isinstance(cfg.data_dir, str):
        _fail("data_dir", cfg.data_dir, "must be a path string or None")
    _int_at_least(cfg, "train_limit", 1, nullable=True)
    _int_at_least(cfg, "test_limit", 1, nullable=True)
    for name, size in (("train_limit", TRAIN_SIZE[cfg.dataset]), ("test_limit", 10000)):
        value = getattr(cfg, name)
        if value is not None and value > size:
            _fail(name, value, f"{cfg.dataset} has only {size} examples in that split")
    _int_at_least(cfg, "depth", 1)
    _int_at_least(cfg, "width", 1)
    _choice(cfg, "activation", ACTIVATIONS)
    _choice(cfg, "output_energy", OUTPUT_ENERGIES)
    _bool(cfg, "skip")
    _choice(cfg, "parameterization", PARAMETERIZATIONS)
    if cfg.layer_precision is not None and not isinstance(cfg.layer_precision, str):
        _fail("layer_precision", cfg.layer_precision, "must be a string or None")
    parse_precision(cfg.layer_precision, cfg.depth)
    _choice(cfg, "algorithm", ALGORITHMS)
    _int_at_least(cfg, "inference_steps", 1)
    _real(cfg, "gamma", low=0.0, low_open=True)
    _choice(cfg, "gamma_convention", GAMMA_CONVENTIONS)
    _choice(cfg, "state_optimizer", STATE_OPTIMIZERS)
    _real(cfg, "state_momentum", low=0.0, low_open=False, high=1.0)
    _choice(cfg, "weight_optimizer", WEIGHT_OPTIMIZERS)
    _real(cfg, "weight_lr", low=0.0, low_open=True)
    _real(cfg, "momentum", low=0.0, low_open=False, high=1.0)
    _real(cfg, "weight_decay", low=0.0, low_open=False)
    _int_at_least(cfg, "batch_size", 1)
    if cfg.batch_size > cfg.n_train:
        _fail(
            "batch_size",
            cfg.batch_size,
            f"larger than the training set ({cfg.n_train} examples); "
            "lower batch_size or raise train_limit",
        )
    _int_at_least(cfg, "epochs", 1)
    _int_at_least(cfg, "seed", 0)
    _int_at_least(cfg, "log_every", 1)
    _bool(cfg, "record_inference")
    _bool(cfg, "bp_alignment")
    _int_at_least(cfg, "hessian_samples", 0)
    if cfg.hessian_samples > cfg.batch_size:
        _fail("hessian_samples", cfg.hessian_samples,
              f"must be <= batch_size ({cfg.batch_size}): samples are taken from the batch")
    if cfg.memory_limit_gb is not None:
        _real(cfg, "memory_limit_gb", low=0.0, low_open=True)


def _bool(cfg: Config, name: str) -> None:
    if not isinstance(getattr(cfg, name), bool):
        _fail(name, getattr(cfg, name), "must be true or false")
