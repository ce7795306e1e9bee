"""The two ways to train: `train(config)`, one run start to finish, and `sweep(config,
**axes)`, a grid of runs; both return labelled Datasets.

Sweeps: each swept config field becomes a dimension named after the field. Fields that
change no shape or code path (``pcdiag.config.vectorisable``: gamma, weight_lr, momentum,
weight_decay, seed) are vectorised: all their combinations run as one vmapped batch inside
one compiled program. Every combination of the other swept fields (depth, width, optimizer
names, algorithm, ...) gets its own program. A diverging run keeps its place: `diverged_at`
says when, and its later values are NaN. Sweeps over depth or inference_steps pad the
shorter runs' `layer` or `t` with NaN.

A *unit* is one combination of the non-vectorised axes: one program and its vmapped runs.
With ``store=DIR`` every finished unit is written to DIR at once (see
pcdiag.engine.store), and a rerun of the same sweep skips the finished units, so a killed
sweep loses only the unit in flight and the resumed result equals an uninterrupted one.
Before anything is loaded or compiled, pcdiag.engine.resources checks that the records fit
in memory.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr

from pcdiag import data as data_module
from pcdiag.algorithms import Hyper, Program
from pcdiag.config import (
    Config,
    ConfigError,
    affects_results,
    field_names,
    sweepable,
    vectorisable,
)
from pcdiag.dataset import build
from pcdiag.engine import resources
from pcdiag.engine.loop import DeviceData, Timing, run
from pcdiag.engine.store import open_store
from pcdiag.progress import progress_bar


def load_device_data(config: Config) -> DeviceData:
    """The train and test sets `config` names, on the device (reuse it across runs)."""
    train, test = data_module.load(
        config.dataset, config.data_dir, config.train_limit, config.test_limit,
        config.normalisation,
    )
    black = data_module.black(config.dataset, config.normalisation)
    return DeviceData.from_splits(train, test, black)


def train(
    config: Config | None = None, *, progress: bool = False, data: DeviceData | None = None,
    checkpoint_dir: str | os.PathLike | None = None, **changes,
) -> xr.Dataset:
    """Train one network as `config` says (fields may be overridden by keyword).

    Returns the run's Dataset (see pcdiag.dataset for the names); `ds.attrs["config"]` holds
    the full config as JSON. Timings are not in the Dataset (the same config and seed give
    the same Dataset): `train_with_timing` returns them too. With `checkpoint_dir`, the
    parameters and optimizer state are saved there at every epoch's end, a run killed
    mid-way resumes from its last finished epoch (same Dataset as an uninterrupted run), and
    `pcdiag.load_params(checkpoint_dir)` gives the trained network back.
    """
    return train_with_timing(config, progress=progress, data=data,
                             checkpoint_dir=checkpoint_dir, **changes)[0]


def train_with_timing(
    config: Config | None = None, *, progress: bool = False, data: DeviceData | None = None,
    checkpoint_dir: str | os.PathLike | None = None, **changes,
) -> tuple[xr.Dataset, Timing]:
    """`train`, returning the Dataset and where the time went (compile, per-epoch train and
    evaluation seconds)."""
    config = (config or Config()).replace(**changes) if changes else (config or Config())
    resources.check(config)  # ResourceError before any loading or compiling
    data = data or load_device_data(config)
    prog = Program.from_config(config)
    hyper = jax.tree_util.tree_map(lambda a: a[None], Hyper.from_config(config))
    keys = jax.random.PRNGKey(config.seed)[None]
    total = config.epochs * (data.n_train // config.batch_size)
    with progress_bar(total, f"{config.algorithm} train", enabled=progress) as bar:
        records, timing = run(prog, hyper, keys, data, config.epochs, bar,
                              checkpoint_dir=checkpoint_dir,
                              checkpoint_meta=checkpoint_identity([config]))
    single = {k: (v if k in ("step", "epoch_of_step") else v[0]) for k, v in records.items()}
    return build(single, config, {}), timing


def check_axes(config: Config, axes: dict[str, Sequence[Any]]) -> dict[str, list]:
    """Validate sweep axes: known, sweepable fields with distinct, valid values."""
    checked = {}
    for name, values in axes.items():
        if name not in field_names():
            raise ConfigError(
                f"sweep axis {name!r} is not a config field; known fields: "
                f"{', '.join(field_names())}"
            )
        if not affects_results(name):
            raise ConfigError(
                f"sweep axis {name!r} cannot be swept: it changes no result; set it in the "
                "base config instead"
            )
        if not sweepable(name):
            raise ConfigError(
                f"sweep axis {name!r} cannot be swept: it changes the step axis or the data "
                f"source; run separate sweeps for each {name}"
            )
        values = list(values) if isinstance(values, (list, tuple, np.ndarray)) else [values]
        values = [_plain(v) for v in values]  # numpy scalars (np.arange(3)) -> Python ones
        if not values:
            raise ConfigError(f"sweep axis {name!r} has no values; give at least one")
        if len(set(values)) != len(values):
            raise ConfigError(f"sweep axis {name!r} repeats a value: {values}; list each once")
        for value in values:
            config.replace(**{name: value})  # raises ConfigError naming field and value
        checked[name] = values
    return checked


def _plain(value):
    return value.item() if isinstance(value, np.generic) else value


def sweep(
    config: Config | None = None,
    *,
    progress: bool = False,
    store: str | os.PathLike | None = None,
    data: DeviceData | None = None,
    checkpoints: bool = False,
    **axes,
) -> xr.Dataset:
    """Run every combination of the swept values; return one Dataset with a dim per axis.

    `data` (from load_device_data(config)) skips loading the data set, as in
    pcdiag.train; the fields that choose the data cannot be swept, so every unit uses it.

    With `store` (a folder), each finished unit (one combination of the non-vectorised
    axes) is saved there at once; rerunning the same sweep with the same store skips those
    units. A store written by a different sweep is refused (StoreError naming the fields).
    With `checkpoints` (needs `store`), each unit also saves its parameters and optimizer
    state at every epoch's end in ``<unit file>.ckpt/`` of the store, so a unit killed
    mid-way resumes from its last finished epoch, and `pcdiag.load_params` reads the trained
    networks back.
    """
    if checkpoints and store is None:
        raise ConfigError("checkpoints=True needs a store folder (store=DIR): the "
                          "checkpoints are kept there")
    config = config or Config()
    axes = check_axes(config, axes)
    vector_axes = [n for n in axes if vectorisable(n)]
    program_axes = [n for n in axes if not vectorisable(n)]
    combos = [dict(zip(program_axes, c))
              for c in itertools.product(*(axes[n] for n in program_axes))]
    vector_points = list(itertools.product(*(axes[n] for n in vector_axes)))
    bases = [config.replace(**combo) for combo in combos]  # every ConfigError before any run
    widest = _widest(config, axes)
    resources.check(config, [(base, len(vector_points)) for base in bases], widest)
    n_runs = len(vector_points)
    steps = config.epochs * config.steps_per_epoch
    logged = config.epochs * -(-config.steps_per_epoch // config.log_every)
    data_cache: dict[tuple, Any] = {}
    if data is not None:
        data_cache[_data_key(config)] = data
    results: dict[tuple, dict[str, np.ndarray]] = {}
    opened = (open_store(store, config, axes, program_axes, combos) if store is not None
              else contextlib.nullcontext(None))
    with opened as kept, progress_bar(len(combos) * n_runs * steps, "sweep", enabled=progress,
                                      unit="run-step") as bar:
        for unit, (combo, base) in enumerate(zip(combos, bases)):
            records = kept.load(unit, combo, n_runs, logged) if kept is not None else None
            if records is None:
                ckpt = kept.path(unit, combo).with_suffix(".ckpt") if checkpoints else None
                records = _run_unit(base, vector_axes, vector_points, data_cache, bar, combo,
                                    ckpt)
                if kept is not None:
                    kept.save(unit, combo, records)
            elif bar is not None:
                bar.update(n_runs * steps)
            for r, point in enumerate(vector_points):
                named = combo | dict(zip(vector_axes, point))
                index = tuple(axes[n].index(named[n]) for n in axes)
                results[index] = {k: v if k in ("step", "epoch_of_step") else v[r]
                                  for k, v in records.items()}
    stacked = _stack(results, axes)
    ds = build(stacked, widest, axes)
    if "energy_total" in stacked:  # each run's own layers, not the NaN padding of a depth sweep
        ds["energy_total"] = ds["energy_total"].copy(data=stacked["energy_total"])
    return ds


def checkpoint_identity(runs: list[Config]) -> dict:
    """What a checkpoint of these runs must match: each run's result-affecting fields."""
    return {"configs": [json.dumps({k: v for k, v in r.to_dict().items() if affects_results(k)},
                                   sort_keys=True) for r in runs]}


