"""Training a unit: one compiled program and its vmapped runs, as `pcdiag.train` (a unit of
one run) and every unit of a sweep run it, in the sweep's process or in an executor's worker.

`run_stored_unit(task)` is what every executor's workers run: claim the unit in the store
(unless someone else runs it), train it, write its file, release the claim. The sweep's own
process runs the same `run_claimed`, with its data, progress bar and checkpoints.
"""

from __future__ import annotations

import json
import os

import jax
import jax.numpy as jnp
import xarray as xr

from pcdiag import data as data_module
from pcdiag.algorithms import Hyper, Program
from pcdiag.config import Config, affects_results
from pcdiag.dataset import build
from pcdiag.engine import resources
from pcdiag.engine.executors.base import Outcome, Task
from pcdiag.engine.loop import DeviceData, Timing, run
from pcdiag.engine.plan import Plan
from pcdiag.engine.store import Store
from pcdiag.progress import progress_bar
from pcdiag.records import RunRecords


def load_device_data(config: Config) -> DeviceData:
    """The train, validation (validation_size > 0) and test sets `config` names, on the
    device (reuse it across runs)."""
    train, validation, test = data_module.load_with_validation(
        config.dataset, config.data_dir, config.train_limit, config.test_limit,
        config.normalisation, config.validation_size,
    )
    black = data_module.black(config.dataset, config.normalisation)
    return DeviceData.from_splits(train, test, black, validation)


def data_key(config: Config) -> tuple:
    """What decides the data a config loads (units with the same key share it)."""
    return (config.dataset, config.data_dir, config.train_limit, config.test_limit,
            config.normalisation, config.validation_size)


def checkpoint_identity(runs: list[Config]) -> dict:
    """What a checkpoint of these runs must match: each run's result-affecting fields."""
    return {"configs": [json.dumps({k: v for k, v in r.to_dict().items() if affects_results(k)},
                                   sort_keys=True) for r in runs]}


def train_one(config: Config, *, progress: bool = False, data: DeviceData | None = None,
              checkpoint_dir: str | os.PathLike | None = None) -> tuple[xr.Dataset, Timing]:
    """One run of `config`: its Dataset and where the time went (see pcdiag.train)."""
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
    return build(records.run(0), config, {}), timing


def train_unit(plan: Plan, unit: int, data_cache: dict, bar=None,
               checkpoint_dir=None) -> RunRecords:
    """Train `unit`'s runs (vmapped) and return their records, runs first. `data_cache`
    (by data_key) keeps the data sets loaded for later units."""
    base = plan.base(unit)
    key = data_key(base)
    if key not in data_cache:
        data_cache[key] = load_device_data(base)
    runs = plan.runs_of(unit)
    hyper = Hyper.of_runs(runs)
    keys = jnp.stack([jax.random.PRNGKey(r.seed) for r in runs])
    if bar is not None:
        bar.set_description(plan.label(unit))
    records, _ = run(Program.from_config(base), hyper, keys, data_cache[key], base.epochs, bar,
                     checkpoint_dir=checkpoint_dir, checkpoint_meta=checkpoint_identity(runs))
    return records


def run_claimed(store: Store | None, plan: Plan, task: Task, data_cache: dict, bar=None,
                checkpoints: bool = False) -> tuple[Outcome, RunRecords | None]:
    """Claim the unit (unless someone else runs it), train it, save it, release it; with
    `checkpoints`, each epoch's end is saved beside the unit's file (.ckpt). Without a
    store, just train it."""
    if store is None:
        return Outcome(task.unit, "done"), train_unit(plan, task.unit, data_cache, bar)
    claim = store.claim(task.unit, task.token, task.replaces)
    if claim is None:
        return Outcome(task.unit, "busy"), None
    combo = plan.combos[task.unit]
    ckpt = store.path(task.unit, combo).with_suffix(".ckpt") if checkpoints else None
    with store.holding(claim):
        records = train_unit(plan, task.unit, data_cache, bar, ckpt)
        store.save(task.unit, combo, records, claim=claim)
    return Outcome(task.unit, "done"), records


#: Data sets a worker process has loaded (by data_key), kept for its later units.
_WORKER_DATA: dict[tuple, DeviceData] = {}


def run_stored_unit(task: Task) -> Outcome:
    """Run one unit of a stored sweep and write it to the store: what the workers of every
    executor run (the same code as a sweep in one process, `run_claimed`)."""
    store = Store.attach(task.store)
    plan = Plan.of_store(store, Config.from_json(task.config))
    return run_claimed(store, plan, task, _WORKER_DATA)[0]
