"""Records -> labelled xarray Dataset; the schema; validation; netCDF save and open.

The names here are the contract that plots, notebooks and checks rely on: bump
SCHEMA_VERSION when they change. Each variable is declared once, in pcdiag.records.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import xarray as xr

from pcdiag import data as data_module
from pcdiag import status as status_module
from pcdiag._version import __version__
from pcdiag.config import Config
from pcdiag.records import RECORDS, VARIABLES, RunRecords, energy_total

SCHEMA_VERSION = 2
#: What each schema version added (a file of an older version is upgraded when opened).
SCHEMA_CHANGES = {2: "run_status and run_status_step (pcdiag.status)"}
ENGINE = "h5netcdf"
#: Global attrs that differ between two otherwise identical runs.
VOLATILE_ATTRS = ("created", "history")
#: Global attr naming the required records a figure's .nc leaves out (space-separated): each
#: figure keeps only what it draws and what figures/README.md cites (pcdiag.figures.keep).
LEFT_OUT = "records_left_out"

COORDS = {
    "step": ("training step", "true step number (weight updates before this one)"),
    "t": ("inference iteration", "0 = right after forward initialisation"),
    "layer": ("layer", "node index: 1 nearest the input, L the output node"),
    "epoch": ("epoch", "evaluation after this many epochs"),
    "epoch_of_step": ("epoch of step", "the epoch (1-based) the step belongs to"),
}


class SchemaError(ValueError):
    """A Dataset or file that does not follow pcdiag's Dataset contract."""


def build(records: RunRecords | Mapping[str, np.ndarray], config: Config,
          sweep: dict[str, list]) -> xr.Dataset:
    """A Dataset from run records whose leading axes are the sweep dims, in `sweep` order
    (a RunRecords, or a flat mapping of names to arrays with `step` and `epoch_of_step`).

    `energy_total` is taken from the records when they hold it (a sweep's assembly sums each
    run's own layers before padding), else summed here."""
    if not isinstance(records, RunRecords):
        records = RunRecords.from_arrays(records)
    lead = tuple(sweep)
    layers = np.arange(1, config.layers + 1)
    data_vars = {}
    for name in VARIABLES:
        if name in records:
            data_vars[name] = (lead + VARIABLES[name].dims, records[name])
    if "energy" in records and "energy_total" not in records:
        data_vars["energy_total"] = (lead + ("step", "t"), _total(records["energy"], sweep))
    if "energy" in records:
        for variable in RECORDS:
            if variable.derive is not None:
                data_vars[variable.name] = (lead + variable.dims, variable.derive(records))
    coords = {name: (name, list(values)) for name, values in sweep.items()}
    coords.update(
        step=("step", records.step.astype(np.int64)),
        epoch_of_step=("step", records.epoch_of_step.astype(np.int64)),
        layer=("layer", layers),
        epoch=("epoch", np.arange(1, config.epochs + 1)),
    )
    if "energy" in records:
        coords["t"] = ("t", np.arange(config.inference_steps + 1))
    ds = xr.Dataset(data_vars, coords=coords)
    ds["diverged_at"] = ds["diverged_at"].astype(np.int64)
    for name in ds.data_vars:
        v = VARIABLES[name]
        ds[name].attrs = {"long_name": v.long_name, "units": v.units, "comment": v.comment}
    for name, (long_name, comment) in COORDS.items():
        if name in ds.coords:
            ds[name].attrs = {"long_name": long_name, "units": "1", "comment": comment}
    for name in sweep:
        ds[name].attrs = {"long_name": name.replace("_", " "), "units": "1",
                          "comment": f"swept config field {name!r}"}
    ds.attrs = global_attrs(config, sweep)
    return with_run_status(ds)


#: What run_status is classified from, per task (a Dataset lacking one of them gets no
#: run_status).
STATUS_INPUTS = {
    "classification": ("diverged_at", "train_loss", "test_accuracy"),
    "generation": ("diverged_at", "train_loss", "test_mse", "mean_image_mse"),
}