def _run_unit(base: Config, vector_axes, vector_points, data_cache, bar, combo,
              checkpoint_dir=None) -> dict:
    """Train one unit's runs (vmapped) and return their records, runs first."""
    data_key = _data_key(base)
    if data_key not in data_cache:
        data_cache[data_key] = load_device_data(base)
    runs = [base.replace(**dict(zip(vector_axes, point))) for point in vector_points]
    hyper = Hyper.of_runs(runs)
    keys = jnp.stack([jax.random.PRNGKey(r.seed) for r in runs])
    if bar is not None:
        bar.set_description(_label(list(combo), list(combo.values())))
    records, _ = run(Program.from_config(base), hyper, keys, data_cache[data_key],
                     base.epochs, bar, checkpoint_dir=checkpoint_dir,
                     checkpoint_meta=checkpoint_identity(runs))
    return records


def _data_key(config: Config) -> tuple:
    return (config.dataset, config.data_dir, config.train_limit, config.test_limit,
            config.normalisation)


def _label(names, combo) -> str:
    return ", ".join(f"{n}={v}" for n, v in zip(names, combo)) or "sweep"


def _widest(config: Config, axes: dict[str, list]) -> Config:
    """The base config with the largest swept depth / inference_steps (sets layer and t)."""
    changes = {n: max(axes[n]) for n in ("depth", "inference_steps") if n in axes}
    return config.replace(**changes)


