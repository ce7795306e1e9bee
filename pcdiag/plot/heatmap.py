"""Where the energy reaches: log10 E_l over layer and inference iteration (a heatmap per
run), with the nodes the error has not reached (pcdiag.measures.reached) in grey."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import xarray as xr
from matplotlib.axes import Axes
from matplotlib.colors import ListedColormap
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator

from pcdiag import measures
from pcdiag.plot.styling import (
    describe,
    final_fraction,
    label,
    new_axes,
    require_dims,
    set_title,
)

#: Colour of heatmap cells the error has not reached (pcdiag.measures.reached == 0 in every
#: seed and averaged step: the node holds only float32 rounding, or nothing).
NOT_REACHED = "#d9d9d9"
HEATMAP_CMAP = "magma"
#: energy_propagation's shared colour scale spans at most this many decades below the top;
#: lower energies take the colour map's 'under' colour (UNDER), named in the colour bar.
HEATMAP_DECADES = 8
UNDER = "#5aae61"
#: Colour of the t = L - l guide: visible on the grey cells and on the whole colour map.
FRONT_GUIDE = "#00a6d6"

# --------------------------------------------------------------------------- energy heatmap


def final_energy(ds: xr.Dataset, final: float = 0.1) -> xr.DataArray:
    """The numbers energy_heatmap draws: E_l at every t, mean over the last `final` fraction
    of the logged steps (and seeds), with t cut to the run's own T (padding dropped)."""
    if "energy" not in ds or "t" not in ds.dims:
        raise ValueError("energy_heatmap needs the per-iteration energies (variable 'energy' "
                         "with dim 't'); train with record_inference=True")
    energy = final_fraction(ds[["energy"]], final)["energy"]
    dims = [d for d in ("seed", "step") if d in energy.dims]
    mean = energy.mean(dims, skipna=True)
    filled = mean.notnull().any("layer")
    last = int(ds["t"].values[filled.values].max()) if bool(filled.any()) else 0
    return mean.sel(t=slice(None, last))


def final_reached(ds: xr.Dataset, final: float = 0.1) -> xr.DataArray:
    """Which cells energy_heatmap draws as reached: 1 where pcdiag.measures.reached is 1 in
    any seed at any of the last `final` fraction of the logged steps, 0 where it is 0 in all
    of them (grey, 'not reached'), NaN where no sample is finite; t as final_energy's."""
    hit = final_fraction(measures.reached(ds).to_dataset(name="r"), final)["r"]
    dims = [d for d in ("seed", "step") if d in hit.dims]
    return hit.max(dims, skipna=True).sel(t=final_energy(ds, final)["t"])


def log_energy_range(ds: xr.Dataset, final: float = 0.1) -> tuple[float, float]:
    """(min, max) of log10 of the reached energies energy_heatmap would draw."""
    energy = final_energy(ds, final)
    shown = final_reached(ds, final) == 1
    values = energy.values[shown.values & np.isfinite(energy.values) & (energy.values > 0)]
    if values.size == 0:
        return (-1.0, 0.0)
    logs = np.log10(values)
    return float(logs.min()), float(logs.max())


