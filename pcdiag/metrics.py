"""Derived quantities, computed from a Dataset (never inside training).

Each function keeps the Dataset's other dims (sweep dims, step, t) and labels its result
with long_name / units / comment like the recorded variables. The diagnostic measures built
on these (which nodes the error reached, which layers learn or stalled, the shape and decay
rate of a profile over layers) are defined once, from float32, in pcdiag.measures.
"""

from __future__ import annotations

import numpy as np
import xarray as xr


def _labelled(da: xr.DataArray, long_name: str, units: str, comment: str) -> xr.DataArray:
    da.attrs = {"long_name": long_name, "units": units, "comment": comment}
    return da


def at_last_t(da: xr.DataArray, ds: xr.Dataset) -> xr.DataArray:
    """`da` at each run's own last inference iteration T: an inference_steps sweep, or a
    figure's runs of different T side by side, pad t with NaN beyond a run's own T."""
    if "inference_steps" in ds.dims:
        return da.sel(t=ds["inference_steps"]).drop_vars("t")
    if "energy_total" in ds and "t" in ds["energy_total"].dims:
        recorded = ds["energy_total"].notnull().any("step")
        if not bool(recorded.all()):
            last = (recorded * xr.DataArray(np.arange(ds.sizes["t"]), dims="t")).max("t")
            return da.isel(t=last).drop_vars("t", errors="ignore")
    return da.isel(t=-1, drop=True)


def at_output(da: xr.DataArray, ds: xr.Dataset) -> xr.DataArray:
    """`da` at each run's own output layer L (a depth sweep pads layer)."""
    if "depth" in ds.dims:
        return da.sel(layer=ds["depth"]).drop_vars("layer")
    return da.isel(layer=-1, drop=True)


def distance_from_output(ds: xr.Dataset) -> xr.DataArray:
    """L - l for each layer: 0 at the output node."""
    return ds["layer"].max() - ds["layer"]


def log_slope(values: xr.DataArray, dim: str = "layer") -> xr.Dataset:
    """Least-squares slope of log10(values) against distance from the output along `dim`,
    using only finite, positive values; with its standard error. NaN with < 2 usable points
    (< 3 for the error)."""
    x = (values[dim].max() - values[dim]).astype(float)
    logv = np.log10(values.where(values > 0))
    ok = np.isfinite(logv)
    n = ok.sum(dim)
    xm = x.where(ok)
    x_mean = xm.sum(dim) / n
    y_mean = logv.where(ok).sum(dim) / n
    sxx = ((xm - x_mean) ** 2).sum(dim)
    sxy = ((xm - x_mean) * (logv - y_mean)).where(ok).sum(dim)
    slope = (sxy / sxx).where(n >= 2)
    resid = (logv - (y_mean + slope * (xm - x_mean))).where(ok)
    stderr = np.sqrt((resid**2).sum(dim) / (n - 2) / sxx).where(n >= 3)
    return xr.Dataset({"slope": slope, "stderr": stderr})


def energy_decay_rate(ds: xr.Dataset, t: int | None = None) -> xr.Dataset:
    """How fast log energy falls with distance from the output, at inference iteration t.

    `rate` (per logged step) is minus the fitted slope of log10 E_l against L - l, in decades
    per layer: 2 means each layer holds 1/100 of the energy of the one above it (t = None:
    each run's own T). Layers with zero energy are left out of the fit (which layers the
    error reached is pcdiag.measures.reached; pcdiag.measures.energy_profile also names the
    profile's shape). `spread` is the standard error of that slope; `rate_mean` /
    `rate_std` summarise it over steps.
    """
    energy = at_last_t(ds["energy"], ds) if t is None else ds["energy"].isel(t=t)
    fit = log_slope(energy)
    rate = _labelled(-fit["slope"], "energy decay rate", "decades / layer",
                     "minus the slope of log10 E_l against distance from the output")
    spread = _labelled(fit["stderr"], "energy decay rate standard error", "decades / layer",
                       "standard error of the fitted slope")
    out = xr.Dataset({"rate": rate, "spread": spread})
    out["rate_mean"] = _labelled(rate.mean("step"), "mean energy decay rate", "decades / layer",
                                 "mean over logged steps")
    out["rate_std"] = _labelled(rate.std("step"), "spread of energy decay rate",
                                "decades / layer", "standard deviation over logged steps")
    return out


def output_share(ds: xr.Dataset) -> xr.DataArray:
    """Fraction of the total energy that sits in the output node, per step and t."""
    share = at_output(ds["energy"], ds) / ds["energy_total"]
    return _labelled(share, "output energy share", "1", "E_L / sum_l E_l")


def energy_front(ds: xr.Dataset, fraction: float = 0.5) -> xr.DataArray:
    """For each layer, the first t at which its energy reaches `fraction` of its value at T.

    NaN where the final energy is zero or non-finite. The front moving up from the output one
    layer per iteration is the signature of PC's local message passing.
    """
    energy = ds["energy"]
    final = at_last_t(energy, ds)
    reached = (energy >= fraction * final) & (final > 0)
    first = reached.argmax("t").astype(float)
    front = first.where(reached.any("t")).copy()
    return _labelled(front, "energy front", "iterations",
                     f"first t with E_l >= {fraction} * E_l(T)")


def relative_update(ds: xr.Dataset) -> xr.DataArray:
    """||delta theta_l|| / ||theta_l|| of each step."""
    rel = ds["update_norm"] / ds["weight_norm"]
    return _labelled(rel, "relative weight update", "1", "update_norm / weight_norm")
