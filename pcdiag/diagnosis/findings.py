"""A diagnosis' findings as an xarray Dataset: one value (or one per layer) per run, over the
Dataset's sweep dims, all read through pcdiag.measures (no private counts)."""

from __future__ import annotations

import json

import numpy as np
import xarray as xr

from pcdiag import measures, status
from pcdiag.dataset import sweep_dims


def _late_median(da: xr.DataArray) -> xr.DataArray:
    return measures.late(da).median("step")


def has_inference_records(ds: xr.Dataset) -> bool:
    return "energy" in ds and "t" in ds.dims and bool(np.isfinite(ds["energy"]).any())


def findings(ds: xr.Dataset, bp: xr.Dataset | None = None) -> xr.Dataset:
    """The findings of every run in `ds`: status, accuracy against chance and BP, where the
    energy goes, which layers are reached and which learn, profiles, relaxation, conditioning
    and alignment where recorded. `bp`: a companion BP Dataset of the same network (its final
    accuracy, averaged over any dims `ds` lacks, is the reference); where `ds` has an
    `algorithm` dim with "bp", that is used instead."""
    runs = ds["diverged_at"]
    out = xr.Dataset(coords={d: ds[d] for d in sweep_dims(ds)})
    if "test_mse" in ds:  # generation: the reconstruction's MSE against the mean image's
        _reconstruction(ds, bp, out)
    else:
        _accuracy(ds, bp, out)
    if "run_status" in ds:

        out["status"] = ds["run_status"]
        out["status_step"] = ds["run_status_step"]
    else:
        out["status"], out["status_step"] = status.classify(ds)
    out["depth"] = measures.output_layer(ds).assign_attrs(long_name="weight layers L",
                                                          units="layers")
    out["inference_steps"] = _inference_steps(ds, runs)
    algorithm = measures.per_run_setting(ds, "algorithm", runs, "pc")
    out["algorithm_name"] = algorithm.astype(str)
    out["weight_optimizer_name"] = measures.per_run_setting(
        ds, "weight_optimizer", runs, "adamw").astype(str)
    out["parameterization_name"] = measures.per_run_setting(
        ds, "parameterization", runs, "sp").astype(str)
    out["skip"] = measures.per_run_setting(ds, "skip", runs, False).astype(bool)
    # standard PC's front moves one layer per iteration: layer 1 needs L - 1 of them
    needed = xr.where(algorithm == "epc", 1, out["depth"] - 1)
    out["steps_needed"] = needed.where(algorithm != "bp").assign_attrs(
        long_name="iterations the error needs to reach layer 1", units="iterations",
        comment="L - 1 for pc and ipc (the front moves one layer per iteration), 1 for epc")
    _learning(ds, out)
    if has_inference_records(ds):
        _inference(ds, out)
    if "hessian_lambda_max" in ds:
        limit = measures.step_limit(ds)
        out["step_limit"] = _late_median(limit["limit"]).assign_attrs(limit["limit"].attrs)
        out["stable"] = limit["stable"].min("step").assign_attrs(limit["stable"].attrs)
    if "hessian_condition" in ds:
        out["hessian_condition"] = _late_median(ds["hessian_condition"]).assign_attrs(
            ds["hessian_condition"].attrs)
    if "bp_cosine" in ds:
        out["bp_cosine"] = _late_median(ds["bp_cosine"]).assign_attrs(ds["bp_cosine"].attrs)
    out["train_loss"] = ds["train_loss"]
    out.attrs = {"title": "pcdiag diagnosis findings", "config": ds.attrs.get("config", "{}"),
                 "sweep": json.dumps(sweep_dims(ds)),
                 "late_steps": f"profiles and medians over the last "
                               f"{measures.LATE_FRACTION:.0%} of logged steps"}
    return out


