"""``generative_energy``: where the energy goes when the image is clamped at the output and
its cause, the latent x_0, is inferred at the other end.

Top rows: log10 E_l over layer x inference iteration t (pcdiag.plot.heatmap.energy_heatmap,
mean over seeds) for PCX decoders of growing depth at PCX's gamma, at the first and the last
logged training step. Bottom row: the share of the free energy at node 1 (the node the latent
predicts), E_1 / F, over t; the latent's gradient norm over t; and E_l at t = T against the
distance from the image, L - l, at the last logged step."""

from __future__ import annotations

import json

import numpy as np
import xarray as xr
from matplotlib.figure import Figure as MplFigure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

from pcdiag import status
from pcdiag.figures.captions import n_seeds
from pcdiag.figures.errors import FigureError
from pcdiag.figures.experiments import combine, conform, keep, select
from pcdiag.figures.generative import profile as gen
from pcdiag.figures.generative.text import decoder_text, setting
from pcdiag.figures.layout import TWO_COLUMNS, short_number
from pcdiag.figures.registry import Figure
from pcdiag.plot.heatmap import (
    HEATMAP_DECADES,
    energy_heatmap,
    final_reached,
    heatmap_legend_handles,
    log_energy_range,
)
from pcdiag.plot.styling import NEUTRAL, colours_for, decorate, panel_labels, style

#: The two logged steps drawn (index into the logged steps), and their line styles.
STEPS = {"first": 0, "last": -1}
STEP_LINE = {"first": "--", "last": "-"}
DRAWN = ("energy", "energy_total", "latent_grad_norm", "test_mse", "mean_image_mse")


def _data(profile, results) -> xr.Dataset:
    g = gen.generative_profile(profile)
    parts = {}
    for depth in g.depths:
        ds = results[f"depth/{depth}"]
        if "gamma" in ds.dims:
            ds = select(ds, gamma=gen.PCX_GAMMA)
        ds = ds.isel(step=list(STEPS.values()))
        parts[depth] = keep(ds, *DRAWN)
    ds = combine(parts, "depth")
    ds["depth"].attrs.update(long_name="depth L (weight layers)",
                             comment="config field 'depth'; width 128, PCX's gamma")
    ds.attrs["generative_profile"] = g.to_json()
    return conform(ds)


# --------------------------------------------------------------------------- numbers


def latent_share(ds: xr.Dataset) -> xr.DataArray:
    """E_1 / F: the share of the free energy at node 1, the node the latent predicts."""
    return ds["energy"].sel(layer=1) / ds["energy_total"]


def own_t(ds: xr.Dataset) -> int:
    """The runs' T (the last t with a finite total energy)."""
    filled = ds["energy_total"].notnull().any([d for d in ds["energy_total"].dims if d != "t"])
    return int(ds["t"].values[filled.values].max())


def first_latent_t(ds: xr.Dataset) -> xr.DataArray:
    """Per depth, seed and step: the first t at which the latent's gradient is not exactly 0
    (the error has reached x_0); NaN if never by T."""
    moving = ds["latent_grad_norm"] > 0
    first = moving.argmax("t").astype(float)
    return first.where(moving.any("t"))


def decay_at_t(ds: xr.Dataset) -> xr.DataArray:
    """E_l / E_L at t = T (seed mean of each), the last logged step, against the distance
    from the image k = L - l (k = 0 is the image node)."""
    last = ds.isel(step=-1)["energy"].sel(t=own_t(ds)).mean("seed")
    rows = []
    for depth in ds["depth"].values:
        e = last.sel(depth=depth).values[: int(depth)]
        rows.append(np.concatenate([e[::-1] / e[-1], np.full(last.sizes["layer"] - len(e),
                                                                np.nan)]))
    return xr.DataArray(np.array(rows), dims=("depth", "k"),
                        coords={"depth": ds["depth"].values,
                                "k": np.arange(last.sizes["layer"])})


def not_reached_cells(ds: xr.Dataset) -> int:
    """How many heatmap cells (depth, drawn step, layer, t) are drawn grey: not reached
    (pcdiag.measures.reached == 0 in every seed)."""
    return sum(int((final_reached(ds.sel(depth=d).isel(step=[i]), 1.0) == 0).sum())
               for d in ds["depth"].values for i in range(ds.sizes["step"]))


def status_text(ds: xr.Dataset, depth) -> str:
    """'' when every seed of `depth` is ok, else e.g. ' (2/2 collapsed)' (run_status)."""
    flags = ds["run_status"].sel(depth=depth).values.ravel()
    bad = [f"{int((flags == c).sum())}/{flags.size} {n}" for c, n in status.NAMES.items()
           if c != status.OK and (flags == c).any()]
    return f" ({', '.join(bad)})" if bad else ""


def _span(values) -> str:
    values = np.asarray(values, float).ravel()
    values = values[np.isfinite(values)]
    if not values.size:
        return "n/a"
    lo, hi = short_number(values.min(), 2), short_number(values.max(), 2)
    return lo if lo == hi else f"{lo}–{hi}"


