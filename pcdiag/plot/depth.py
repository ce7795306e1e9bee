"""Deep networks: accuracy against depth, where the energy reaches, how updates and alignment
with backprop decay towards the input.

A `variant` dim (used by pcdiag.figures.depth) names a network / learning-rule combination
("pc", "ipc", "bp", "mupc", "epc", ...); its optional coordinate `description(variant)` is
the text shown in legends and panel titles.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import xarray as xr
from matplotlib.axes import Axes
from matplotlib.colors import ListedColormap
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Rectangle
from matplotlib.ticker import MaxNLocator

from pcdiag import metrics
from pcdiag.plot._style import (
    LINESTYLES,
    convention,
    decorate,
    final_fraction,
    label,
    new_axes,
    palette,
    range_text,
    require_dims,
    set_title,
    value_text,
)
from pcdiag.plot.sensitivity import (
    CHANCE,
    FAILURE_MARKERS,
    accuracy_line,
    accuracy_summary,
    add_counts,
    failure_legend,
    fit_accuracy_axes,
    seed_points,
)

#: Colour of heatmap cells whose energy is exactly 0 (the error signal has not arrived).
NOT_REACHED = "#d9d9d9"
HEATMAP_CMAP = "magma"
#: energy_propagation's shared colour scale spans at most this many decades below the top;
#: lower energies take the colour map's 'under' colour (UNDER), named in the colour bar.
HEATMAP_DECADES = 8
UNDER = "#5aae61"
#: Colour of the t = L - l guide: visible on the grey cells and on the whole colour map.
FRONT_GUIDE = "#00a6d6"


def describe(ds: xr.Dataset, dim: str, value) -> str:
    """Legend text for `value` of `dim`: the `description` coord when there is one."""
    desc = ds.coords.get("description")
    if desc is not None and desc.dims == (dim,):
        return str(desc.sel({dim: value}).item())
    if dim == "depth":
        return f"L = {value_text(value)}"
    if dim == "gamma":
        return f"γ = {value_text(value)}"
    return value_text(value)


def final_median(da: xr.DataArray, ds: xr.Dataset, final: float) -> xr.DataArray:
    """Median over the last `final` fraction of the logged steps (and over seeds)."""
    part = final_fraction(da.to_dataset(name="v"), final)["v"]
    dims = [d for d in ("seed", "step") if d in part.dims]
    return part.median(dims, skipna=True)


# --------------------------------------------------------------------------- accuracy


def accuracy_vs_depth(
    ds: xr.Dataset, ax: Axes | None = None, *, hue: str | None = "variant", epoch: int = -1,
) -> Axes:
    """Test accuracy at the last (or `epoch`-th) evaluation against depth (log2 x).

    Line: mean over seeds; dots: single seeds; band: min to max over seeds; one colour per
    value of `hue`. A marker flags a depth where at least one seed failed (run_status: 'x'
    diverged, hollow diamond inference unstable, hollow square collapsed; drawn at the mean of
    the seeds, or at chance when none survived), counted in the legend. The y axis fits the
    healthy runs; collapsed ones are marked at its bottom edge (fit_accuracy_axes). Select
    any other sweep dim first.
    """
    what = "accuracy_vs_depth"
    hue = hue if hue in ds.dims else None
    require_dims(ds, ("depth",), tuple(d for d in ("seed", hue) if d), what)
    summary = accuracy_summary(ds, epoch)
    hues = list(ds[hue].values) if hue else [None]
    colours = palette(len(hues))
    depth = ds["depth"].values
    ax = new_axes(ax)
    ax.axhline(CHANCE, color="0.6", linestyle=":", linewidth=0.8, zorder=0)
    failed: dict[str, int] = {}
    for i, value in enumerate(hues):
        s = summary.sel({hue: value}) if hue else summary
        add_counts(failed, accuracy_line(
            ax, depth, s, colours[i], band=ds.sizes.get("seed", 1) > 1, markersize=4,
            label=describe(ds, hue, value) if hue else "test accuracy",
        ))
        acc = ds["test_accuracy"].isel(epoch=epoch)
        seed_points(ax, depth, acc.sel({hue: value}) if hue else acc, "depth", colours[i])
    ax.set_xscale("log", base=2)
    ax.set_xticks(depth, [str(int(d)) for d in depth])
    ax.minorticks_off()
    ax.set_xlabel(label(ds["depth"]))
    ax.set_ylabel(label(ds["test_accuracy"]))
    seeds = ds.sizes.get("seed", 1)
    spread = "; dots: seeds, band: min–max" if seeds > 1 else ""
    set_title(ax, ds, f"mean over {seeds} seed{'s' if seeds > 1 else ''}{spread}")
    fit_accuracy_axes([ax], "depth", [summary])
    handles, labels = ax.get_legend_handles_labels()
    failure_legend(handles, labels, failed, int(ds["test_accuracy"].isel(epoch=-1).size))
    ax.legend(handles, labels)
    decorate(ax)
    return ax


def frozen_vs_depth(ds: xr.Dataset, ax: Axes | None = None, *, hue: str | None = "variant"
                    ) -> Axes:
    """Frozen layers (weight gradient exactly 0 at every logged step: the error never reached
    them; pcdiag.metrics.frozen_layers) against depth, one colour per `hue` as in
    accuracy_vs_depth; line: mean over seeds, dots: seeds, text: 'min-max of L' where any
    layer froze. Runs without a count (diverged) are left out of the mean and counted in the
    text."""
    hue = hue if hue in ds.dims else None
    require_dims(ds, ("depth",), tuple(d for d in ("seed", hue) if d), "frozen_vs_depth")
    frozen = metrics.frozen_layers(ds)
    hues = list(ds[hue].values) if hue else [None]
    colours = palette(len(hues))
    depth = ds["depth"].values
    ax = new_axes(ax)
    for i, value in enumerate(hues):
        f = frozen.sel({hue: value}) if hue else frozen
        mean = f.mean("seed", skipna=True) if "seed" in f.dims else f
        ax.plot(depth, mean.values, color=colours[i], marker="o", markersize=3,
                label=describe(ds, hue, value) if hue else "frozen layers")
        if "seed" in f.dims:
            seed_points(ax, depth, f, "depth", colours[i])
        for d in depth:
            at = f.sel(depth=d).values.ravel()
            finite = at[np.isfinite(at)]
            if finite.size and finite.max() > 0:
                text = f"{range_text(finite)} of {int(d)}"
                if finite.size < at.size:
                    text += f" ({at.size - finite.size} n/a)"
                ax.annotate(text, (d, float(np.nanmean(finite))), xytext=(-3, 0),
                            textcoords="offset points", ha="right", va="center",
                            color=colours[i])
    ax.set_xscale("log", base=2)
    ax.set_xticks(depth, [str(int(d)) for d in depth])
    ax.minorticks_off()
    ax.set_xlabel(label(ds["depth"]))
    ax.set_ylabel("frozen layers\n(gradient ≡ 0)")
    top = float(np.nanmax(frozen.values)) if np.isfinite(frozen.values).any() else 0.0
    ax.set_ylim(-0.08 * max(top, 1) - 0.3, max(top, 1) * 1.25 + 0.3)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True, nbins=4))
    decorate(ax)
    return ax


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


def log_energy_range(ds: xr.Dataset, final: float = 0.1) -> tuple[float, float]:
    """(min, max) of log10 of the positive energies energy_heatmap would draw."""
    energy = final_energy(ds, final)
    values = energy.values[np.isfinite(energy.values) & (energy.values > 0)]
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

    Cells: mean over the last `final` fraction of the logged steps (and seeds). Cells whose
    energy is exactly 0, where the error signal has not arrived (every hidden layer at t = 0,
    after forward initialisation), are drawn in grey ("not reached"). `vmin` / `vmax` fix the
    colour scale in log10 units (for panels that share one). `front_guide` draws the line
    t = L - l, the earliest iteration at which a one-layer-per-step front can reach layer l.
    Select every sweep dim except `seed` first.
    """
    require_dims(ds, (), ("seed",), "energy_heatmap")
    energy = final_energy(ds, final)
    values = energy.transpose("layer", "t").values
    zero = values == 0
    positive = np.isfinite(values) & (values > 0)
    logs = np.full(values.shape, np.nan)
    logs[positive] = np.log10(values[positive])
    if vmin is None or vmax is None:
        lo, hi = (float(np.nanmin(logs)), float(np.nanmax(logs))) if positive.any() else (-1, 0)
        vmin = lo if vmin is None else vmin
        vmax = hi if vmax is None else vmax
    t = energy["t"].values
    layer = energy["layer"].values
    t_edges = np.concatenate([t - 0.5, [t[-1] + 0.5]])
    l_edges = np.concatenate([layer - 0.5, [layer[-1] + 0.5]])
    ax = new_axes(ax)
    ax.pcolormesh(t_edges, l_edges, np.ma.masked_where(~zero, np.ones(values.shape)),
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
    one colour bar and a 'not reached' swatch for zero energies. Returns the Axes."""
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
        ax.set_title(describe(ds, dim, value), loc="left")  # the convention: legend title
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
                      frameon=False, title=convention(ds))
    return axes


def heatmap_legend_handles() -> list:
    """Legend entries for energy_heatmap's grey cells and front guide."""
    return [Patch(facecolor=NOT_REACHED, edgecolor="0.5", label="not reached (E = 0)"),
            Line2D([], [], color=FRONT_GUIDE, linestyle="--",
                   label="t = L − l (one layer per step)")]


# --------------------------------------------------------------------------- per-layer lines


def relative_update_vs_layer(
    ds: xr.Dataset, ax: Axes | None = None, *, hue: str = "depth", final: float = 0.2,
) -> Axes:
    """Relative weight update ||Δθ_l|| / ||θ_l|| against layer l (log y), median over the last
    `final` fraction of the logged steps (and seeds), one line per value of `hue`; the legend
    gives each line's fitted decay rate (pcdiag.metrics.update_decay_rate, decades per layer
    towards the input, fitted to the non-zero values) and which layers did not move at all
    (update exactly 0: the error never reached them), which a log axis cannot show."""
    what = "relative_update_vs_layer"
    hue = hue if hue in ds.dims else None
    require_dims(ds, tuple(d for d in (hue,) if d), ("seed",), what)
    rel = metrics.relative_update(ds)
    median = final_median(rel, ds, final)
    n_final = final_fraction(ds[["update_norm"]], final).sizes["step"]
    rate = update_rates(ds, final)
    hues = list(ds[hue].values) if hue else [None]
    colours = palette(len(hues), "sequential" if hue == "depth" else "qualitative")
    ax = new_axes(ax)
    for i, value in enumerate(hues):
        line = median.sel({hue: value}) if hue else median
        r = float(rate.sel({hue: value})) if hue else float(rate)
        name = describe(ds, hue, value) if hue else "relative update"
        text = f"{name}: {r:.2f} dec/layer"
        still = ds["layer"].values[(line == 0).values]
        if still.size:
            text += f" (layers {_ranges(still)}: 0)"
        ax.plot(ds["layer"].values, line.where(line > 0).values, color=colours[i], marker="o",
                markersize=3, label=text)
    ax.set_yscale("log")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel(label(ds["layer"]) + " (1 = input side)")
    ax.set_ylabel(label(rel))
    set_title(ax, ds, f"median over the last {n_final} logged steps")
    ax.legend(title="fitted decay rate")
    decorate(ax)
    return ax


def _ranges(values) -> str:
    """[1, 2, 3, 7] -> '1-3, 7'."""
    values = sorted(int(v) for v in values)
    runs = [[values[0], values[0]]]
    for value in values[1:]:
        if value == runs[-1][1] + 1:
            runs[-1][1] = value
        else:
            runs.append([value, value])
    return ", ".join(f"{a}-{b}" if b > a else f"{a}" for a, b in runs)


def update_rates(ds: xr.Dataset, final: float = 0.2) -> xr.DataArray:
    """metrics.update_decay_rate over the final steps, averaged over seeds."""
    n_final = final_fraction(ds[["update_norm"]], final).sizes["step"]
    rate = metrics.update_decay_rate(ds, last_steps=n_final)
    return rate.mean("seed") if "seed" in rate.dims else rate


def bp_cosine_vs_layer(
    ds: xr.Dataset, ax: Axes | None = None, *, hue: str = "depth", final: float = 0.2,
) -> Axes:
    """Cosine between each layer's PC weight gradient and backprop's, against layer l, median
    over the last `final` fraction of the logged steps (and seeds), one line per `hue`."""
    what = "bp_cosine_vs_layer"
    if "bp_cosine" not in ds:
        raise ValueError(f"{what} needs the variable 'bp_cosine'; train with "
                         "bp_alignment=True")
    hue = hue if hue in ds.dims else None
    require_dims(ds, tuple(d for d in (hue,) if d), ("seed",), what)
    median = final_median(ds["bp_cosine"], ds, final)
    n_final = final_fraction(ds[["bp_cosine"]], final).sizes["step"]
    hues = list(ds[hue].values) if hue else [None]
    colours = palette(len(hues), "sequential" if hue == "depth" else "qualitative")
    ax = new_axes(ax)
    for value in (0.0, 1.0):
        ax.axhline(value, color="0.6", linestyle=":" if value == 0 else "-", linewidth=0.8,
                   zorder=0)
    for i, value in enumerate(hues):
        line = median.sel({hue: value}) if hue else median
        text = describe(ds, hue, value) if hue else "bp cosine"
        zero = (ds["weight_grad_norm"] == 0).all([d for d in ("seed", "step") if d in ds.dims])
        zero = zero.sel({hue: value}) if hue else zero
        still = ds["layer"].values[(line.isnull() & zero).values]
        if still.size:
            text += f" (layers {_ranges(still)}: no gradient)"
        ax.plot(ds["layer"].values, line.values, color=colours[i], marker="o", markersize=3,
                linestyle=LINESTYLES[0], label=text)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel(label(ds["layer"]) + " (1 = input side)")
    ax.set_ylabel(label(ds["bp_cosine"]))
    ax.set_ylim(min(-0.05, float(np.nanmin(median.values)) - 0.05)
                if np.isfinite(median.values).any() else -0.05, 1.05)
    set_title(ax, ds, f"median over the last {n_final} logged steps")
    ax.legend()
    decorate(ax)
    return ax


# --------------------------------------------------------------------------- depth x gamma


def accuracy_heatmap(ds: xr.Dataset, ax: Axes | None = None, *, epoch: int = -1) -> Axes:
    """Mean test accuracy over seeds in a depth (y) x gamma (x) grid, the number in each cell;
    a second line gives the mean frozen layers (pcdiag.metrics.frozen_layers) where any froze.
    Cells where a run failed (run_status not ok) are hatched and say how many of which kind;
    a cell whose every seed diverged has no colour. Select every other sweep dim first."""
    require_dims(ds, ("depth", "gamma"), ("seed",), "accuracy_heatmap")
    summary = accuracy_summary(ds, epoch).transpose("depth", "gamma")
    frozen = metrics.frozen_layers(ds)
    frozen = (frozen.mean("seed", skipna=True) if "seed" in frozen.dims else frozen
              ).transpose("depth", "gamma")
    mean = summary["mean"].values
    failed = sum(summary[name].values for name in FAILURE_MARKERS)
    runs = summary["runs"].values
    depths, gammas = ds["depth"].values, ds["gamma"].values
    ax = new_axes(ax)
    cmap = matplotlib.colormaps["viridis"]
    top = float(np.nanmax(mean)) if np.isfinite(mean).any() else 1.0
    mesh = ax.pcolormesh(np.arange(len(gammas) + 1) - 0.5, np.arange(len(depths) + 1) - 0.5,
                         np.ma.masked_invalid(mean), cmap=cmap, vmin=CHANCE, vmax=top)
    mesh.set_label("mean test accuracy")
    for i in range(len(depths)):
        for j in range(len(gammas)):
            lines = ["no finite\naccuracy" if not np.isfinite(mean[i, j])
                     else f"{mean[i, j]:.2f}"]
            f = float(frozen.values[i, j])
            if np.isfinite(f) and f > 0:
                lines.append(f"{f:.0f} frozen")
            if failed[i, j]:
                kinds = [f"{int(summary[k].values[i, j])}/{int(runs[i, j])} "
                         f"{k.replace('_', ' ')}" for k in FAILURE_MARKERS
                         if summary[k].values[i, j]]
                lines += kinds
                ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, hatch="////",
                                       edgecolor="0.6" if np.isfinite(mean[i, j]) else "0.75",
                                       linewidth=0))
            dark = np.isfinite(mean[i, j]) and mean[i, j] < (CHANCE + top) / 2
            ax.text(j, i, "\n".join(lines), ha="center", va="center",
                    color="white" if dark else "black")
    ax.set_xticks(range(len(gammas)), [value_text(g) for g in gammas])
    ax.set_yticks(range(len(depths)), [str(int(d)) for d in depths])
    ax.set_xlabel("γ")
    ax.set_ylabel(label(ds["depth"]))
    seeds = ds.sizes.get("seed", 1)
    set_title(ax, ds, f"mean over {seeds} seed{'s' if seeds > 1 else ''}; hatched: a run "
                      "failed")
    return ax


