"""The two ways to train: `train(config)`, one run start to finish, and `sweep(config,
**axes)`, a grid of runs; both return labelled Datasets. `open_store(DIR)` reads a sweep's
store as a Dataset at any time, finished or not.

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
An executor (pcdiag.engine.executors) may spread the units over worker processes, a Ray
cluster or a SLURM array: each worker runs `run_stored_unit`, the same code as the loop
here, and writes its units to the store, from which the sweep's Dataset is assembled.
Before anything is loaded or compiled, pcdiag.engine.resources checks that the records fit
in memory.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
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
from pcdiag.dataset import build, global_attrs, with_run_status
from pcdiag.engine import executors, resources
from pcdiag.engine.executors import Executor, Outcome, Task
from pcdiag.engine.loop import DeviceData, Timing, run
from pcdiag.engine.store import SPEC, Store, StoreError, use_store
from pcdiag.progress import progress_bar
from pcdiag.records import VARIABLES


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
    executor: str | Executor = "local",
    workers: int | None = None,
    address: str | None = None,
    **axes,
) -> xr.Dataset:
    """Run every combination of the swept values; return one Dataset with a dim per axis.

    `data` (from load_device_data(config)) skips loading the data set, as in
    pcdiag.train; the fields that choose the data cannot be swept, so every unit uses it
    (executor "local" only: other executors' workers load it once each).

    With `store` (a folder), each finished unit (one combination of the non-vectorised
    axes) is saved there at once; rerunning the same sweep with the same store skips those
    units. A store written by a different sweep is refused (StoreError naming the fields).
    With `checkpoints` (needs `store`), each unit also saves its parameters and optimizer
    state at every epoch's end in ``<unit file>.ckpt/`` of the store, so a unit killed
    mid-way resumes from its last finished epoch, and `pcdiag.load_params` reads the trained
    networks back (executor "local" only).
    Several sweeps may share a store at once: each unit is run by one of them.

    `executor` says who runs the units (pcdiag.engine.executors): "local" (this process,
    the default), "processes" (`workers` processes of this machine, one per GPU where there
    are several), "ray" (one Ray task per unit; `address` joins a running cluster) or
    "slurm" (a submitit job array), or an Executor object with its own options. Every
    executor but "local" has its workers write the units to the store (ray and slurm need
    `store`; processes uses a temporary one without it) and the Dataset is read from there:
    the same Dataset whichever executor ran it. A unit whose worker dies is retried; units
    that fail on every attempt raise SweepError, the finished ones kept in the store.
    """
    if checkpoints and store is None:
        raise ConfigError("checkpoints=True needs a store folder (store=DIR): the "
                          "checkpoints are kept there")
    config = config or Config()
    axes = check_axes(config, axes)
    plan = Plan.of(config, axes)
    bases = [plan.base(unit) for unit in plan.units]  # every ConfigError before any run
    runner = executors.make(executor, workers=workers, address=address)
    if checkpoints and not runner.inline:
        raise ConfigError(f"checkpoints=True runs with executor='local' (not {runner.name!r}): "
                          "a worker's checkpoints are not handed to the retried attempt yet")
    if store is None and runner.remote_hosts:
        raise executors.ExecutorError(
            f"executor={runner.name!r} runs units in other processes, which write them to the "
            "sweep's store: give store=DIR (`--store DIR`), a folder every worker can reach"
        )
    if not runner.inline:
        executors.keep_accelerators_free()  # before anything below can start JAX's GPU backend
    # the device part of the check is the workers' (here it would start the accelerator)
    resources.check(config, [(base, plan.runs) for base in bases], plan.widest,
                    device=runner.inline)
    steps = config.epochs * config.steps_per_epoch
    inline = runner.inline
    with contextlib.ExitStack() as stack:
        if store is None and not inline:
            store = stack.enter_context(tempfile.TemporaryDirectory(prefix="pcdiag-sweep-"))
        kept = (stack.enter_context(use_store(store, config, axes, plan.program_axes,
                                              plan.combos)) if store is not None else None)
        bar = stack.enter_context(progress_bar(
            len(plan.units) * (plan.runs * steps if inline else 1), "sweep", enabled=progress,
            unit="run-step" if inline else "unit"))
        found: dict[int, dict[str, np.ndarray]] = {}
        for unit in plan.units if kept is not None else ():
            records = kept.load(unit, plan.combos[unit], plan.runs, plan.logged)
            if records is not None:
                found[unit] = records
                if bar is not None:
                    bar.update(plan.runs * steps if inline else 1)
        missing = [unit for unit in plan.units if unit not in found]
        if inline:
            data_cache: dict[tuple, Any] = {} if data is None else {_data_key(config): data}

            def task_fn(task: Task) -> Outcome:
                try:
                    outcome, records = _run_claimed(kept, plan, task, data_cache, bar,
                                                    checkpoints)
                except BaseException as error:
                    if kept is not None:
                        kept.log("failed", task.unit, error=f"{type(error).__name__}: {error}",
                                 attempt=1, final=True, executor=runner.name)
                    raise
                if records is not None:
                    found[task.unit] = records
                return outcome
        else:
            task_fn = run_stored_unit
        failed = runner.run(kept, missing, task_fn, config.to_json(), bar)
        if failed:
            raise executors.SweepError(executors.failure_message(kept, failed, runner), failed)
        for unit in missing:
            if unit not in found:  # run by a worker (or by another sweep on the store)
                found[unit] = kept.load(unit, plan.combos[unit], plan.runs, plan.logged)
                if found[unit] is None:
                    raise StoreError(f"unit {unit} of {kept.root} was reported finished but "
                                     "its file is missing; rerun the sweep to recompute it")
    return _assemble(plan, found)


def open_store(root: str | os.PathLike) -> xr.Dataset:
    """The sweep in store folder `root` as one Dataset, however far it has got: the finished
    units' runs, NaN (diverged_at -1) at the points not finished yet, and a boolean
    variable `finished` over the sweep dims. Safe to call while the sweep runs (unit files
    appear whole or not at all); once every unit is finished it equals the sweep's Dataset
    plus `finished`."""
    store = Store.attach(root)
    plan = Plan.of_store(store)
    found = {}
    for unit in plan.units:
        records = store.load(unit, plan.combos[unit], plan.runs, plan.logged)
        if records is not None:
            found[unit] = records
    finished = np.zeros(tuple(len(v) for v in plan.axes.values()), dtype=bool)
    for unit in found:
        for index, _ in plan.points(unit):
            finished[index] = True
    if found:
        ds = _assemble(plan, found)
    else:
        ds = xr.Dataset(coords={name: (name, list(values)) for name, values in plan.axes.items()},
                        attrs=global_attrs(plan.widest, plan.axes))
    ds["finished"] = (tuple(plan.axes), finished)
    ds["finished"].attrs = {
        "long_name": "unit finished", "units": "1",
        "comment": "True where the run's unit is finished in the store; elsewhere the run's "
                   "variables are NaN (diverged_at -1) until it is",
    }
    ds.attrs["history"] += (f" read from the store {store.root} ({len(found)} of "
                            f"{len(plan.units)} units finished)")
    return ds


# --------------------------------------------------------------------------- units


@dataclass(frozen=True)
class Plan:
    """A sweep cut into units: every combination of the program axes (one compiled program
    each) times every point of the vectorised axes (its vmapped runs)."""

    config: Config
    axes: dict[str, list]
    program_axes: list[str]
    vector_axes: list[str]
    combos: list[dict]
    vector_points: list[tuple]

    @classmethod
    def of(cls, config: Config, axes: dict[str, list]) -> Plan:
        vector_axes = [n for n in axes if vectorisable(n)]
        program_axes = [n for n in axes if not vectorisable(n)]
        combos = [dict(zip(program_axes, c))
                  for c in itertools.product(*(axes[n] for n in program_axes))]
        points = list(itertools.product(*(axes[n] for n in vector_axes)))
        return cls(config, axes, program_axes, vector_axes, combos, points)

    @classmethod
    def of_store(cls, store: Store, config: Config | None = None) -> Plan:
        """The plan of the sweep a store holds (with `config`: the sweep's own base config,
        which may differ from the stored one in fields that change no result)."""
        spec = store.spec
        plan = cls.of(config or Config.from_dict(spec["config"], source=SPEC),
                      {name: list(values) for name, values in spec["axes"].items()})
        if plan.combos != [unit["combo"] for unit in spec["units"]]:
            raise StoreError(f"{store.root / SPEC} lists other units than its axes make; "
                             "it was edited by hand: use a new store folder")
        return plan

    @property
    def units(self) -> range:
        return range(len(self.combos))

    @property
    def runs(self) -> int:
        """Runs vmapped in each unit."""
        return len(self.vector_points)

    @property
    def logged(self) -> int:
        """Logged steps of each run."""
        config = self.config
        return config.epochs * -(-config.steps_per_epoch // config.log_every)

    @property
    def widest(self) -> Config:
        return _widest(self.config, self.axes)

    def base(self, unit: int) -> Config:
        return self.config.replace(**self.combos[unit])

    def points(self, unit: int):
        """(index into the sweep dims, run number in the unit) of each run of `unit`."""
        combo = self.combos[unit]
        for r, point in enumerate(self.vector_points):
            named = combo | dict(zip(self.vector_axes, point))
            yield tuple(self.axes[n].index(named[n]) for n in self.axes), r


#: Data sets a worker process has loaded (by _data_key), kept for its later units.
_WORKER_DATA: dict[tuple, DeviceData] = {}


def run_stored_unit(task: Task) -> Outcome:
    """Run one unit of a stored sweep and write it to the store: what the workers of every
    executor run (the same code as a sweep in one process, pcdiag.runs._run_claimed)."""
    store = Store.attach(task.store)
    plan = Plan.of_store(store, Config.from_json(task.config))
    return _run_claimed(store, plan, task, _WORKER_DATA, None)[0]


def _run_claimed(store: Store | None, plan: Plan, task: Task, data_cache,
                 bar, checkpoints: bool = False) -> tuple[Outcome, dict | None]:
    """Claim the unit (unless someone else runs it), train it, save it, release it; with
    `checkpoints`, each epoch's end is saved beside the unit's file (.ckpt)."""
    combo = plan.combos[task.unit]

    def train_unit():
        ckpt = (store.path(task.unit, combo).with_suffix(".ckpt")
                if checkpoints and store is not None else None)
        return _run_unit(plan.base(task.unit), plan.vector_axes, plan.vector_points, data_cache,
                         bar, combo, ckpt)

    if store is None:
        return Outcome(task.unit, "done"), train_unit()
    claim = store.claim(task.unit, task.token, task.replaces)
    if claim is None:
        return Outcome(task.unit, "busy"), None
    with store.holding(claim):
        records = train_unit()
        store.save(task.unit, combo, records, claim=claim)
    return Outcome(task.unit, "done"), records


def _assemble(plan: Plan, found: dict[int, dict[str, np.ndarray]]) -> xr.Dataset:
    """The Dataset of the finished units' runs (missing points NaN)."""
    results: dict[tuple, dict[str, np.ndarray]] = {}
    for unit in sorted(found):
        for index, r in plan.points(unit):
            results[index] = {k: v if k in ("step", "epoch_of_step") else v[r]
                              for k, v in found[unit].items()}
    widest = plan.widest
    stacked = _stack(results, plan.axes, widest)
    ds = build(stacked, widest, plan.axes)
    if "energy_total" in stacked:  # each run's own layers, not the NaN padding of a depth sweep
        ds["energy_total"] = ds["energy_total"].copy(data=stacked["energy_total"])
        ds = with_run_status(ds)
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


def _stack(results: dict[tuple, dict], axes: dict[str, list],
           widest: Config) -> dict[str, np.ndarray]:
    """Per-run records -> arrays with the sweep dims in front, NaN-padded to the widest run
    (`widest`: the config with the sweep's largest depth and inference_steps).

    Adds `energy_total`, each run's sum over its own layers: summing after padding would
    make every shallower run of a depth sweep NaN.
    """
    shape = tuple(len(v) for v in axes.values())
    sizes = {"layer": widest.depth, "t": widest.inference_steps + 1}
    first = next(iter(results.values()))
    stacked = {"step": first["step"], "epoch_of_step": first["epoch_of_step"]}
    names = dict.fromkeys(name for record in results.values() for name in record)
    for name in names:  # a record some units lack (e.g. bp_cosine) is NaN for their runs
        if name not in stacked:
            stacked[name] = _pad(name, {i: r[name] for i, r in results.items() if name in r},
                                 shape, sizes)
    if "energy" in names:
        stacked["energy_total"] = _pad(
            "energy_total",
            {i: r["energy"].sum(axis=-1) for i, r in results.items() if "energy" in r}, shape,
            sizes)
    return stacked


def _pad(name: str, arrays: dict[tuple, np.ndarray], shape: tuple,
         sizes: dict[str, int]) -> np.ndarray:
    """One variable of every run; missing runs and the layers or t beyond a run's own are
    NaN (diverged_at: -1). A `layer` or `t` dim has at least its size in `sizes` (so a
    partly finished sweep has the whole sweep's dims)."""
    widest = np.max([a.shape for a in arrays.values()], axis=0)
    dims = VARIABLES[name].dims if name in VARIABLES else ()
    if len(dims) == len(widest):
        widest = [max(int(n), sizes.get(dim, 0)) for dim, n in zip(dims, widest)]
    fill = -1 if name == "diverged_at" else np.nan
    dtype = np.int64 if name == "diverged_at" else np.result_type(*arrays.values())
    out = np.full(shape + tuple(widest), fill, dtype)
    for index, array in arrays.items():
        out[index + tuple(slice(0, n) for n in array.shape)] = array
    return out