# --------------------------------------------------------------------------- drawing


def _heatmaps(fig, ds: xr.Dataset) -> list:
    depths = list(ds["depth"].values)
    axes = fig.subplots(len(STEPS), len(depths), squeeze=False, sharex=True)
    parts = {(s, d): ds.sel(depth=d).isel(step=[i]) for i, s in enumerate(STEPS)
             for d in depths}
    ranges = [log_energy_range(p, 1.0) for p in parts.values()]
    vmin, vmax = min(r[0] for r in ranges), max(r[1] for r in ranges)
    clipped = vmin < vmax - HEATMAP_DECADES
    vmin = max(vmin, float(np.ceil(vmax - HEATMAP_DECADES)))
    for row, step in enumerate(STEPS):
        for col, depth in enumerate(depths):
            ax = axes[row, col]
            part = parts[step, depth]
            # no t = L - l guide: every node starts at 0 but predicts its biases' image,
            # so each E_l(0) > 0 and there is no front to guide
            energy_heatmap(part, ax, final=1.0, vmin=vmin, vmax=vmax, front_guide=False)
            ax.xaxis.set_major_locator(MaxNLocator(nbins=5, integer=True))
            ax.set_title(f"L = {int(depth)}, step {int(part['step'].values[0])}"
                         + status_text(ds, depth), loc="left")
            if col:
                ax.set_ylabel("")
            if row < len(STEPS) - 1:
                ax.set_xlabel("")
    mesh = next(c for c in axes[0, -1].collections if c.get_label() == "log10 energy")
    bar = fig.colorbar(mesh, ax=list(axes.ravel()), fraction=0.04, pad=0.01,
                       extend="min" if clipped else "neither")
    bar.set_label(r"$\log_{10}$ E$_\ell$ (seed mean)"
                  + (f"\n(green: below $10^{{{vmin:.0f}}}$)" if clipped else ""))
    return list(axes.ravel())


def _band(ax, t, values, colour, linestyle):
    """Seed mean line and min-max band; t where every seed is exactly 0 marked at the
    axis' bottom edge (a log axis has no 0)."""
    mean = values.mean(0)
    positive = np.where(mean > 0, mean, np.nan)
    ax.plot(t, positive, color=colour, linestyle=linestyle)
    if values.shape[0] > 1:
        lo, hi = values.min(0), values.max(0)
        ok = lo > 0
        ax.fill_between(t[ok], lo[ok], hi[ok], color=colour, alpha=0.15, linewidth=0)
    zero = (values == 0).all(0)
    if zero.any():
        ax.plot(t[zero], np.zeros(int(zero.sum())), transform=ax.get_xaxis_transform(),
                linestyle="none", marker="v", markersize=3, color=colour, clip_on=False,
                zorder=5)


def _lines(fig, ds: xr.Dataset) -> list:
    axes = fig.subplots(1, 3)
    depths = list(ds["depth"].values)
    colours = colours_for("depth", depths)
    t = ds["t"].values
    share = latent_share(ds)
    for colour, depth in zip(colours, depths):
        for i, step in enumerate(STEPS):
            sel = {"depth": depth, "step": ds["step"].values[i]}
            _band(axes[0], t, share.sel(sel).transpose("seed", "t").values, colour,
                  STEP_LINE[step])
            _band(axes[1], t, ds["latent_grad_norm"].sel(sel).transpose("seed", "t").values,
                  colour, STEP_LINE[step])
    decay = decay_at_t(ds)
    for colour, depth in zip(colours, depths):
        row = decay.sel(depth=depth)
        axes[2].plot(decay["k"].values, row.values, color=colour, marker="o", markersize=3)
    axes[0].set_ylabel(r"E$_1$ / F")
    axes[1].set_ylabel(r"latent gradient ‖∂F/∂x$_0$‖")
    axes[2].set_ylabel(r"E$_{L-k}$ / E$_L$ at t = T")
    axes[2].set_xlabel("k = L − l (layers from the image)")
    for ax in axes[:2]:
        ax.set_xlabel("inference iteration t")
    for ax in axes:
        ax.set_yscale("log")
        decorate(ax)
    handles = [Line2D([], [], color=c, label=f"L = {int(d)}{status_text(ds, d)}")
               for c, d in zip(colours, depths)]
    handles += [Line2D([], [], color=NEUTRAL, linestyle=STEP_LINE[s],
                       label=f"{s} logged step") for s in STEPS]
    if bool((share == 0).any() or (ds["latent_grad_norm"] == 0).any()):
        handles += [Line2D([], [], color=NEUTRAL, linestyle="none", marker="v", markersize=3,
                           label="exactly 0 (at the edge)")]
    if not_reached_cells(ds):
        handles += heatmap_legend_handles()[:1]  # the grey 'not reached' swatch
    fig.legend(handles=handles, loc="outside lower center", ncols=4)
    return list(axes)