def _stack(results: dict[tuple, dict], axes: dict[str, list]) -> dict[str, np.ndarray]:
    """Per-run records -> arrays with the sweep dims in front, NaN-padded to the widest run.

    Adds `energy_total`, each run's sum over its own layers: summing after padding would
    make every shallower run of a depth sweep NaN.
    """
    shape = tuple(len(v) for v in axes.values())
    first = next(iter(results.values()))
    stacked = {"step": first["step"], "epoch_of_step": first["epoch_of_step"]}
    names = dict.fromkeys(name for record in results.values() for name in record)
    for name in names:  # a record some units lack (e.g. bp_cosine) is NaN for their runs
        if name not in stacked:
            stacked[name] = _pad(name, {i: r[name] for i, r in results.items() if name in r},
                                 shape)
    if "energy" in names:
        stacked["energy_total"] = _pad(
            "energy_total",
            {i: r["energy"].sum(axis=-1) for i, r in results.items() if "energy" in r}, shape)
    return stacked


def _pad(name: str, arrays: dict[tuple, np.ndarray], shape: tuple) -> np.ndarray:
    widest = np.max([a.shape for a in arrays.values()], axis=0)
    fill = -1 if name == "diverged_at" else np.nan
    dtype = np.int64 if name == "diverged_at" else np.result_type(*arrays.values())
    out = np.full(shape + tuple(widest), fill, dtype)
    for index, array in arrays.items():
        out[index + tuple(slice(0, n) for n in array.shape)] = array
    return out