def decay_rate_vs_gamma(ds: xr.Dataset, ax: Axes | None = None, *, final: float = 0.2
                        ) -> Axes:
    """The relative-update decay rate (decades per layer towards the input, as in
    relative_update_vs_layer) against gamma (log x), one line per depth: mean over seeds,
    dots: seeds. A run whose rate cannot be fitted (fewer than 2 layers moved, or diverged)
    is left out and counted in the legend."""
    require_dims(ds, ("depth", "gamma"), ("seed",), "decay_rate_vs_gamma")
    n_final = final_fraction(ds[["update_norm"]], final).sizes["step"]
    rate = metrics.update_decay_rate(ds, last_steps=n_final)
    gammas = ds["gamma"].values
    depths = list(ds["depth"].values)
    colours = palette(len(depths), "sequential")
    ax = new_axes(ax)
    ax.axhline(0, color="0.6", linestyle=":", linewidth=0.8, zorder=0)
    for i, depth in enumerate(depths):
        r = rate.sel(depth=depth)
        mean = r.mean("seed", skipna=True) if "seed" in r.dims else r
        missing = int(r.isnull().sum())
        text = describe(ds, "depth", depth) + (f" ({missing} not fitted)" if missing else "")
        ax.plot(gammas, mean.values, color=colours[i], marker="o", markersize=3, label=text)
        if "seed" in r.dims:
            seed_points(ax, gammas, r, "gamma", colours[i])
    ax.set_xscale("log")
    ax.set_xticks(gammas, [value_text(g) for g in gammas])
    ax.minorticks_off()
    ax.set_xlabel("γ")
    ax.set_ylabel(f"{label(rate)}")
    set_title(ax, ds, f"median over the last {n_final} logged steps")
    ax.legend(title="depth")
    decorate(ax)
    return ax