def plot_generative_energy(ds: xr.Dataset) -> MplFigure:
    missing = [v for v in ("energy", "energy_total", "latent_grad_norm") if v not in ds]
    if missing or "depth" not in ds.dims:
        raise FigureError(f"generative_energy needs the dim depth and the variables energy, "
                          f"energy_total, latent_grad_norm (missing: {missing or 'depth'}); "
                          "make the data with `pcdiag figures --only generative_energy`")
    if "seed" not in ds.dims:
        ds = ds.expand_dims(seed=[0])
    with style():
        fig = MplFigure(figsize=(TWO_COLUMNS, 6.4), layout="constrained")
        top, bottom = fig.subfigures(2, 1, height_ratios=[1.75, 1.25])
        axes = _heatmaps(top, ds) + _lines(bottom, ds)
        panel_labels(axes)
    return fig


# --------------------------------------------------------------------------- text


def summary_generative_energy(ds: xr.Dataset) -> str:
    if "seed" not in ds.dims:
        ds = ds.expand_dims(seed=[0])
    T = own_t(ds)
    share = latent_share(ds).sel(t=T)
    first = first_latent_t(ds)
    decay = decay_at_t(ds)
    steps = ", ".join(str(int(s)) for s in ds["step"].values)
    lines = [f"  per depth L, seeds' range over {n_seeds(ds)} seed(s), PCX's γ; "
             f"first / last logged step (steps {steps})"]
    for depth in ds["depth"].values:
        d = {"depth": depth}
        cells = [f"E_1/F at t = T: {_span(share.sel(d).isel(step=0))} / "
                 f"{_span(share.sel(d).isel(step=-1))}",
                 f"latent gradient first nonzero at t = {_span(first.sel(d).isel(step=0))} / "
                 f"{_span(first.sel(d).isel(step=-1))}",
                 f"E_1/E_L at t = T (last step, seed mean): "
                 f"{short_number(float(decay.sel(depth=depth, k=int(depth) - 1)), 2)}"]
        mse = ds["test_mse"].sel(d).isel(epoch=-1)
        cells.append(f"test MSE {short_number(float(mse.mean()))} [{short_number(float(mse.min()))}"
                     f", {short_number(float(mse.max()))}]{status_text(ds, depth)}")
        lines.append(f"    L = {int(depth)}: " + "; ".join(cells))
    return "\n".join(lines)


def caption_generative_energy(ds: xr.Dataset) -> str:
    g = json.loads(ds.attrs.get("generative_profile", "{}"))
    depths = ", ".join(str(int(d)) for d in ds["depth"].values)
    steps = ", ".join(str(int(s)) for s in ds["step"].values)
    zeros = int((ds["latent_grad_norm"] == 0).sum())
    mse = ds["test_mse"].isel(epoch=-1).mean("seed")
    scores = ", ".join(f"L = {int(d)} {short_number(float(mse.sel(depth=d)))}"
                       f"{status_text(ds, d)}" for d in ds["depth"].values)
    return setting(
        ds, decoder_text(ds, depths),
        states=f"states SGD with momentum 0.45 at PCX's γ = {gen.PCX_GAMMA:.4g}",
        data=f"{g.get('train_limit') or 60000} Fashion-MNIST training images (x / 255)",
        end=f" The latent x_0 (no energy of its own) is inferred. Seeds: {n_seeds(ds)}; "
            f"logged steps drawn: {steps} (the first and the last).",
    ) + "\n" + "\n".join([
        "Top (one column per depth; first logged step above, last below): log10 E_l over "
        "layer (1: the node the latent predicts, L: the image) and t, mean over seeds, one "
        f"colour scale; grey: not reached (pcdiag.measures.reached; {not_reached_cells(ds)} "
        "cells). No t = L − l guide: every free node starts at 0, but each node's prediction "
        "from 0 (its bias through the layer) is not 0, so every E_l(0) can be > 0.",
        "Bottom: E_1 / F (the free energy's share at node 1), the latent's gradient norm "
        "(line: seed mean; band: min-max over seeds; dashed: first logged step, solid: last), "
        f"and E_l / E_L at t = T at the last logged step against k = L − l. Values exactly 0 "
        f"on the log axes are drawn as ▼ at the bottom edge ({zeros} latent-gradient values "
        "of all t, seeds, steps and depths are exactly 0).",
        f"Test reconstruction MSE after the run (seed mean; run_status where not ok): {scores}; "
        f"the mean image scores {short_number(float(ds['mean_image_mse'].max()))}. A "
        "collapsed decoder's energies are those of a network that has not learned.",
    ])


FIGURE = Figure(
    name="generative_energy",
    description="Where the energy goes in a PCX decoder (image clamped at the output, latent "
                "inferred): E_l over layer x t for depths 3-8 at the first and last logged "
                "step, the latent's share E_1/F and gradient norm over t, and E_l at t = T "
                "away from the image.",
    sweeps=gen.energy_specs,
    data=_data,
    plot=plot_generative_energy,
    caption=caption_generative_energy,
    summary=summary_generative_energy,
)
