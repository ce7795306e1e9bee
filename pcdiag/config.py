"""The run configuration: one frozen dataclass, validated on construction.

Every invalid value raises `ConfigError` with a message that names the field, the value,
and what is allowed, so a typo in a sweep never silently trains the wrong model.

Facts about each field live in its metadata (`dataclasses.field(metadata=...)`), read by
the trainers, sweeps, stores and the CLI through the functions below, never by hand lists:

- ``role``: where the value goes. ``"data"`` chooses the data; ``"program"`` is a static
  setting of the compiled program (a shape or a code path); ``"traced"`` is a traced scalar
  (`pcdiag.algorithms.Hyper`), so runs that differ only in it share one program;
  ``"key"`` seeds the run's random key; ``"loop"`` sets the length of the loop;
  ``"resource"`` only limits resources.
- ``choices``: the allowed values of a string field (a tuple, or a function returning one
  for registries that can grow, such as `net`).
- ``sweepable``: False for fields that would change the step axis or the data source of
  runs in one Dataset.
- ``affects_results``: False for fields that cannot change a result (a resumed sweep may
  differ in them).
- ``list_separator``: ``";"`` for fields whose own value may hold commas, so a CLI list
  of their values is separated by semicolons.
- ``omit_default``: True for a field added after Datasets, stores and checkpoints were
  written: `to_dict` leaves it out at its default, so their stored configs stay the same.
Nullable fields are those typed ``... | None``.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, fields
from typing import Any

from pcdiag.data import holdout, registry
from pcdiag.data.normalise import FIXED_NORMALISATION
from pcdiag.errors import ConfigError  # noqa: F401 - re-exported: pcdiag.config.ConfigError

ACTIVATIONS = ("hard_tanh", "tanh", "relu", "leaky_relu", "gelu", "gelu_tanh", "linear")
OUTPUT_ENERGIES = ("se", "ce")
#: Must equal the keys of pcdiag.algorithms.ALGORITHMS (a test checks it).
ALGORITHMS = ("pc", "ipc", "bp", "epc")
#: What a run learns to do (pcdiag.tasks; must equal the keys of pcdiag.tasks.TASKS):
#: "classification" clamps the image at x_0 and the one-hot label at the output node;
#: "generation" clamps the image at the output node and infers a free latent x_0.
TASKS = ("classification", "generation")
#: Whether a task's input node x_0 is inferred by the PC algorithms (generation's latent)
#: rather than clamped (pcdiag.algorithms reads it; bp's autoencoder clamps the image).
INPUT_FREE = {"classification": False, "generation": True}
PARAMETERIZATIONS = ("sp", "mupc")
GAMMA_CONVENTIONS = ("per_sample", "batch_mean")
STATE_OPTIMIZERS = ("sgd", "momentum", "adam")
WEIGHT_OPTIMIZERS = ("sgd", "momentum", "adamw")
DATASETS = tuple(registry.DATASETS)
#: How images become inputs (pcdiag.data.load): "standardise" = (x/255 - mean) / std of the
#: data set; "pcx" = (x/255 - 0.5) / 0.5, PCX's torchvision Normalize((0.5,), (0.5,));
#: "unit" = x/255, pixels in [0, 1] (PCX's generative benchmarks: ToTensor alone).
NORMALISATIONS = ("standardise", *FIXED_NORMALISATION)
#: Weight learning-rate schedules (pcdiag.algorithms.optimizers.weight_schedule).
LR_SCHEDULES = ("constant", "warmup_cosine")
#: Output nudging (pcdiag.algorithms.nudging): "off" clamps the output node to the target.
NUDGINGS = ("off", "positive", "negative", "centred")
#: ePC's weight step (pcdiag.algorithms.epc.EPC_RULES; see Config's docstring).
EPC_WEIGHT_UPDATES = ("local", "local_scaled", "chain")
#: Training examples of each data set (from pcdiag.data.registry).
TRAIN_SIZE = {name: d.n_train for name, d in registry.DATASETS.items()}
ROLES = ("data", "program", "traced", "key", "loop", "resource")


def _datasets() -> tuple[str, ...]:
    return tuple(registry.DATASETS)  # pcdiag.data.registry: one line per data set


def _nets() -> tuple[str, ...]:
    import pcdiag.nets  # lazily: importing the networks imports jax

    return tuple(pcdiag.nets.NETS)  # the registry can grow (pcdiag.nets.register)


def _field(default: Any, role: str, *, choices=None, sweepable: bool = True,
           affects_results: bool = True, list_separator: str = ",",
           omit_default: bool = False) -> Any:
    """`omit_default`: to_dict leaves the field out at its default (a field added later, so
    the configs stored in Datasets, stores, checkpoints and caches before stay the same)."""
    assert role in ROLES, role
    return dataclasses.field(default=default, metadata={
        "role": role, "choices": choices, "sweepable": sweepable,
        "affects_results": affects_results, "list_separator": list_separator,
        "omit_default": omit_default,
    })


@dataclass(frozen=True)
class Config:
    """Everything that defines a run. Same config and seed, same Dataset.

    Conventions (see the README): `gamma` is the state learning rate; with
    ``gamma_convention="per_sample"`` each sample's states follow the gradient of that
    sample's own energy (step independent of batch size); with ``"batch_mean"`` they follow
    the gradient of the batch-mean energy, as PCX's API does (step gamma / batch_size).

    Weight learning-rate schedule (`lr_schedule`, counted in weight updates, the count kept
    in the optimizer state as optax does): ``"constant"`` is `weight_lr` throughout;
    ``"warmup_cosine"`` is optax's ``warmup_cosine_decay_schedule(init=weight_lr,
    peak=lr_peak_factor * weight_lr, warmup_steps=lr_warmup_steps,
    decay_steps=lr_decay_steps, end=lr_end_factor * weight_lr)``, PCX's benchmark schedule.
    ``lr_warmup_steps=None`` is 10% and ``lr_decay_steps=None`` 100% of the run's weight
    updates (epochs x steps per epoch, x inference_steps for ipc, which updates the weights
    at every inference step), PCX's rule.

    Output nudging (`nudging`, PCX's discriminative benchmarks): ``"off"`` clamps the output
    node to the one-hot target y (today's behaviour). Otherwise the output node is clamped
    for the whole batch to ``h = u0 - beta (u0 - y)``, written ``y + (1 - beta)(u0 - y)``
    so that beta = 1 gives y exactly, where u0 is the output's feedforward prediction at
    forward initialisation, and the weight gradient is multiplied by 1 / beta (PCX's
    ``optim_w.step(..., mul=1/beta)``; at beta = 0 the output is free: h = u0, no energy,
    no gradient, and no division). In epoch e (0-based) the magnitude is
    ``min(nudge_beta + nudge_beta_step * e, 1)`` (PCX's beta, beta_ir and its clip at 1);
    the sign is + for ``"positive"``, - for ``"negative"`` and, for ``"centred"``, the e-th
    character of `nudge_signs` (a string of + and -, one per epoch: PCX's per-epoch beta
    lists), alternating + - + ... when `nudge_signs` is None. With a cross-entropy output,
    h mixes the target with u0's logits, as PCX does.

    ePC's weight step (`epc_weight_update`, algorithm="epc" only; any other algorithm needs
    "local"): all three descend the batch mean of F at the inferred errors e_T.
    ``"local"`` (default) is pc's local rule at the states x_l = mu_l(x_{l-1}) + e_l, each
    state held fixed (today's behaviour). ``"local_scaled"`` is the same gradient divided by
    ``min(1, gamma_s * T)``, where gamma_s is the per-sample error step (gamma with
    ``gamma_convention="per_sample"``, gamma / batch_size with ``"batch_mean"``): the
    ePC paper's code (cgoemaere/error_based_PC, branch cifar, pc_e.py: the weight loss
    divided by ``min(1, e_lr * iters)``, e_lr a step on the batch-summed energy), so that
    errors left small by a short inference still give full-size updates. With Adam the
    division barely matters (Adam is invariant to a gradient's scale up to its epsilon).
    ``"chain"`` holds the errors fixed and differentiates F through the whole chain, the
    states recomputed from the errors through the network, so the output loss reaches
    every layer as in backprop (at e = 0 it is backprop's gradient): jpc's
    ``update_epc_params`` (``jax.grad`` of ``epc_energy_fn`` w.r.t. the parameters).
    """

    # task
    task: str = _field("classification", "program", choices=TASKS, sweepable=False,
                       omit_default=True)
    # data
    dataset: str = _field(registry.DEFAULT, "data", choices=_datasets)
    data_dir: str | None = _field(None, "data", sweepable=False, affects_results=False,
                                  list_separator=";")
    train_limit: int | None = _field(None, "data", sweepable=False)
    test_limit: int | None = _field(None, "data")
    # examples held out of the official training file for validation: its LAST
    # validation_size examples (train_limit takes the first ones of the rest, never
    # overlapping), normalised as the training images, evaluated at each epoch's end as the
    # test set is (validation_accuracy); 0 holds none out (pcdiag.data.holdout)
    validation_size: int = _field(0, "data", sweepable=False, omit_default=True)
    normalisation: str = _field("standardise", "data", choices=NORMALISATIONS, sweepable=False)
    # PCX's training augmentation, on the device inside the compiled step loop: each training
    # image flipped left-right with p = 0.5, then randomly cropped back to its size from a
    # 4-pixel border of black pixels (torchvision's RandomHorizontalFlip, RandomCrop(32,
    # padding=4)); a new draw every step (pcdiag.engine.loop.augment)
    augment: bool = _field(False, "program")
    # model
    net: str = _field("mlp", "program", choices=_nets)  # mlp, vgg, resnet (pcdiag.nets)
    latent_size: int = _field(64, "program", omit_default=True)  # generation: x_0's units
    depth: int = _field(3, "program")
    width: int = _field(128, "program")
    activation: str = _field("hard_tanh", "program", choices=ACTIVATIONS)
    output_energy: str = _field("ce", "program", choices=OUTPUT_ENERGIES)
    skip: bool = _field(False, "program")
    parameterization: str = _field("sp", "program", choices=PARAMETERIZATIONS)
    layer_precision: str | None = _field(None, "program", list_separator=";")
    # algorithm
    algorithm: str = _field("pc", "program", choices=ALGORITHMS)
    inference_steps: int = _field(8, "program")
    # ePC's weight step: "local" | "local_scaled" | "chain" (see Config's docstring)
    epc_weight_update: str = _field("local", "program", choices=EPC_WEIGHT_UPDATES)
    gamma: float = _field(0.1, "traced")
    gamma_convention: str = _field("per_sample", "program", choices=GAMMA_CONVENTIONS)
    state_optimizer: str = _field("sgd", "program", choices=STATE_OPTIMIZERS)
    state_momentum: float = _field(0.9, "program")
    weight_optimizer: str = _field("adamw", "program", choices=WEIGHT_OPTIMIZERS)
    weight_lr: float = _field(1e-3, "traced")
    momentum: float = _field(0.9, "traced")
    weight_decay: float = _field(1e-4, "traced")
    # weight learning-rate schedule (weight_lr is its base value; see Config's docstring)
    lr_schedule: str = _field("constant", "program", choices=LR_SCHEDULES)
    lr_warmup_steps: int | None = _field(None, "program")
    lr_decay_steps: int | None = _field(None, "program")
    lr_peak_factor: float = _field(1.1, "program")
    lr_end_factor: float = _field(0.1, "program")
    # output nudging (see Config's docstring)
    nudging: str = _field("off", "program", choices=NUDGINGS)
    nudge_beta: float = _field(1.0, "traced")
    nudge_beta_step: float = _field(0.0, "traced")
    nudge_signs: str | None = _field(None, "program")
    # training loop
    batch_size: int = _field(64, "program", sweepable=False)
    epochs: int = _field(1, "loop", sweepable=False)
    seed: int = _field(0, "key")
    log_every: int = _field(1, "program", sweepable=False)
    record_inference: bool = _field(True, "program", sweepable=False)
    # the norms (per-t state_grad_norm and latent_grad_norm, per-step weight_grad_norm,
    # weight_norm, update_norm) on every norms_every-th logged step only (logged steps 0,
    # norms_every, ... of each epoch), NaN on the others: their kernels are most of what full
    # recording costs on a small model (pcdiag speed); energies and loss stay on every
    # logged step
    norms_every: int = _field(1, "program", sweepable=False, omit_default=True)
    bp_alignment: bool = _field(False, "program")
    hessian_samples: int = _field(0, "program")
    # Monte Carlo PC (generation): Gaussian noise of std sqrt(2 gamma_s) * mcpc_noise added to
    # every state update (Langevin dynamics at temperature mcpc_noise^2); 0: plain PC
    mcpc_noise: float = _field(0.0, "program", omit_default=True)
    # resources
    memory_limit_gb: float | None = _field(None, "resource", sweepable=False,
                                           affects_results=False)  # None: half the machine

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
        return {k: v for k, v in dataclasses.asdict(self).items()
                if not (_meta(k)["omit_default"] and v == _FIELDS[k].default)}

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
    def layers(self) -> int:
        """Weight layers of the network (the Dataset's layer axis): depth, or for
        generation's bp autoencoder its encoder's and decoder's together (pcdiag.tasks)."""
        return _tasks_module().task_of(self).layers(self)

    @property
    def n_train(self) -> int:
        """Number of training examples this config uses."""
        return self.train_limit or registry.info(self.dataset).n_train - self.validation_size

    @property
    def weight_updates(self) -> int:
        """Weight updates of the whole run (ipc updates the weights at every inference step)."""
        per_step = self.inference_steps if self.algorithm == "ipc" else 1
        return self.epochs * self.steps_per_epoch * per_step

    @property
    def lr_schedule_steps(self) -> tuple[int, int] | None:
        """(warmup, decay) steps of the weight schedule, None filled in by PCX's rule (10%
        and 100% of the run's weight updates); None for a constant learning rate."""
        if self.lr_schedule == "constant":
            return None
        total = self.weight_updates
        warmup = self.lr_warmup_steps if self.lr_warmup_steps is not None else round(0.1 * total)
        decay = self.lr_decay_steps if self.lr_decay_steps is not None else total
        return warmup, decay

    @property
    def steps_per_epoch(self) -> int:
        """Weight updates per epoch; the last partial batch of an epoch is dropped."""
        return self.n_train // self.batch_size


# --------------------------------------------------------------------------- field facts


def _meta(name: str) -> dict:
    try:
        return _FIELDS[name].metadata
    except KeyError:
        raise ConfigError(f"unknown config field {name!r}; known fields: "
                          f"{', '.join(field_names())}") from None


def role(name: str) -> str:
    """Where the field's value goes: one of ROLES (see the module docstring)."""
    return _meta(name)["role"]


def choices(name: str) -> tuple[str, ...] | None:
    """The allowed values of a choice field, or None for a free-valued field."""
    allowed = _meta(name)["choices"]
    return allowed() if callable(allowed) else allowed


def nullable(name: str) -> bool:
    """Whether the field may be None (its type is ``... | None``)."""
    return "None" in str(_FIELDS[name].type)


def vectorisable(name: str) -> bool:
    """Whether runs differing only in this field share one compiled program (vmapped)."""
    return role(name) in ("traced", "key")


def traced_fields() -> tuple[str, ...]:
    """The fields passed to the compiled program as traced scalars (pcdiag.algorithms.Hyper)."""
    return tuple(n for n in field_names() if role(n) == "traced")


def program_fields() -> tuple[str, ...]:
    """The fields a compiled program depends on statically (shapes and code paths)."""
    return tuple(n for n in field_names() if role(n) == "program")


def sweepable(name: str) -> bool:
    """Whether a sweep may have an axis over this field."""
    return _meta(name)["sweepable"]


def affects_results(name: str) -> bool:
    """Whether the field can change a result (False: a resumed sweep may differ in it)."""
    return _meta(name)["affects_results"]


def list_separator(name: str) -> str:
    """What separates a list of this field's values on a command line."""
    return _meta(name)["list_separator"]


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


_FIELDS = {f.name: f for f in fields(Config)}


def field_type(name: str) -> type:
    """The Python type a field holds (int, float, str or bool)."""
    annotation = str(_FIELDS[name].type)
    for kind in (bool, int, float, str):
        if annotation.startswith(kind.__name__):
            return kind
    raise AssertionError(name)


def _coerce(name: str, value: Any, source: str) -> Any:
    """Accept ints for float fields; reject every other type mismatch with a clear message."""
    kind = field_type(name)
    if value is None and nullable(name):
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


def _int_at_least(cfg: Config, name: str, low: int) -> None:
    value = getattr(cfg, name)
    if nullable(name) and value is None:
        return
    if not isinstance(value, int) or isinstance(value, bool) or value < low:
        _fail(name, value, f"must be an integer >= {low}")


def _real(cfg: Config, name: str, *, low: float, low_open: bool, high: float = math.inf) -> None:
    value = getattr(cfg, name)
    if nullable(name) and value is None:
        return
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if ok:
        ok = (value > low if low_open else value >= low) and value <= high
    if not ok:
        sign = ">" if low_open else ">="
        upper = f" and <= {high}" if math.isfinite(high) else ""
        _fail(name, value, f"must be a finite number {sign} {low}{upper}")


def _bool(cfg: Config, name: str) -> None:
    if not isinstance(getattr(cfg, name), bool):
        _fail(name, getattr(cfg, name), "must be true or false")


def _validate(cfg: Config) -> None:
    for name in field_names():  # every choice field, from its metadata
        allowed = choices(name)
        if allowed is not None and getattr(cfg, name) not in allowed:
            _fail(name, getattr(cfg, name), f"must be one of {', '.join(allowed)}")
    if cfg.data_dir is not None and not isinstance(cfg.data_dir, str):
        _fail("data_dir", cfg.data_dir, "must be a path string or None")
    _int_at_least(cfg, "train_limit", 1)
    _int_at_least(cfg, "test_limit", 1)
    holdout.check(cfg.dataset, cfg.validation_size, cfg.train_limit)
    _bool(cfg, "augment")
    facts = registry.info(cfg.dataset)
    for name, size in (("train_limit", facts.n_train), ("test_limit", facts.n_test)):
        value = getattr(cfg, name)
        if value is not None and value > size:
            _fail(name, value, f"{cfg.dataset} has only {size} examples in that split")
    _int_at_least(cfg, "depth", 1)
    _int_at_least(cfg, "width", 1)
    _bool(cfg, "skip")
    if cfg.layer_precision is not None and not isinstance(cfg.layer_precision, str):
        _fail("layer_precision", cfg.layer_precision, "must be a string or None")
    parse_precision(cfg.layer_precision, cfg.depth)
    _int_at_least(cfg, "inference_steps", 1)
    if cfg.epc_weight_update != "local" and cfg.algorithm != "epc":
        _fail("epc_weight_update", cfg.epc_weight_update,
              f"sets ePC's weight step, but algorithm is {cfg.algorithm!r}; use "
              "algorithm='epc', or epc_weight_update='local' with any other algorithm")
    _real(cfg, "gamma", low=0.0, low_open=True)
    _real(cfg, "state_momentum", low=0.0, low_open=False, high=1.0)
    _real(cfg, "weight_lr", low=0.0, low_open=True)
    _real(cfg, "momentum", low=0.0, low_open=False, high=1.0)
    _real(cfg, "weight_decay", low=0.0, low_open=False)
    _validate_schedule(cfg)
    _validate_nudging(cfg)
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
    _int_at_least(cfg, "norms_every", 1)
    _bool(cfg, "bp_alignment")
    _int_at_least(cfg, "hessian_samples", 0)
    if cfg.hessian_samples > cfg.batch_size:
        _fail("hessian_samples", cfg.hessian_samples,
              f"must be <= batch_size ({cfg.batch_size}): samples are taken from the batch")
    _real(cfg, "memory_limit_gb", low=0.0, low_open=True)
    _validate_task(cfg)
    _tasks_module().build_net(cfg)  # the network's own rules (e.g. the depths a family has)


def _validate_task(cfg: Config) -> None:
    _int_at_least(cfg, "latent_size", 1)
    _real(cfg, "mcpc_noise", low=0.0, low_open=False)
    if cfg.task != "generation":
        for name in ("latent_size", "mcpc_noise"):
            if getattr(cfg, name) != _FIELDS[name].default:
                _fail(name, getattr(cfg, name), f"applies to task='generation' only, but task "
                      f"is {cfg.task!r}; set task='generation' or leave {name} at its default "
                      f"({_FIELDS[name].default})")
        return
    rules = (
        ("output_energy", "se", "the image clamped at the output node is a squared error"),
        ("nudging", "off", "nudging moves a label target; the image is clamped as it is"),
        ("bp_alignment", False, "the latent has no backprop counterpart"),
        ("augment", False, "PCX's generative benchmarks train on the images as they are"),
    )
    for name, allowed, why in rules:
        if getattr(cfg, name) != allowed:
            _fail(name, getattr(cfg, name), f"must be {allowed!r} with task='generation' "
                  f"({why}); set {name}={allowed!r}")
    if cfg.mcpc_noise and cfg.algorithm == "bp":
        _fail("mcpc_noise", cfg.mcpc_noise, "adds noise to inference, and bp runs none; use "
              "algorithm='pc' (or 'ipc') for Monte Carlo PC, or mcpc_noise=0 with bp")


def _validate_schedule(cfg: Config) -> None:
    _int_at_least(cfg, "lr_warmup_steps", 0)
    _int_at_least(cfg, "lr_decay_steps", 1)
    _real(cfg, "lr_peak_factor", low=0.0, low_open=True)
    _real(cfg, "lr_end_factor", low=0.0, low_open=False)
    if cfg.lr_schedule == "constant":
        return
    warmup, decay = cfg.lr_schedule_steps
    if decay <= warmup:
        _fail("lr_decay_steps", decay,
              f"must be > the warmup steps ({warmup}): it counts the warmup too (optax's "
              "warmup_cosine_decay_schedule); raise lr_decay_steps or lower lr_warmup_steps")


def _validate_nudging(cfg: Config) -> None:
    _real(cfg, "nudge_beta", low=0.0, low_open=False, high=1.0)
    _real(cfg, "nudge_beta_step", low=0.0, low_open=False)
    if cfg.nudging != "off" and cfg.algorithm == "bp":
        _fail("nudging", cfg.nudging, "applies to the output node of a PC network; bp has "
              "none: use nudging='off' with algorithm='bp'")
    signs = cfg.nudge_signs
    if signs is None:
        return
    if cfg.nudging != "centred":
        _fail("nudge_signs", signs, "sets the per-epoch signs of centred nudging only; "
              "set nudging='centred' or nudge_signs=None")
    if not isinstance(signs, str) or not signs or set(signs) - {"+", "-"}:
        _fail("nudge_signs", signs, "must be a string of + and - (one per epoch), e.g. '+-+-'")
    if len(signs) < cfg.epochs:
        _fail("nudge_signs", signs, f"gives {len(signs)} signs but epochs is {cfg.epochs}; "
              "give one sign per epoch")


def _tasks_module():
    import pcdiag.tasks  # lazily: the tasks import the networks, which import jax

    return pcdiag.tasks
