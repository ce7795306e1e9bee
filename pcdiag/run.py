"""`train(config)`: one run, start to finish, returned as a Dataset."""

from __future__ import annotations

import jax
import xarray as xr

from pcdiag import data as data_module
from pcdiag import resources
from pcdiag.config import Config
from pcdiag.dataset import build
from pcdiag.loop import DeviceData, Timing, run
from pcdiag.progress import progress_bar
from pcdiag.train import Hyper, Program


def load_device_data(config: Config) -> DeviceData:
    train, test = data_module.load(
        config.dataset, config.data_dir, config.train_limit, config.test_limit
    )
    return DeviceData.from_splits(train, test)


def train(
    config: Config | None = None, *, progress: bool = False, data: DeviceData | None = None,
    **changes,
) -> xr.Dataset:
    """Train one network as `config` says (fields may be overridden by keyword).

    Returns the run's Dataset (see pcdiag.dataset for the names); `ds.attrs["config"]` holds
    the full config as JSON. Timings are in `train.last_timing`, not in the Dataset, so the
    same config and seed give the same Dataset.
    """
    config = (config or Config()).replace(**changes) if changes else (config or Config())
    resources.check(config)  # ResourceError before any loading or compiling
    data = data or load_device_data(config)
    prog = Program.from_config(config)
    hyper = jax.tree_util.tree_map(lambda a: a[None], Hyper.from_config(config))
    keys = jax.random.PRNGKey(config.seed)[None]
    total = config.epochs * (data.n_train // config.batch_size)
    with progress_bar(total, f"{config.algorithm} train", enabled=progress) as bar:
        records, timing = run(prog, hyper, keys, data, config.epochs, bar)
    train.last_timing = timing
    single = {k: (v if k in ("step", "epoch_of_step") else v[0]) for k, v in records.items()}
    return build(single, config, {})


train.last_timing = Timing()
