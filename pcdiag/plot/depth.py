"""Deep networks: test accuracy and stalled layers against depth, and the depth x gamma
accuracy grid.

Every count drawn here is pcdiag.measures': which layers stalled (`measures.stalled`: learn
at no logged step). A `variant` dim (used by pcdiag.figures.depth) names a network /
learning-rule combination ("pc", "ipc", "bp", ...); its optional coordinate
`description(variant)` is the text shown in legends and panel titles
(pcdiag.plot.styling.describe).
"""

from __future__ import annotations

import matplotlib
import numpy as np
import xarray as xr
from matplotlib.axes import Axes
from matplotlib.patches import Rectangle
from matplotlib.ticker import MaxNLocator

from pcdiag import measures
from pcdiag.plot.sensitivity import (
    FAILURE_MARKERS,
    accuracy_line,
    accuracy_summary,
    add_counts,
    chance_level,
    failure_legend,
    fit_accuracy_axes,
    seed_points,
)
from pcdiag.plot.styling import (
    ALGORITHM_STYLE,
    SEQUENTIAL,
    colours_for,
    data_algorithm,
    decorate,
    describe,
    label,
    markers_for,
    new_axes,
    range_text,
    require_dims,
    set_title,
    value_text,
)

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
    colours = colours_for(hue, hues) if hue else [ALGORITHM_STYLE[data_algorithm(ds)]["color"]]
    markers = markers_for(hues)
    depth = ds["depth"].values
    ax = new_axes(ax)
    chance = chance_level(ds)
    ax.axhline(chance, color="0.6", linestyle=":", linewidth=0.8, zorder=0)
    failed: dict[str, int] = {}
    for i, value in enumerate(hues):
        s = summary.sel({hue: value}) if hue else summary
        add_counts(failed, accuracy_line(
            ax, depth, s, colours[i], band=ds.sizes.get("seed", 1) > 1, markersize=4,
            marker=markers[i], chance=chance,
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
    fit_accuracy_axes([ax], "depth", [summary], chance=chance)
    handles, labels = ax.get_legend_handles_labels()
    failure_legend(handles, labels, failed, int(ds["test_accuracy"].isel(epoch=-1).size))
    ax.legend(handles, labels)
    decorate(ax)
    return ax


def stalled_text(counts: xr.DataArray, lower: xr.DataArray) -> str:
    """The seeds' stalled-layer count as text: '4', '10–11', '≥ 10–11' where it is only a
    lower bound (measures.stalled_lower_bound), '' where no run has a count."""
    text = range_text(counts.values)
    if text and bool(lower.broadcast_like(counts).any()):
        text = f"≥ {text}"
    return text


def stalled_vs_depth(ds: xr.Dataset, ax: Axes | None = None, *, hue: str | None = "variant"
                     ) -> Axes:
    """Stalled layers (pcdiag.measures.stalled_layers: layers that learn at no logged step,
    their weights moved only by weight decay or below float32 resolution) against depth, one
    colour per `hue` as in accuracy_vs_depth; line: mean over seeds, dots: seeds, text:
    'min-max of L' where any layer stalled ('≥' where the count is a lower bound:
    measures.stalled_lower_bound). Runs without a count (diverged) are left out of the mean and
    counted in the text."""
    hue = hue if hue in ds.dims else None
    require_dims(ds, ("depth",), tuple(d for d in ("seed", hue) if d), "stalled_vs_depth")
    stalled = measures.stalled_layers(ds)
    lower = measures.stalled_lower_bound(ds)
    hues = list(ds[hue].values) if hue else [None]
    colours = colours_for(hue, hues) if hue else [ALGORITHM_STYLE[data_algorithm(ds)]["color"]]
    markers = markers_for(hues)
    depth = ds["depth"].values
    ax = new_axes(ax)
    for i, value in enumerate(hues):
        f = stalled.sel({hue: value}) if hue else stalled
        low = lower.sel({hue: value}) if hue and hue in lower.dims else lower
        mean = f.mean("seed", skipna=True) if "seed" in f.dims else f
        ax.plot(depth, mean.values, color=colours[i], marker=markers[i], markersize=3,
                label=describe(ds, hue, value) if hue else "stalled layers")
        if "seed" in f.dims:
            seed_points(ax, depth, f, "depth", colours[i])
        for d in depth:
            at = f.sel(depth=d)
            values = at.values.ravel()
            finite = values[np.isfinite(values)]
            if finite.size and finite.max() > 0:
                text = f"{stalled_text(at, low.sel(depth=d) if 'depth' in low.dims else low)}"
                text += f" of {int(d)}"
                if finite.size < values.size:
                    text += f" ({values.size - finite.size} n/a)"
                ax.annotate(text, (d, float(np.nanmean(finite))), xytext=(-3, 0),
                            textcoords="offset points", ha="right", va="center",
                            color=colours[i])
    ax.set_xscale("log", base=2)
    ax.set_xticks(depth, [str(int(d)) for d in depth])
    ax.minorticks_off()
    ax.set_xlabel(label(ds["depth"]))
    ax.set_ylabel("stalled layers\n(learn at no step)")
    top = float(np.nanmax(stalled.values)) if np.isfinite(stalled.values).any() else 0.0
    ax.set_ylim(-0.08 * max(top, 1) - 0.3, max(top, 1) * 1.25 + 0.3)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True, nbins=4))
    decorate(ax)
    return ax


