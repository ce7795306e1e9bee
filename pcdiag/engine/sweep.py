"""Running a sweep: plan it (pcdiag.engine.plan), find the units its store already holds,
hand the others to an executor (pcdiag.engine.executors), and assemble the Dataset
(pcdiag.engine.assemble); and reading a store however far its sweep has got.

Every executor runs its units through the same driver (executors.base.Executor.run). Units
run in the sweep's own process (executor "local") share its data, progress bar and
checkpoints, and their records are kept as they finish; units run by workers are written to
the store (a temporary one when the sweep gives none) and read back from there.
"""

from __future__ import annotations

import contextlib
import os
import tempfile

import numpy as np
import xarray as xr

from pcdiag.config import Config
from pcdiag.dataset import global_attrs
from pcdiag.engine import executors, resources
from pcdiag.engine.assemble import assemble
from pcdiag.engine.executors import Executor, Outcome, Task
from pcdiag.engine.loop import DeviceData
from pcdiag.engine.plan import Plan, check_axes
from pcdiag.engine.store import Store, StoreIOError, use_store
from pcdiag.engine.units import data_key, run_claimed, run_stored_unit
from pcdiag.errors import ConfigError
from pcdiag.progress import progress_bar
from pcdiag.records import RunRecords


def run_sweep(config: Config, axes: dict, *, progress: bool = False,
              store: str | os.PathLike | None = None, data: DeviceData | None = None,
              checkpoints: bool = False, executor: str | Executor = "local",
              workers: int | None = None, address: str | None = None) -> xr.Dataset:
    """Every combination of `axes` over `config`, one Dataset with a dim per axis (what
    pcdiag.sweep documents)."""
    if checkpoints and store is None:
        raise ConfigError("checkpoints=True needs a store folder (store=DIR): the "
                          "checkpoints are kept there")
    axes = check_axes(config, axes)
    plan = Plan.of(config, axes)
    bases = [plan.base(unit) for unit in plan.units]  # every ConfigError before any run
    runner = executors.make(executor, workers=workers, address=address)
    runner.prepare(store=store, checkpoints=checkpoints)
    here = runner.in_process
    # the device part of the check is the workers' (here it would start the accelerator)
    resources.check(config, [(base, plan.runs) for base in bases], plan.widest, device=here)
    with contextlib.ExitStack() as stack:
        if store is None and not here:
            store = stack.enter_context(tempfile.TemporaryDirectory(prefix="pcdiag-sweep-"))
        kept = (stack.enter_context(use_store(store, config, axes, plan.program_axes,
                                              plan.combos)) if store is not None else None)
        # the bar counts run-steps (the loop moves it) or units (the driver moves it)
        per_unit, unit_name = (plan.runs * plan.steps, "run-step") if here else (1, "unit")
        bar = stack.enter_context(progress_bar(len(plan.units) * per_unit, "sweep",
                                               enabled=progress, unit=unit_name))
        found = finished_units(kept, plan) if kept is not None else {}
        if bar is not None and found:
            bar.update(per_unit * len(found))
        missing = [unit for unit in plan.units if unit not in found]
        task_fn, driver_bar = ((InProcess(kept, plan, data, bar, checkpoints, found), None)
                               if here else (run_stored_unit, bar))
        failed = runner.run(kept, missing, task_fn, config.to_json(), driver_bar)
        if failed:
            raise executors.SweepError(executors.failure_message(kept, failed, runner), failed)
        for unit in missing:
            if unit not in found:  # run by a worker (or by another sweep on the store)
                found[unit] = kept.load(unit, plan.combos[unit], plan.runs, plan.logged)
                if found[unit] is None:
                    raise StoreIOError(f"unit {unit} of {kept.root} was reported finished but "
                                       "its file is missing; rerun the sweep to recompute it")
    return assemble(plan, found)


class InProcess:
    """The task function of units run in the sweep's own process: `run_claimed` with the
    sweep's data (`data`, else loaded once per data set), progress bar and checkpoints,
    keeping each finished unit's records in `found`."""

    def __init__(self, store: Store | None, plan: Plan, data: DeviceData | None, bar,
                 checkpoints: bool, found: dict[int, RunRecords]):
        self.store, self.plan, self.bar = store, plan, bar
        self.checkpoints, self.found = checkpoints, found
        self.data_cache: dict = {} if data is None else {data_key(plan.config): data}

    def __call__(self, task: Task) -> Outcome:
        outcome, records = run_claimed(self.store, self.plan, task, self.data_cache, self.bar,
                                       self.checkpoints)
        if records is not None:
            self.found[task.unit] = records
        return outcome


def finished_units(store: Store, plan: Plan) -> dict[int, RunRecords]:
    """The records of every unit the store holds, by unit."""
    found = {}
    for unit in plan.units:
        records = store.load(unit, plan.combos[unit], plan.runs, plan.logged)
        if records is not None:
            found[unit] = records
    return found


def read_store(root: str | os.PathLike) -> xr.Dataset:
    """The sweep in store folder `root` as one Dataset, however far it has got, with the
    boolean variable `finished` (what pcdiag.open_store documents)."""
    store = Store.attach(root)
    plan = Plan.of_store(store)
    found = finished_units(store, plan)
    finished = np.zeros(tuple(len(v) for v in plan.axes.values()), dtype=bool)
    for unit in found:
        for index, _ in plan.points(unit):
            finished[index] = True
    if found:
        ds = assemble(plan, found)
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
