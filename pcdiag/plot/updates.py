"""Per-layer weight-gradient norms and relative updates against gamma (log-log)."""

from __future__ import annotations

import numpy as np
import xarray as xr
from matplotlib.axes import Axes
from matplotlib.lines import Line2D

from pcdiag.plot.energy import on_floor, quietly, zero_floor
from pcdiag.plot.styling import decorate, label, layer_colours, new_axes, require_dims

#: What layer_norms_vs_gamma can draw: name -> (axis label, how it is computed).
QUANTITIES = {
    "weight_grad_norm": "weight gradient norm ‖∇W_ℓ‖",
    "relative_update": "relative update ‖ΔW_ℓ‖/‖W_ℓ‖",
}


def layer_values(ds: xr.Dataset, quantity: str) -> xr.DataArray:
    """The recorded per-step, per-layer values of `quantity` (QUANTITIES): the weight-gradient
    norm as recorded, or update_norm / weight_norm."""
    if quantity not in QUANTITIES:
        raise ValueError(f"quantity={quantity!r} is unknown; choose one of "
                         f"{', '.join(QUANTITIES)}")
    need = ("weight_grad_norm",) if quantity == "weight_grad_norm" else ("update_norm",
                                                                          "weight_norm")
    missing = [v for v in need if v not in ds]
    if missing:
        raise ValueError(f"{quantity} needs the variable(s) {', '.join(missing)} (per step and "
                         "layer); the Dataset has none: make it with pcdiag.sweep, which "
                         "records them for every run")
    if quantity == "weight_grad_norm":
        return ds["weight_grad_norm"]
    return ds["update_norm"] / ds["weight_norm"]


def layer_norm_summary(ds: xr.Dataset, quantity: str, final: float = 0.1) -> xr.Dataset:
    """The numbers layer_norms_vs_gamma draws, over the last `final` fraction of the logged
    steps: `median` over steps and seeds (zeros included, NaN of diverged runs skipped),
    `min` / `max` over seeds of each seed's median over steps, `zeros` (samples exactly 0)
    and `samples` (finite samples), for every remaining sweep value and layer."""
    if not 0 < final <= 1:
        raise ValueError(f"final={final!r} is invalid: must be a fraction in (0, 1]")
    values = layer_values(ds, quantity)
    n = values.sizes["step"]
    values = values.isel(step=slice(n - max(1, int(round(n * final))), n))
    values = values.where(np.isfinite(values))
    samples = [d for d in ("seed", "step") if d in values.dims]
    per_seed = quietly(lambda: values.median("step", skipna=True))
    spread = [d for d in ("seed",) if d in per_seed.dims]
    return xr.Dataset({
        "median": quietly(lambda: values.median(samples, skipna=True)),
        "min": per_seed.min(spread, skipna=True) if spread else per_seed,
        "max": per_seed.max(spread, skipna=True) if spread else per_seed,
        "zeros": (values == 0).sum(samples),
        "samples": values.notnull().sum(samples),
    })


def layer_norms_vs_gamma(ds: xr.Dataset, ax: Axes | None = None, *,
                         quantity: str = "relative_update", final: float = 0.1,
                         floor: float | None = None) -> Axes:
    """Per layer (colour; layer 1 nearest the input) the median of `quantity` over the last
    `final` of the logged steps and the seeds against gamma (log-log), band: min-max over
    seeds of each seed's median. A log axis cannot show 0: a median or band edge of 0 is drawn
    at `floor` (default: pcdiag.plot.energy.zero_floor of the values) and a hollow triangle
    there marks each (gamma, layer) with samples exactly 0; the legend counts them."""
    require_dims(ds, ("gamma",), ("seed",), "layer_norms_vs_gamma")
    summary = layer_norm_summary(ds, quantity, final)
    if floor is None:
        floor = zero_floor(xr.concat([summary["median"], summary["min"]], "k"))
    gamma = ds["gamma"].values
    layers = summary["layer"].values
    colours = layer_colours(len(layers))
    ax = new_axes(ax)
    for colour, layer in zip(colours, layers):
        s = summary.sel(layer=layer)
        ax.plot(gamma, on_floor(floor, s["median"].values), color=colour, marker="o",
                markersize=3, label=f"layer {int(layer)}"
                + (" (output)" if layer == layers[-1] else ""))
        ax.fill_between(gamma, on_floor(floor, s["min"].values), on_floor(floor, s["max"].values),
                        color=colour, alpha=0.15, linewidth=0)
        zero = s["zeros"].values > 0
        if zero.any():
            ax.plot(gamma[zero], np.full(int(zero.sum()), floor), linestyle="none",
                    marker="v", markersize=7, markerfacecolor="none", color=colour,
                    label="_zero_samples")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(label(ds["gamma"]))
    ax.set_ylabel(QUANTITIES[quantity])
    handles, labels = ax.get_legend_handles_labels()
    n_zero, n_all = int(summary["zeros"].sum()), int(summary["samples"].sum())
    if n_zero:
        ax.set_ylim(bottom=floor / 2)
        handles.append(Line2D([], [], color="0.3", linestyle="none", marker="v",
                              markerfacecolor="none"))
        labels.append(f"0 (at the floor {floor:.0e}): {n_zero} of {n_all} samples")
    ax.legend(handles, labels)
    decorate(ax)
    return ax