def task_name(ds: xr.Dataset) -> str:
    """The task that made `ds` (its config's `task`; classification before tasks existed)."""
    try:
        return json.loads(ds.attrs["config"]).get("task", "classification")
    except (KeyError, TypeError, ValueError, AttributeError):
        return "classification"


def with_run_status(ds: xr.Dataset) -> xr.Dataset:
    """`ds` with run_status and run_status_step (re)computed from its recorded data."""
    if not all(name in ds for name in STATUS_INPUTS[task_name(ds)]):
        return ds
    status, step = status_module.classify(ds)
    return ds.assign(run_status=status, run_status_step=step)


def _total(energy: np.ndarray, sweep: dict[str, list]) -> np.ndarray:
    """Sum over each run's own layers: a depth sweep NaN-pads the shallower runs' layers."""
    if "depth" not in sweep:
        return energy_total(energy)
    axis = list(sweep).index("depth")
    depth = np.asarray(sweep["depth"]).reshape([-1 if i == axis else 1 for i in range(len(sweep))])
    own = np.arange(1, energy.shape[-1] + 1) <= depth[..., None, None, None]
    return energy_total(np.where(own, energy, 0))


def global_attrs(config: Config, sweep: dict[str, list]) -> dict:
    kind = "sweep over " + ", ".join(sweep) if sweep else "run"
    title = (f"pcdiag {kind}: {config.algorithm} on {config.dataset}, depth {config.depth}, "
             f"width {config.width}")
    now = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    task = {} if config.task == "classification" else {"task": config.task}
    if task:
        title += f", task {config.task}"
    return {
        **task,
        "title": title,
        "schema_version": SCHEMA_VERSION,
        "pcdiag_version": __version__,
        "config": config.to_json(),
        "sweep": json.dumps({k: list(v) for k, v in sweep.items()}),
        "gamma_convention": config.gamma_convention,
        "input_normalisation": _normalisation(config, sweep),
        "energy_read": "t = T is read after the T-th state update: the states the weight "
                       "step uses",
        "created": now,
        "history": f"{now}: pcdiag {__version__} {kind}",
    }


def _normalisation(config: Config, sweep: dict[str, list]) -> str:
    """How the input images were standardised (per data set when the sweep has several)."""
    if "dataset" not in sweep:
        return data_module.normalisation_note(config.dataset, config.normalisation)
    return "; ".join(f"{name}: {data_module.normalisation_note(name, config.normalisation)}"
                     for name in sweep["dataset"])


#: The dims a pcdiag Dataset records along inside a run; every other dim is a sweep dim.
#: Dims along a run, never swept: probe_step is the logged-step axis of a figure's Hessian
#: probe (pcdiag.figures.gamma.limit), kept apart from the run's own steps.
RUN_DIMS = ("step", "t", "layer", "epoch", "probe_step")
#: Dims of a figure's values derived across runs, never a sweep dim: `comparison` (pairs of
#: lines compared over seeds) and `gamma_grid` (the steps a setting was chosen from).
DERIVED_DIMS = ("comparison", "gamma_grid")


def sweep_dims(ds: xr.Dataset) -> list[str]:
    """The Dataset's sweep dims (every dim that is not in RUN_DIMS or DERIVED_DIMS: the
    config fields swept, or a figure's variant / recipe / network)."""
    return [d for d in ds.dims if d not in RUN_DIMS + DERIVED_DIMS]


def config_of(ds: xr.Dataset) -> Config:
    """The Config a Dataset was made with (for a sweep: its base config)."""
    return Config.from_json(ds.attrs["config"])


