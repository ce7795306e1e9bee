"""Where the energy sits: per layer over training and inference, and layer ratios vs gamma."""

from __future__ import annotations

import warnings

import numpy as np
import xarray as xr
from matplotlib.axes import Axes
from matplotlib.lines import Line2D

from pcdiag import status
from pcdiag.plot.sensitivity import (
    dim_look,
    failure_legend,
    healthy,
    mark_failed_at_edge,
    style_text,
)
from pcdiag.plot.styling import (
    NEUTRAL,
    decorate,
    final_fraction,
    label,
    layer_colours,
    new_axes,
    positive,
    require_dims,
    set_title,
    value_text,
)

GUIDES = (1e-2, 1.0, 1e2)


def _layer_name(layer: int, depth: int) -> str:
    return f"layer {layer} (output)" if layer == depth else f"layer {layer}"


def _need_t(ds: xr.Dataset, what: str) -> None:
    if "energy" not in ds or "t" not in ds.dims:
        raise ValueError(
            f"{what} needs the per-iteration energies (variable 'energy' with dim 't'); "
            "train with record_inference=True"
        )


def energy_per_layer(
    ds: xr.Dataset, ax: Axes | None = None, *, over: str = "step", final: float = 0.1
) -> Axes:
    """Energy of each layer on a log axis, one line per layer.

    over="step": E_l at the last inference iteration (t = T, the states the weight step
    uses) at each logged training step. over="t": E_l at each inference iteration t,
    averaged over the last `final` fraction of the logged steps. A `seed` dim is averaged
    (arithmetic mean; band: min-max over seeds); select any other sweep dim first (e.g.
    ``ds.sel(gamma=0.1)``).
    Zeros (hidden layers at t = 0, right after forward initialisation) are not drawn.
    """
    what = "energy_per_layer"
    if over not in ("step", "t"):
        raise ValueError(f"over={over!r} is invalid: must be 'step' or 't'")
    _need_t(ds, what)
    require_dims(ds, (), ("seed",), what)
    energy = ds["energy"]
    if over == "step":
        energy = energy.isel(t=-1)
        x = ds["step"]
        where = f"at t = T = {int(ds['t'][-1])}"
    else:
        energy = final_fraction(energy.to_dataset(name="e"), final)["e"].mean("step")
        x = ds["t"]
        where = f"mean over the last {final:.0%} of steps"
    seeds = positive(energy) if "seed" in energy.dims else None
    energy = positive(energy.mean("seed") if "seed" in energy.dims else energy)
    ax = new_axes(ax)
    depth = ds.sizes["layer"]
    colours = layer_colours(depth)
    for i, layer in enumerate(ds["layer"].values):
        ax.plot(x.values, energy.sel(layer=layer).values, color=colours[i],
                label=_layer_name(int(layer), depth), marker="o" if over == "t" else None,
                markersize=3)
        if seeds is not None and seeds.sizes["seed"] > 1:  # min-max over seeds
            one = seeds.sel(layer=layer)
            ax.fill_between(x.values, one.min("seed").values, one.max("seed").values,
                            color=colours[i], alpha=0.2, linewidth=0)
    ax.set_yscale("log")
    ax.set_xlabel(label(x))
    ax.set_ylabel(label(ds["energy"]))
    set_title(ax, ds, f"{'over training' if over == 'step' else 'over inference'}, {where}")
    handles, labels = ax.get_legend_handles_labels()
    # top to bottom, as the lines usually lie; a light frame where a line passes behind
    ax.legend(handles[::-1], labels[::-1], frameon=True, framealpha=0.85,
              edgecolor="none")
    decorate(ax)
    return ax


