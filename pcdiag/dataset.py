"""Records -> labelled xarray Dataset; the schema; validation; netCDF save and open.

The names here are the contract that plots, notebooks and checks rely on: bump
SCHEMA_VERSION when they change.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

import numpy as np
import xarray as xr

from pcdiag import __version__
from pcdiag.config import Config

SCHEMA_VERSION = 1
ENGINE = "h5netcdf"
#: Global attrs that differ between two otherwise identical runs.
VOLATILE_ATTRS = ("created", "history")

#: variable -> (dims after the sweep dims, long_name, units, comment)
VARIABLES = {
    "energy": (
        ("step", "t", "layer"),
        "layer energy",
        "1",
        "batch mean of per-sample E_l = 1/2 ||x_l - mu_l||^2 (output node: its output energy; "
        "with layer_precision, pi_l E_l); "
        "t = 0 right after forward initialisation, t = k after the k-th state update",
    ),
    "energy_total": (
        ("step", "t"),
        "total energy",
        "1",
        "F = sum over layers of energy",
    ),
    "energy_ratio": (
        ("step", "t", "layer"),
        "energy ratio E_l / E_l+1",
        "1",
        "energy of layer l over energy of layer l+1 (lower over upper); NaN at l = L",
    ),
    "state_grad_norm": (
        ("step", "t", "layer"),
        "state gradient norm",
        "1",
        "batch mean of per-sample ||dF_i/dx_l||, read at the states of iteration t; "
        "NaN where the node is clamped",
    ),
    "weight_grad_norm": (
        ("step", "layer"),
        "weight gradient norm",
        "1",
        "Frobenius norm of (dW_l, db_l): the gradient the weight optimizer received "
        "(pc: batch-mean F at x_T; ipc: at its last update; bp: batch-mean output loss)",
    ),
    "weight_norm": (
        ("step", "layer"),
        "weight norm",
        "1",
        "Frobenius norm of (W_l, b_l) after the step",
    ),
    "update_norm": (
        ("step", "layer"),
        "update norm",
        "1",
        "Frobenius norm of the weight optimizer's update to (W_l, b_l) in the step "
        "(ipc: new - old, the sum of its T updates)",
    ),
    "bp_cosine": (
        ("step", "layer"),
        "cosine with backprop gradient",
        "1",
        "cosine between the weight gradient the optimizer received and the backprop gradient "
        "of the batch-mean output loss, same weights and batch (W_l and b_l together)",
    ),
    "hessian_condition": (
        ("step",),
        "Hessian condition number",
        "1",
        "lambda_max / lambda_min of the Hessian of a sample's F w.r.t. its inference "
        "variables (states; errors for epc) at t = 0, median over the batch's first "
        "hessian_samples samples; exact below 512 free units, else 64-step Lanczos",
    ),
    "train_loss": (
        ("step",),
        "train loss",
        "1",
        "batch mean of the output energy of the feedforward prediction, before the step",
    ),
    "train_accuracy": (
        ("epoch",),
        "train accuracy",
        "1",
        "fraction of the training set the feedforward prediction classifies correctly",
    ),
    "test_accuracy": (
        ("epoch",),
        "test accuracy",
        "1",
        "fraction of the test set the feedforward prediction classifies correctly",
    ),
    "diverged_at": (
        (),
        "diverged at step",
        "1",
        "first step with a non-finite energy (or loss for bp); -1 if none",
    ),
}
REQUIRED = ("weight_grad_norm", "weight_norm", "update_norm", "train_loss",
            "train_accuracy", "test_accuracy", "diverged_at")
PER_T = ("energy", "energy_total", "energy_ratio", "state_grad_norm")

COORDS = {
    "step": ("training step", "true step number (weight updates before this one)"),
    "t": ("inference iteration", "0 = right after forward initialisation"),
    "layer": ("layer", "node index: 1 nearest the input, L the output node"),
    "epoch": ("epoch", "evaluation after this many epochs"),
    "epoch_of_step": ("epoch of step", "the epoch (1-based) the step belongs to"),
}


class SchemaError(ValueError):
    """A Dataset or file that does not follow pcdiag's Dataset contract."""