def validate(ds: xr.Dataset) -> xr.Dataset:
    """Check `ds` against the contract; raise SchemaError naming what is wrong."""
    missing_attrs = [a for a in ("schema_version", "config", "pcdiag_version") if a not in ds.attrs]
    if missing_attrs:
        raise SchemaError(
            f"not a pcdiag Dataset: global attribute(s) {', '.join(missing_attrs)} missing; "
            "make it with pcdiag.train or pcdiag.sweep"
        )
    version = int(ds.attrs["schema_version"])
    if version > SCHEMA_VERSION:
        raise SchemaError(
            f"schema_version {version} is newer than this pcdiag understands ({SCHEMA_VERSION}); "
            "upgrade pcdiag to read it"
        )
    sweep = json.loads(ds.attrs.get("sweep", "{}"))
    left_out = set(str(ds.attrs.get(LEFT_OUT, "")).split())  # a figure's lean selection
    task = task_name(ds)
    names = [v.name for v in RECORDS if v.required_for(task)
             and ("t" in ds.dims or "t" not in v.dims) and v.name not in left_out]
    for name in names:
        if name not in ds:
            raise SchemaError(f"variable {name!r} missing from the Dataset (schema {version})")
        expected = tuple(sweep) + VARIABLES[name].dims
        if ds[name].dims != expected:
            raise SchemaError(f"variable {name!r} has dims {ds[name].dims}, expected {expected}")
        for attr in ("long_name", "units", "comment"):
            if attr not in ds[name].attrs:
                raise SchemaError(f"variable {name!r} lacks the attribute {attr!r}")
    if version >= 2:
        _check_status(ds, tuple(sweep))
    layer = ds["layer"].values
    if not np.array_equal(layer, np.arange(1, len(layer) + 1)):
        raise SchemaError(f"layer coordinate must be 1..L in order, got {layer.tolist()}")
    return ds


def _check_status(ds: xr.Dataset, sweep: tuple[str, ...]) -> None:
    for name in ("run_status", "run_status_step"):
        if name not in ds:
            raise SchemaError(f"variable {name!r} missing from the Dataset (schema 2 and later "
                              "have it); add it with pcdiag.dataset.with_run_status(ds)")
        if ds[name].dims != sweep:
            raise SchemaError(f"variable {name!r} has dims {ds[name].dims}, expected {sweep}")
    status = ds["run_status"]
    meanings = status.attrs.get("flag_meanings")
    values = np.asarray(status.attrs.get("flag_values", []))
    if meanings is None or len(str(meanings).split()) != values.size:
        raise SchemaError("variable 'run_status' needs the CF attributes flag_values and "
                          "flag_meanings, one meaning per value")
    unknown = sorted(set(np.unique(status.values).tolist()) - set(values.tolist()))
    if unknown:
        raise SchemaError(f"run_status holds {unknown}, not among its flag_values "
                          f"{values.tolist()}")
    ok = status.values == status_module.OK
    if (ds["run_status_step"].values[ok] != -1).any():
        raise SchemaError("run_status_step must be -1 where run_status is 0 (ok)")


def save(ds: xr.Dataset, path: str | os.PathLike) -> Path:
    """Write `ds` as netCDF4 atomically (a reader never sees half a file), every data
    variable zlib-compressed (lossless: per-t records padded with NaN shrink several-fold)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    encoding = {name: {"zlib": True, "complevel": 4} for name in ds.data_vars}
    try:
        ds.to_netcdf(tmp, engine=ENGINE, encoding=encoding)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def open_dataset(path: str | os.PathLike) -> xr.Dataset:
    """Load a pcdiag netCDF file fully into memory and validate it."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file; give the path of a .nc file pcdiag wrote")
    try:
        with xr.open_dataset(path, engine=ENGINE) as ds:
            loaded = ds.load()
    except (OSError, ValueError) as error:
        raise SchemaError(f"{path}: not a readable netCDF4 file ({error})") from error
    if int(loaded.attrs.get("schema_version", SCHEMA_VERSION)) < 2 and "run_status" not in loaded:
        loaded = with_run_status(loaded)  # schema 1 files: classified from what they hold
        if "run_status" in loaded:
            loaded.attrs["history"] = (loaded.attrs.get("history", "") + "\nopened by pcdiag "
                                       f"{__version__}: run_status added ({SCHEMA_CHANGES[2]})")
    try:
        return validate(loaded)
    except SchemaError as error:
        raise SchemaError(f"{path}: {error}") from None