def _accuracy(ds: xr.Dataset, bp: xr.Dataset | None, out: xr.Dataset) -> None:
    accuracy = ds["test_accuracy"].isel(epoch=-1, drop=True)
    out["accuracy"] = accuracy.assign_attrs(long_name="final test accuracy", units="1")
    out["chance"] = xr.DataArray(1.0 / status.N_CLASSES,
                                 attrs={"long_name": "chance accuracy", "units": "1"})
    bp_accuracy = _bp_score(ds, bp, "test_accuracy")
    if bp_accuracy is not None:
        out["accuracy_bp"] = bp_accuracy.assign_attrs(
            long_name="BP's final test accuracy", units="1",
            comment="the same network trained by backprop (mean over seeds where the "
                    "companion has seeds the run lacks)")


def _reconstruction(ds: xr.Dataset, bp: xr.Dataset | None, out: xr.Dataset) -> None:
    out["mse"] = ds["test_mse"].isel(epoch=-1, drop=True).assign_attrs(
        long_name="final test reconstruction MSE", units="1")
    out["mse_mean_image"] = ds["mean_image_mse"].assign_attrs(
        long_name="mean-image MSE", units="1",
        comment="the trivial predictor's (the mean training image): generation's chance")
    bp_mse = _bp_score(ds, bp, "test_mse")
    if bp_mse is not None:
        out["mse_bp"] = bp_mse.assign_attrs(
            long_name="BP's final test reconstruction MSE", units="1",
            comment="the autoencoder baseline (mean over seeds where the companion has "
                    "seeds the run lacks)")


def _inference_steps(ds: xr.Dataset, runs: xr.DataArray) -> xr.DataArray:
    if "inference_steps" in ds.dims:
        value = ds["inference_steps"].broadcast_like(runs)
    elif has_inference_records(ds):
        recorded = ds["energy_total"].notnull().any("step")
        value = (recorded * ds["t"]).max("t").broadcast_like(runs)
    else:
        value = measures.per_run_setting(ds, "inference_steps", runs, np.nan).astype(float)
    return value.astype(float).assign_attrs(long_name="inference steps T", units="iterations")


def _learning(ds: xr.Dataset, out: xr.Dataset) -> None:
    out["stalled"] = measures.stalled(ds)
    out["stalled_layers"] = measures.stalled_layers(ds)
    updates = measures.update_profile(ds)
    out["update_profile"] = updates["profile"]
    out["update_shape"] = updates["shape"]
    out["update_rate"] = updates["rate"]


def _inference(ds: xr.Dataset, out: xr.Dataset) -> None:
    fraction = measures.energy_fraction(ds)
    out["energy_fraction"] = _late_median(fraction).assign_attrs(
        long_name="share of the energy at T", units="1",
        comment=f"E_l(T) / F(T), median over the last {measures.LATE_FRACTION:.0%} of "
                "logged steps")
    out["layers_reached"] = measures.layers_reached(ds)
    first = measures.reached_at(ds)
    out["reached_at"] = first.isel(step=-1, drop=True).assign_attrs(first.attrs)
    energies = measures.energy_profile(ds)
    out["energy_profile"] = energies["profile"]
    out["energy_shape"] = energies["shape"]
    out["energy_rate"] = energies["rate"]
    relax = measures.relaxation(ds)
    out["gradient_left"] = _late_median(relax["left_total"]).assign_attrs(
        relax["left_total"].attrs)
    out["relaxed"] = (out["gradient_left"] <= measures.RELAXED_FRACTION).astype(float).where(
        np.isfinite(out["gradient_left"])).assign_attrs(relax["relaxed"].attrs)


def _bp_score(ds: xr.Dataset, bp: xr.Dataset | None, name: str) -> xr.DataArray | None:
    """BP's final `name` (test_accuracy, test_mse) beside every run, or None."""
    if "algorithm" in ds.dims and "bp" in ds["algorithm"].values:
        ref = ds[name].isel(epoch=-1, drop=True).sel(algorithm="bp", drop=True)
        return ref.broadcast_like(ds["diverged_at"])
    if bp is None or name not in bp:
        return None
    ref = bp[name].isel(epoch=-1, drop=True)
    extra = [d for d in ref.dims if d not in ds["diverged_at"].dims]
    if extra:
        ref = ref.mean(extra)
    common = {d: ds[d] for d in ref.dims if d in ds.dims}
    return ref.sel(common).broadcast_like(ds["diverged_at"])