def energy_ratio_vs_gamma(
    ds: xr.Dataset, ax: Axes | None = None, *, final: float = 0.1, style: str | None = None,
) -> Axes:
    """E_l / E_{l+1} at t = T against gamma (log-log), one line per layer pair.

    The line is the median over the last `final` fraction of the logged steps (and over
    seeds), the band the interquartile range, both over every finite sample, zeros included.
    A log axis cannot show 0: a median or quartile of 0 is drawn at a floor a decade below
    the smallest positive value, and a hollow triangle on the floor marks each (gamma, pair)
    with zero samples; the legend counts them (and any infinite samples, E_l+1 = 0, which
    are left out of the median) and the runs that are not ok (run_status). Guide lines at
    1e-2, 1 and 1e2. One other sweep dim (`style`, default: whichever is present besides
    gamma and seed) is shown by line style.
    """
    what = "energy_ratio_vs_gamma"
    _need_t(ds, what)
    extra = [d for d in ds["energy_ratio"].dims
             if d not in ("gamma", "seed", "step", "t", "layer")]
    if style is None and len(extra) == 1:
        style = extra[0]
    require_dims(ds, ("gamma",), ("seed",) + ((style,) if style else ()), what)
    # the axis fits the healthy runs; the failed ones are marked at its bottom edge
    raw = _raw_ratios(healthy(ds, "energy_ratio"), final)
    ratio = raw.where(np.isfinite(raw))
    samples = [d for d in ("seed", "step") if d in ratio.dims]
    quartiles = quietly(lambda: ratio.quantile([0.25, 0.5, 0.75], dim=samples, skipna=True))
    zeros = (ratio == 0).sum(samples)
    floor = zero_floor(quartiles)
    pairs = ratio["layer"].values
    colours = layer_colours(len(pairs))
    styles = list(ds[style].values) if style else [None]
    ax = new_axes(ax)
    for value in GUIDES:
        ax.axhline(value, color="0.55", linewidth=0.8, linestyle="-" if value == 1 else ":",
                   zorder=0)
    gamma = ds["gamma"].values
    for j, style_value in enumerate(styles):
        q = quartiles.sel({style: style_value}) if style else quartiles
        z = zeros.sel({style: style_value}) if style else zeros
        for i, layer in enumerate(pairs):
            qi = q.sel(layer=layer)
            ax.plot(gamma, on_floor(floor, qi.sel(quantile=0.5).values), color=colours[i],
                    **dim_look(style, style_value, j), marker="o", markersize=3,
                    label=f"$E_{{{layer}}}/E_{{{layer + 1}}}$" if j == 0 else None)
            ax.fill_between(gamma, on_floor(floor, qi.sel(quantile=0.25).values),
                            on_floor(floor, qi.sel(quantile=0.75).values),
                            color=colours[i], alpha=0.15, linewidth=0)
            has_zero = z.sel(layer=layer).values > 0
            if has_zero.any():
                ax.plot(gamma[has_zero], np.full(int(has_zero.sum()), floor), linestyle="none",
                        marker="v", markersize=7, markerfacecolor="none", color=colours[i],
                        label="_zero_samples")
    ax.set_xscale("log")
    ax.set_yscale("log")
    failed = mark_failed_at_edge(ax, ds, "gamma")
    n_zero, n_inf, n_all = int(zeros.sum()), int(np.isinf(raw).sum()), int(raw.notnull().sum())
    if n_zero:
        ax.set_ylim(bottom=floor / 2)
    ax.set_xlabel(label(ds["gamma"]))
    ax.set_ylabel(label(ds["energy_ratio"]))
    set_title(ax, ds, f"at t = T, median over the last {final:.0%} of steps")
    handles, labels = ax.get_legend_handles_labels()
    if style:
        for j, style_value in enumerate(styles):
            handles.append(Line2D([], [], color=NEUTRAL, marker="o", markersize=3,
                                  **dim_look(style, style_value, j)))
            labels.append(style_text(style, style_value))
    if n_zero:
        handles.append(Line2D([], [], color="0.3", linestyle="none", marker="v",
                              markerfacecolor="none"))
        labels.append(f"ratio 0 (at the floor {floor:.0e}): {n_zero} of {n_all} samples")
    if n_inf:
        handles.append(Line2D([], [], color="none"))
        labels.append(f"ratio inf (E_l+1 = 0, not in the median): {n_inf} of {n_all} samples")
    runs = int(ds["run_status"].size) if "run_status" in ds else 0
    failure_legend(handles, labels, failed, runs, "runs (at the bottom edge, not in the line)")
    ax.legend(handles, labels)
    decorate(ax)
    return ax


def failed_runs_note(ds: xr.Dataset) -> str | None:
    """'not ok: 6 of 42 runs (6 inference_unstable) at γ = 1' from run_status, or None."""
    if "run_status" not in ds:
        return None
    flags = ds["run_status"]
    bad = flags != status.OK
    if not bool(bad.any()):
        return None
    counts = {k: n for k, n in status.counts(flags).items() if n and k != "ok"}
    where = ""
    if "gamma" in flags.dims:
        gammas = ds["gamma"].values[bad.any([d for d in flags.dims if d != "gamma"]).values]
        where = " at γ = " + ", ".join(value_text(g) for g in gammas)
    kinds = ", ".join(f"{n} {k}" for k, n in counts.items())
    return f"not ok: {int(bad.sum())} of {flags.size} runs ({kinds}){where}"


def on_floor(floor: float, values: np.ndarray) -> np.ndarray:
    """Zeros to the floor (a log axis cannot show them); NaN stays NaN."""
    return np.where(values > 0, values, np.where(values == 0, floor, np.nan))


def zero_floor(values: xr.DataArray) -> float:
    """Where a log axis draws 0: a decade below the smallest positive value (at most 1e-3)."""
    v = np.asarray(values.values, float)
    positive_values = v[np.isfinite(v) & (v > 0)]
    low = min(float(positive_values.min()), 1e-2) if positive_values.size else 1e-2
    return float(10.0 ** (np.floor(np.log10(low)) - 1))


def median_ratio(ds: xr.Dataset, final: float = 0.1) -> xr.DataArray:
    """The numbers energy_ratio_vs_gamma draws: median E_l/E_{l+1} at t = T over the final
    steps (and seeds), zeros included, infinite samples left out, for every remaining sweep
    value and layer pair."""
    raw = _raw_ratios(ds, final)
    ratio = raw.where(np.isfinite(raw))
    samples = [d for d in ("seed", "step") if d in ratio.dims]
    return quietly(lambda: ratio.median(samples, skipna=True))


def _raw_ratios(ds: xr.Dataset, final: float) -> xr.DataArray:
    """E_l / E_{l+1} at t = T over the final steps, layers 1..L-1, as recorded."""
    return final_fraction(ds, final)["energy_ratio"].isel(t=-1, layer=slice(0, -1))


def quietly(compute):
    """Evaluate without numpy's all-NaN warnings (a diverged run is all NaN: that is data)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "All-NaN slice", RuntimeWarning)
        return compute()


