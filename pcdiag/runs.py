"""The two ways to train: `train(config)`, one run start to finish, and `sweep(config,
**axes)`, a grid of runs; both return labelled Datasets. `open_store(DIR)` reads a sweep's
store as a Dataset at any time, finished or not.

This is the face; the engine does the work: pcdiag.engine.plan cuts a sweep into units,
pcdiag.engine.units trains a unit, pcdiag.engine.sweep hands the units to an executor
(pcdiag.engine.executors) and pcdiag.engine.assemble makes the Dataset. Before anything is
loaded or compiled, pcdiag.engine.resources checks that the records fit in memory.
"""

from __future__ import annotations

import os

import xarray as xr

from pcdiag.config import Config
from pcdiag.engine.executors import Executor
from pcdiag.engine.loop import DeviceData, Timing
from pcdiag.engine.plan import Plan, check_axes
from pcdiag.engine.sweep import read_store, run_sweep
from pcdiag.engine.units import checkpoint_identity, load_device_data, run_stored_unit, train_one


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
    return train_one(config, progress=progress, data=data, checkpoint_dir=checkpoint_dir)


def sweep(
    config: Config | None = None, *, progress: bool = False,
    store: str | os.PathLike | None = None, data: DeviceData | None = None,
    checkpoints: bool = False, executor: str | Executor = "local", workers: int | None = None,
    address: str | None = None, **axes,
) -> xr.Dataset:
    """Run every combination of the swept values; return one Dataset with a dim per axis.

    Each swept config field becomes a dim named after it. Vectorisable fields (gamma,
    weight_lr, momentum, weight_decay, seed) run as one vmapped batch per compiled program;
    every combination of the others (a *unit*) gets its own program. A diverging run keeps
    its place (`diverged_at` says when; later values NaN); sweeps over depth or
    inference_steps pad the shorter runs' `layer` or `t` with NaN. `data` (from
    load_device_data(config)) skips loading the data set (executor "local" only).

    With `store` (a folder), each finished unit is saved there at once and a rerun of the
    same sweep skips it, so a killed sweep loses only the unit in flight; a store written by
    a different sweep is refused (StoreError naming the fields). Several sweeps may share a
    store at once: each unit is run by one of them. With `checkpoints` (needs `store`;
    executor "local" only), each unit also saves its state at every epoch's end in
    ``<unit file>.ckpt/``, to resume mid-unit and for `pcdiag.load_params`.

    `executor` says who runs the units (pcdiag.engine.executors): "local" (this process,
    the default), "processes" (`workers` processes of this machine, one per GPU where there
    are several), "ray" (one Ray task per unit; `address` joins a running cluster) or
    "slurm" (a submitit job array), or an Executor object with its own options. Every
    executor but "local" has its workers write the units to the store (ray and slurm need
    `store`; processes uses a temporary one without it): the same Dataset whichever ran it.
    A failed attempt is retried unless its error is bad input; units that fail on every
    attempt raise SweepError, the finished ones kept in the store.
    """
    return run_sweep(config or Config(), axes, progress=progress, store=store, data=data,
                     checkpoints=checkpoints, executor=executor, workers=workers,
                     address=address)


def open_store(root: str | os.PathLike) -> xr.Dataset:
    """The sweep in store folder `root` as one Dataset, however far it has got: the finished
    units' runs, NaN (diverged_at -1) at the points not finished yet, and a boolean
    variable `finished` over the sweep dims. Safe to call while the sweep runs (unit files
    appear whole or not at all); once every unit is finished it equals the sweep's Dataset
    plus `finished`."""
    return read_store(root)


__all__ = ["Plan", "check_axes", "checkpoint_identity", "load_device_data", "open_store",
           "run_stored_unit", "sweep", "train", "train_with_timing"]
