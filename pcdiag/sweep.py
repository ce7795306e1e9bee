"""Grids of runs. Each swept config field becomes a dimension named after the field.

Fields that change no shape or code path (gamma, weight_lr, momentum, weight_decay, seed) are
vectorised: all their combinations run as one vmapped batch inside one compiled program.
Every combination of the other swept fields (depth, width, optimizer names, algorithm, ...)
gets its own program. A diverging run keeps its place: `diverged_at` says when, and its
later values are NaN. Sweeps over depth or inference_steps pad the shorter runs' `layer` or
`t` with NaN.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr

from pcdiag.config import VECTORISABLE, Config, ConfigError, field_names
from pcdiag.dataset import build
from pcdiag.loop import run
from pcdiag.progress import progress_bar
from pcdiag.run import load_device_data
from pcdiag.train import Hyper, Program

#: Fields that would change the step axis (or where data comes from) of runs in one Dataset.
NOT_SWEEPABLE = ("batch_size", "train_limit", "epochs", "log_every", "record_inference",
                 "data_dir")


def check_axes(config: Config, axes: dict[str, Sequence[Any]]) -> dict[str, list]:
    """Validate sweep axes: known, sweepable fields with distinct, valid values."""
    checked = {}
    for name, values in axes.items():
        if name not in field_names():
            raise ConfigError(
                f"sweep axis {name!r} is not a config field; known fields: "
                f"{', '.join(field_names())}"
            )
        if name in NOT_SWEEPABLE:
            raise ConfigError(
                f"sweep axis {name!r} cannot be swept: it changes the step axis or the data "
                f"source; run separate sweeps for each {name}"
            )
        values = list(values) if isinstance(values, (list, tuple, np.ndarray)) else [values]
        if not values:
            raise ConfigError(f"sweep axis {name!r} has no values; give at least one")
        if len(set(values)) != len(values):
            raise ConfigError(f"sweep axis {name!r} repeats a value: {values}; list each once")
        for value in values:
            config.replace(**{name: value})  # raises ConfigError naming field and value
        checked[name] = [_plain(v) for v in values]
    return checked


def _plain(value):
    return value.item() if isinstance(value, np.generic) else value


def sweep(config: Config | None = None, *, progress: bool = False, **axes) -> xr.Dataset:
    """Run every combination of the swept values; return one Dataset with a dim per axis."""
    config = config or Config()
    axes = check_axes(config, axes)
    vector_axes = [n for n in axes if n in VECTORISABLE]
    program_axes = [n for n in axes if n not in VECTORISABLE]
    combos = list(itertools.product(*(axes[n] for n in program_axes)))
    vector_points = list(itertools.product(*(axes[n] for n in vector_axes)))
    data_cache: dict[tuple, Any] = {}
    results: dict[tuple, dict[str, np.ndarray]] = {}
    total = len(combos) * len(vector_points) * config.epochs * config.steps_per_epoch
    with progress_bar(total, "sweep", enabled=progress, unit="run-step") as bar:
        for combo in combos:
            base = config.replace(**dict(zip(program_axes, combo)))
            data_key = (base.dataset, base.test_limit)
            if data_key not in data_cache:
                data_cache[data_key] = load_device_data(base)
            runs = [base.replace(**dict(zip(vector_axes, point))) for point in vector_points]
            hyper = Hyper(*(jnp.asarray([getattr(r, f) for r in runs], jnp.float32)
                            for f in Hyper._fields))
            keys = jnp.stack([jax.random.PRNGKey(r.seed) for r in runs])
            if bar is not None:
                bar.set_description(_label(program_axes, combo))
            records, _ = run(Program.from_config(base), hyper, keys, data_cache[data_key],
                             base.epochs, bar)
            for r, point in enumerate(vector_points):
                named = dict(zip(program_axes, combo)) | dict(zip(vector_axes, point))
                index = tuple(axes[n].index(named[n]) for n in axes)
                results[index] = {k: v if k in ("step", "epoch_of_step") else v[r]
                                  for k, v in records.items()}
    return build(_stack(results, axes), _widest(config, axes), axes)


def _label(names, combo) -> str:
    return ", ".join(f"{n}={v}" for n, v in zip(names, combo)) or "sweep"


def _widest(config: Config, axes: dict[str, list]) -> Config:
    """The base config with the largest swept depth / inference_steps (sets layer and t)."""
    changes = {n: max(axes[n]) for n in ("depth", "inference_steps") if n in axes}
    return config.replace(**changes)


def _stack(results: dict[tuple, dict], axes: dict[str, list]) -> dict[str, np.ndarray]:
    """Per-run records -> arrays with the sweep dims in front, NaN-padded to the widest run."""
    shape = tuple(len(v) for v in axes.values())
    first = next(iter(results.values()))
    stacked = {"step": first["step"], "epoch_of_step": first["epoch_of_step"]}
    for name in first:
        if name in stacked:
            continue
        widest = np.max([r[name].shape for r in results.values()], axis=0)
        fill = -1 if name == "diverged_at" else np.nan
        dtype = np.int64 if name == "diverged_at" else np.float32
        out = np.full(shape + tuple(widest), fill, dtype)
        for index, record in results.items():
            out[index + tuple(slice(0, n) for n in record[name].shape)] = record[name]
        stacked[name] = out
    return stacked
