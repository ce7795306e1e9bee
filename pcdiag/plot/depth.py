"""Deep networks: accuracy against depth, where the energy reaches, how updates and alignment
with backprop decay towards the input.

Every count and profile drawn here is pcdiag.measures': which nodes the error reached
(`measures.reached`), which layers stalled (`measures.stalled`: learn at no logged step), and
the shape of the update profile over layers with its decay rate where the profile is
monotone (`measures.update_profile`).

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

from pcdiag import measures
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


def stalled_text(ds: xr.Dataset, counts: xr.DataArray, lower: xr.DataArray) -> str:
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
    colours = palette(len(hues))
    depth = ds["depth"].values
    ax = new_axes(ax)
    for i, value in enumerate(hues):
        f = stalled.sel({hue: value}) if hue else stalled
        low = lower.sel({hue: value}) if hue and hue in lower.dims else lower
        mean = f.mean("seed", skipna=True) if "seed" in f.dims else f
        ax.plot(depth, mean.values, color=colours[i], marker="o", markersize=3,
                label=describe(ds, hue, value) if hue else "stalled layers")
        if "seed" in f.dims:
            seed_points(ax, depth, f, "depth", colours[i])
        for d in depth:
            at = f.sel(depth=d)
            values = at.values.ravel()
            finite = values[np.isfinite(values)]
            if finite.size and finite.max() > 0:
                text = f"{stalled_text(ds, at, low.sel(depth=d) if 'depth' in low.dims else low)}"
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
    return [Patch(facecolor=NOT_REACHED, edgecolor="0.5",
                  label="not reached (E at rounding or below 2^-24 F)"),
            Line2D([], [], color=FRONT_GUIDE, linestyle="--",
                   label="t = L − l (one layer per step)")]


# --------------------------------------------------------------------------- per-layer lines


#: How a profile's shape (pcdiag.measures.SHAPES) reads in a legend or a summary.
SHAPE_TEXT = {"rising": "rising", "falling": "falling", "flat": "flat",
              "u_shaped": "U-shaped", "peaked": "peaked", "irregular": "irregular",
              "none": "no profile"}


def shape_text(shapes) -> str:
    """The seeds' profile shapes as text: 'U-shaped', or 'rising / U-shaped' where they
    differ (in order of first appearance)."""
    names = dict.fromkeys(str(v) for v in np.asarray(shapes, dtype=object).ravel())
    return " / ".join(SHAPE_TEXT.get(n, n) for n in names)


def profile_text(profile: xr.Dataset) -> str:
    """One line's profile (pcdiag.measures.profile over the seeds): its shape, and where the
    profile is monotone its decay rate (mean of the seeds' rates, decades per layer), e.g.
    'rising, 0.51 dec/layer', 'U-shaped (no rate)', or 'rising / U-shaped, 0.50 dec/layer
    (2 of 3 seeds)'."""
    shape, rate = profile["shape"], profile["rate"]
    text = shape_text(shape.values)
    fitted = int(rate.notnull().sum())
    if not fitted:
        return text if bool((shape == "none").all()) else f"{text} (no rate)"
    text += f", {float(rate.mean(skipna=True)):.2f} dec/layer"
    if fitted < rate.size:
        text += f" ({fitted} of {rate.size} seeds)"
    return text


def stalled_layers_text(stalled: xr.DataArray) -> str:
    """The layers stalled (pcdiag.measures.stalled) in every seed, as '1-4', with those
    stalled in some seeds only after a '+': '1-4 (+5 in some seeds)'; '' if none."""
    seeds = [d for d in ("seed",) if d in stalled.dims]
    every = stalled.min(seeds) == 1 if seeds else stalled == 1
    some = (stalled.max(seeds) == 1) & ~every if seeds else every & False
    text = layer_ranges(stalled["layer"].values[every.values]) if bool(every.any()) else ""
    if bool(some.any()):
        text += f"{' ' if text else ''}(+{layer_ranges(stalled['layer'].values[some.values])} in " \
                "some seeds)"
    return text


def relative_update_vs_layer(ds: xr.Dataset, ax: Axes | None = None, *, hue: str = "depth"
                             ) -> Axes:
    """Relative weight update ||Δθ_l|| / ||θ_l|| against layer l (log y): the profile of
    pcdiag.measures.update_profile (each seed's median over the last 25% of logged steps),
    median over seeds, one line per value of `hue`. The legend gives each line's shape and,
    only where the profile is monotone, its decay rate (decades per layer towards the input;
    a line does not describe a U-shaped profile), and the layers that stalled
    (pcdiag.measures.stalled: they learn at no logged step), drawn hollow; a layer whose
    median update is exactly 0, which a log axis cannot show, is named too."""
    what = "relative_update_vs_layer"
    hue = hue if hue in ds.dims else None
    require_dims(ds, tuple(d for d in (hue,) if d), ("seed",), what)
    profiles = measures.update_profile(ds)
    median = profiles["profile"]
    median = median.median("seed", skipna=True) if "seed" in median.dims else median
    stalled = measures.stalled(ds)
    n_final = final_fraction(ds[["update_norm"]], measures.LATE_FRACTION).sizes["step"]
    hues = list(ds[hue].values) if hue else [None]
    colours = palette(len(hues), "sequential" if hue == "depth" else "qualitative")
    ax = new_axes(ax)
    hollow = False
    for i, value in enumerate(hues):
        at = {hue: value} if hue else {}
        line = median.sel(at)
        name = describe(ds, hue, value) if hue else "relative update"
        text = f"{name}: {profile_text(profiles.sel(at))}"
        still = stalled_layers_text(stalled.sel(at))
        if still:
            text += f"; layers {still} stalled"
        zero = ds["layer"].values[(line == 0).values]
        if zero.size:
            text += f" (layers {layer_ranges(zero)}: 0)"
        drawn = line.where(line > 0).values
        ax.plot(ds["layer"].values, drawn, color=colours[i], marker="o", markersize=3,
                label=text)
        seeds = [d for d in ("seed",) if d in stalled.dims]
        every = (stalled.sel(at).min(seeds) == 1).values if seeds else \
            (stalled.sel(at) == 1).values
        if every.any():
            hollow = True
            ax.plot(ds["layer"].values[every], drawn[every], linestyle="none", marker="o",
                    markersize=4, markerfacecolor="white", markeredgecolor=colours[i],
                    zorder=3)
    ax.set_yscale("log")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel(label(ds["layer"]) + " (1 = input side)")
    ax.set_ylabel("relative weight update")
    set_title(ax, ds, f"median over the last {n_final} logged steps")
    handles, labels = ax.get_legend_handles_labels()
    if hollow:
        handles.append(Line2D([], [], color="0.3", linestyle="none", marker="o",
                              markerfacecolor="white", markersize=4))
        labels.append("hollow: stalled (learns at no logged step)")
    ax.legend(handles, labels, title="profile shape, decay rate where monotone")
    decorate(ax)
    return ax


def layer_ranges(values) -> str:
    """[1, 2, 3, 7] -> '1-3, 7'."""
    values = sorted(int(v) for v in values)
    runs = [[values[0], values[0]]]
    for value in values[1:]:
        if value == runs[-1][1] + 1:
            runs[-1][1] = value
        else:
            runs.append([value, value])
    return ", ".join(f"{a}-{b}" if b > a else f"{a}" for a, b in runs)


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
            text += f" (layers {layer_ranges(still)}: no gradient)"
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
    cmap = matplotlib.colormaps["viridis"]
    top = float(np.nanmax(mean)) if np.isfinite(mean).any() else 1.0
    mesh = ax.pcolormesh(np.arange(len(gammas) + 1) - 0.5, np.arange(len(depths) + 1) - 0.5,
                         np.ma.masked_invalid(mean), cmap=cmap, vmin=CHANCE, vmax=top)
    mesh.set_label("mean test accuracy")
    for i in range(len(depths)):
        for j in range(len(gammas)):
            lines = ["no finite\naccuracy" if not np.isfinite(mean[i, j])
                     else f"{mean[i, j]:.2f}"]
            at = dict(depth=depths[i], gamma=gammas[j])
            counts = stalled.sel(at)
            if np.nanmax(counts.values, initial=0) > 0:
                low = lower.sel({k: v for k, v in at.items() if k in lower.dims})
                lines.append(f"stalled:\n{stalled_text(ds, counts, low)}")
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


#: Markers of decay_rate_vs_gamma for a profile without a rate, by shape.
SHAPE_MARKERS = {"u_shaped": "$U$", "peaked": r"$\wedge$", "irregular": r"$\sim$",
                 "flat": "$-$"}


def decay_rate_vs_gamma(ds: xr.Dataset, ax: Axes | None = None) -> Axes:
    """The relative-update decay rate (pcdiag.measures.update_profile, as in
    relative_update_vs_layer; decades per layer towards the input) against gamma (log x), one
    line per depth: mean over the seeds whose profile is monotone, dots: seeds. A profile
    that is not monotone has no rate: its shape is drawn in a 'no rate' row below the rates,
    set off by a line (U: U-shaped, ∧: peaked, ~: irregular, −: flat; the seeds' most common
    shape), so no letter sits at a rate it does not have. Runs with no profile at all
    (diverged) are counted in the legend."""
    require_dims(ds, ("depth", "gamma"), ("seed",), "decay_rate_vs_gamma")
    profiles = measures.update_profile(ds)
    rate, shape = profiles["rate"], profiles["shape"]
    n_final = final_fraction(ds[["update_norm"]], measures.LATE_FRACTION).sizes["step"]
    gammas = ds["gamma"].values
    depths = list(ds["depth"].values)
    colours = palette(len(depths), "sequential")
    ax = new_axes(ax)
    finite = rate.values[np.isfinite(rate.values)]
    lo, hi = (min(0.0, float(finite.min())), float(finite.max())) if finite.size else (0.0, 1.0)
    row = lo - 0.2 * max(hi - lo, 0.1)  # the 'no rate' row, below every rate
    ax.axhline(0, color="0.6", linestyle=":", linewidth=0.8, zorder=0)
    shapes_drawn: dict[str, str] = {}
    for i, depth in enumerate(depths):
        r, sh = rate.sel(depth=depth), shape.sel(depth=depth)
        mean = r.mean("seed", skipna=True) if "seed" in r.dims else r
        missing = int((sh == "none").sum())
        text = describe(ds, "depth", depth) + (f" (no profile: {missing} runs)" if missing else "")
        ax.plot(gammas, mean.values, color=colours[i], marker="o", markersize=3, label=text)
        if "seed" in r.dims:
            seed_points(ax, gammas, r, "gamma", colours[i])
        shift = 10.0 ** (0.1 * (i - (len(depths) - 1) / 2))  # side by side at one gamma
        for j, gamma in enumerate(gammas):
            names = [str(n) for n in sh.isel(gamma=j).values.ravel()
                     if str(n) in SHAPE_MARKERS]
            if not names:
                continue
            name = max(set(names), key=names.count)
            shapes_drawn[name] = SHAPE_MARKERS[name]
            ax.plot([gamma * shift], [row], linestyle="none", marker=SHAPE_MARKERS[name],
                    markersize=7, color=colours[i])
    if shapes_drawn:
        ax.axhline((row + lo) / 2 - 0.02 * max(hi - lo, 0.1), color="0.75", linewidth=0.8,
                   zorder=0)
        ticks = [t for t in ax.get_yticks() if t >= (row + lo) / 2]
        ax.set_yticks(ticks + [row], [f"{t:g}" for t in ticks] + ["no rate"])
        ax.set_ylim(row - 0.1 * max(hi - lo, 0.1), hi + 0.1 * max(hi - lo, 0.1))
    ax.set_xscale("log")
    ax.set_xticks(gammas, [value_text(g) for g in gammas])
    ax.minorticks_off()
    ax.set_xlabel("γ")
    ax.set_ylabel(f"{label(rate)}")
    set_title(ax, ds, f"median over the last {n_final} logged steps")
    handles, labels = ax.get_legend_handles_labels()
    for name, marker in shapes_drawn.items():
        handles.append(Line2D([], [], color="0.3", linestyle="none", marker=marker,
                              markersize=7))
        labels.append(f"{SHAPE_TEXT[name]} profile: no rate")
    ax.legend(handles, labels, title="depth")
    decorate(ax)
    return ax