def build(records: dict[str, np.ndarray], config: Config, sweep: dict[str, list]) -> xr.Dataset:
    """A Dataset from run records whose leading axes are the sweep dims, in `sweep` order."""
    lead = tuple(sweep)
    layers = np.arange(1, config.depth + 1)
    data_vars = {}
    for name in VARIABLES:
        if name in records:
            dims = lead + VARIABLES[name][0]
            data_vars[name] = (dims, records[name])
    if "energy" in records:
        energy = records["energy"]
        data_vars["energy_total"] = (lead + ("step", "t"), _total(energy, sweep))
        data_vars["energy_ratio"] = (lead + ("step", "t", "layer"), energy_ratio(energy))
    coords = {name: (name, list(values)) for name, values in sweep.items()}
    coords.update(
        step=("step", records["step"].astype(np.int64)),
        epoch_of_step=("step", records["epoch_of_step"].astype(np.int64)),
        layer=("layer", layers),
        epoch=("epoch", np.arange(1, config.epochs + 1)),
    )
    if "energy" in records:
        coords["t"] = ("t", np.arange(config.inference_steps + 1))
    ds = xr.Dataset(data_vars, coords=coords)
    ds["diverged_at"] = ds["diverged_at"].astype(np.int64)
    for name in ds.data_vars:
        _, long_name, units, comment = VARIABLES[name]
        ds[name].attrs = {"long_name": long_name, "units": units, "comment": comment}
    for name, (long_name, comment) in COORDS.items():
        if name in ds.coords:
            ds[name].attrs = {"long_name": long_name, "units": "1", "comment": comment}
    for name in sweep:
        ds[name].attrs = {"long_name": name.replace("_", " "), "units": "1",
                          "comment": f"swept config field {name!r}"}
    ds.attrs = _global_attrs(config, sweep)
    return ds


def _total(energy: np.ndarray, sweep: dict[str, list]) -> np.ndarray:
    """Sum over each run's own layers: a depth sweep NaN-pads the shallower runs' layers."""
    if "depth" not in sweep:
        return energy.sum(axis=-1)
    axis = list(sweep).index("depth")
    depth = np.asarray(sweep["depth"]).reshape([-1 if i == axis else 1 for i in range(len(sweep))])
    own = np.arange(1, energy.shape[-1] + 1) <= depth[..., None, None, None]
    return np.where(own, energy, 0).sum(axis=-1)


def energy_ratio(energy: np.ndarray) -> np.ndarray:
    """E_l / E_{l+1} along the last axis, NaN at the output layer."""
    ratio = np.full_like(energy, np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio[..., :-1] = energy[..., :-1] / energy[..., 1:]
    return ratio


def _global_attrs(config: Config, sweep: dict[str, list]) -> dict:
    kind = "sweep over " + ", ".join(sweep) if sweep else "run"
    title = (f"pcdiag {kind}: {config.algorithm} on {config.dataset}, depth {config.depth}, "
             f"width {config.width}")
    now = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    return {
        "title": title,
        "schema_version": SCHEMA_VERSION,
        "pcdiag_version": __version__,
        "config": config.to_json(),
        "sweep": json.dumps({k: list(v) for k, v in sweep.items()}),
        "gamma_convention": config.gamma_convention,
        "energy_read": "t = T is read after the T-th state update: the states the weight "
                       "step uses",
        "created": now,
        "history": f"{now}: pcdiag {__version__} {kind}",
    }


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
    names = list(REQUIRED) + (list(PER_T) if "t" in ds.dims else [])
    for name in names:
        if name not in ds:
            raise SchemaError(f"variable {name!r} missing from the Dataset (schema {version})")
        expected = tuple(sweep) + VARIABLES[name][0]
        if ds[name].dims != expected:
            raise SchemaError(f"variable {name!r} has dims {ds[name].dims}, expected {expected}")
        for attr in ("long_name", "units", "comment"):
            if attr not in ds[name].attrs:
                raise SchemaError(f"variable {name!r} lacks the attribute {attr!r}")
    layer = ds["layer"].values
    if not np.array_equal(layer, np.arange(1, len(layer) + 1)):
        raise SchemaError(f"layer coordinate must be 1..L in order, got {layer.tolist()}")
    return ds


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
    try:
        return validate(loaded)
    except SchemaError as error:
        raise SchemaError(f"{path}: {error}") from None
