"""Per-layer profiles: the relative weight update and the alignment with backprop against
layer, and the update profile's decay rate against gamma.

The shape of a profile over layers and its decay rate where it is monotone are
pcdiag.measures' (`measures.update_profile`); stalled layers are `measures.stalled`.
"""

from __future__ import annotations

import numpy as np
import xarray as xr
from matplotlib.axes import Axes
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

from pcdiag import measures
from pcdiag.plot.sensitivity import seed_points
from pcdiag.plot.styling import (
    LINESTYLES,
    colours_for,
    decorate,
    describe,
    final_fraction,
    label,
    new_axes,
    palette,
    require_dims,
    set_title,
    value_text,
)


def final_median(da: xr.DataArray, final: float) -> xr.DataArray:
    """Median over the last `final` fraction of the logged steps (and over seeds)."""
    part = final_fraction(da.to_dataset(name="v"), final)["v"]
    dims = [d for d in ("seed", "step") if d in part.dims]
    return part.median(dims, skipna=True)


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
    colours = colours_for(hue, hues)
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
    median = final_median(ds["bp_cosine"], final)
    n_final = final_fraction(ds[["bp_cosine"]], final).sizes["step"]
    hues = list(ds[hue].values) if hue else [None]
    colours = colours_for(hue, hues)
    ax = new_axes(ax)
    for value in (0.0, 1.0):
        ax.axhline(value, color="0.6", linestyle=":" if value == 0 else "-", linewidth=0.8,
                   zorder=0)
    for i, value in enumerate(hues):
        line = median.sel({hue: value}) if hue else median
        text = describe(ds, hue, value) if hue else "bp cosine"
        grad = measures.with_norms(ds)["weight_grad_norm"]
        zero = (grad == 0).all([d for d in ("seed", "step") if d in ds.dims])
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