# --------------------------------------------------------------------------- depth x gamma


def accuracy_heatmap(ds: xr.Dataset, ax: Axes | None = None, *, epoch: int = -1) -> Axes:
    """Mean test accuracy over seeds in a depth (y) x gamma (x) grid, the number in each cell;
    a second line gives the stalled layers (pcdiag.measures.stalled_layers, the seeds' range;
    '≥' where only a lower bound: measures.stalled_lower_bound) where any stalled. Cells where a run
    failed (run_status not ok) are hatched and say how many of which kind; a cell whose
    every seed diverged has no colour. Select every other sweep dim first."""
    require_dims(ds, ("depth", "gamma"), ("seed",), "accuracy_heatmap")
    summary = accuracy_summary(ds, epoch).transpose("depth", "gamma")
    stalled = measures.stalled_layers(ds)
    lower = measures.stalled_lower_bound(ds)
    mean = summary["mean"].values
    failed = sum(summary[name].values for name in FAILURE_MARKERS)
    runs = summary["runs"].values
    depths, gammas = ds["depth"].values, ds["gamma"].values
    ax = new_axes(ax)
    chance = chance_level(ds)
    cmap = matplotlib.colormaps[SEQUENTIAL]
    # the colour scale spans the finite data (never a fixed range from chance)
    finite = mean[np.isfinite(mean)]
    bottom, top = (float(finite.min()), float(finite.max())) if finite.size else (chance, 1.0)
    if top - bottom < 1e-6:
        bottom, top = bottom - 0.005, top + 0.005
    mesh = ax.pcolormesh(np.arange(len(gammas) + 1) - 0.5, np.arange(len(depths) + 1) - 0.5,
                         np.ma.masked_invalid(mean), cmap=cmap, vmin=bottom, vmax=top)
    mesh.set_label("mean test accuracy")
    for i in range(len(depths)):
        for j in range(len(gammas)):
            lines = ["no finite\naccuracy" if not np.isfinite(mean[i, j])
                     else f"{mean[i, j]:.2f}"]
            at = dict(depth=depths[i], gamma=gammas[j])
            counts = stalled.sel(at)
            if np.nanmax(counts.values, initial=0) > 0:
                low = lower.sel({k: v for k, v in at.items() if k in lower.dims})
                lines.append(f"stalled:\n{stalled_text(counts, low)}")
            if failed[i, j]:
                kinds = [f"{int(summary[k].values[i, j])}/{int(runs[i, j])} "
                         f"{k.replace('_', ' ')}" for k in FAILURE_MARKERS
                         if summary[k].values[i, j]]
                lines += kinds
                ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, hatch="////",
                                       edgecolor="0.6" if np.isfinite(mean[i, j]) else "0.75",
                                       linewidth=0))
            dark = np.isfinite(mean[i, j]) and mean[i, j] < (bottom + top) / 2
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