def energy_heatmap(
    ds: xr.Dataset,
    ax: Axes | None = None,
    *,
    final: float = 0.1,
    vmin: float | None = None,
    vmax: float | None = None,
    front_guide: bool = True,
    title: str | None = None,
) -> Axes:
    """log10 E_l over layer (y, layer 1 at the bottom) and inference iteration t (x).

    Cells: mean over the last `final` fraction of the logged steps (and seeds). Cells the
    error has not reached (pcdiag.measures.reached == 0 in every seed and averaged step: the
    node holds nothing, or only the float32 rounding it had at forward initialisation, or
    less than 2^-24 of the total energy) are drawn in grey ("not reached"), whatever tiny
    energy they hold. `vmin` / `vmax` fix the colour scale in log10 units (for panels that
    share one). `front_guide` draws the line t = L - l, the earliest iteration at which a
    one-layer-per-step front can reach layer l. Select every sweep dim except `seed` first.
    """
    require_dims(ds, (), ("seed",), "energy_heatmap")
    energy = final_energy(ds, final)
    values = energy.transpose("layer", "t").values
    hit = final_reached(ds, final).transpose("layer", "t").values
    not_reached = hit == 0
    shown = (hit == 1) & np.isfinite(values) & (values > 0)
    logs = np.full(values.shape, np.nan)
    logs[shown] = np.log10(values[shown])
    if vmin is None or vmax is None:
        lo, hi = (float(np.nanmin(logs)), float(np.nanmax(logs))) if shown.any() else (-1, 0)
        vmin = lo if vmin is None else vmin
        vmax = hi if vmax is None else vmax
    t = energy["t"].values
    layer = energy["layer"].values
    t_edges = np.concatenate([t - 0.5, [t[-1] + 0.5]])
    l_edges = np.concatenate([layer - 0.5, [layer[-1] + 0.5]])
    ax = new_axes(ax)
    ax.pcolormesh(t_edges, l_edges, np.ma.masked_where(~not_reached, np.ones(values.shape)),
                  cmap=ListedColormap([NOT_REACHED]), vmin=0, vmax=1, rasterized=True)
    cmap = matplotlib.colormaps[HEATMAP_CMAP].with_extremes(under=UNDER)
    mesh = ax.pcolormesh(t_edges, l_edges, np.ma.masked_invalid(logs), cmap=cmap,
                         vmin=vmin, vmax=vmax, rasterized=True)
    mesh.set_label("log10 energy")
    depth = int(layer[np.isfinite(values).any(axis=1)].max()) if np.isfinite(values).any() \
        else int(layer[-1])
    if front_guide:
        ls = np.arange(1, depth + 1)
        ax.plot(depth - ls, ls, color=FRONT_GUIDE, linestyle="--", linewidth=1.0,
                label="t = L − l")
    ax.set_xlim(t_edges[0], t_edges[-1])
    ax.set_ylim(l_edges[0], depth + 0.5)
    ax.set_xlabel(label(ds["t"]))
    ax.set_ylabel(label(ds["layer"]) + " (1 = input side)")
    ax.yaxis.set_major_locator(MaxNLocator(nbins=8, integer=True, min_n_ticks=1))
    set_title(ax, ds, title or f"mean over the last {final:.0%} of steps")
    return ax


def energy_propagation(
    ds: xr.Dataset,
    axes: Sequence[Axes] | None = None,
    *,
    dim: str = "variant",
    final: float = 0.1,
    colorbar: bool = True,
) -> np.ndarray:
    """One energy_heatmap per value of `dim`, on one shared colour scale spanning at most
    HEATMAP_DECADES decades (lower energies in the 'under' colour, stated on the colour bar),
    one colour bar and a 'not reached' swatch (pcdiag.measures.reached). Returns the Axes."""
    require_dims(ds, (dim,), ("seed",), "energy_propagation")
    values = list(ds[dim].values)
    if axes is None:
        _, axes = plt.subplots(1, len(values), figsize=(3.2 * len(values), 3.4),
                               sharey=True, layout="constrained")
    axes = np.atleast_1d(np.asarray(axes, dtype=object))
    if len(axes) != len(values):
        raise ValueError(f"axes: got {len(axes)} Axes for {len(values)} values of {dim}; pass "
                         f"one per value or axes=None")
    ranges = [log_energy_range(ds.sel({dim: v}), final) for v in values]
    vmin, vmax = min(r[0] for r in ranges), max(r[1] for r in ranges)
    clipped = vmin < vmax - HEATMAP_DECADES
    vmin = max(vmin, float(np.ceil(vmax - HEATMAP_DECADES)))  # a whole power of 10
    for ax, value in zip(axes, values):
        energy_heatmap(ds.sel({dim: value}), ax, final=final, vmin=vmin, vmax=vmax,
                       title=describe(ds, dim, value))
        ax.set_title(describe(ds, dim, value), loc="left")
    for ax in axes[1:]:
        ax.set_ylabel("")
    if colorbar:
        mesh = axes[-1].collections[-1]
        figure = axes[-1].get_figure()
        bar = figure.colorbar(mesh, ax=list(axes), fraction=0.04, pad=0.01,
                              extend="min" if clipped else "neither")
        text = r"$\log_{10}$ " + label(ds["energy"])
        if clipped:
            text += f"\n(green ▼: below $10^{{{vmin:.0f}}}$)"
        bar.set_label(text)
        figure.legend(handles=heatmap_legend_handles(), loc="outside lower center", ncols=2,
                      frameon=False)  # the γ convention: in the caption
    return axes


def heatmap_legend_handles() -> list:
    """Legend entries for energy_heatmap's grey cells and front guide."""
    return [Patch(facecolor=NOT_REACHED, edgecolor="0.5",
                  label="not reached (E at rounding or below 2^-24 F)"),
            Line2D([], [], color=FRONT_GUIDE, linestyle="--",
                   label="t = L − l (one layer per step)")]
