"""The three figures of one sweep (PC with SGD-momentum weights and bp_alignment over depth x
gamma x seed):

- ``update_decay``: relative weight update against layer, one line per depth, with the
  profile's shape and, where it is monotone, its decay rate (decades per layer);
- ``depth_gamma``: test accuracy over depth x gamma, and the decay rate against gamma;
- ``bp_alignment``: cosine between PC's and backprop's weight gradients against layer.

Every count and profile is pcdiag.measures' (stalled, stalled_layers, update_profile)."""

from __future__ import annotations

import numpy as np
import xarray as xr
from matplotlib.figure import Figure as MplFigure

import pcdiag.plot as pplot
from pcdiag import measures
from pcdiag.figures.captions import n_seeds
from pcdiag.figures.depth import profile as deep
from pcdiag.figures.experiments import bp_runs, config_of, conform, select, trim
from pcdiag.figures.layout import (
    ONE_COLUMN,
    TWO_COLUMNS,
    legend_below,
    name_panels,
    new_figure,
    one_panel,
    short_number,
)
from pcdiag.figures.registry import Figure
from pcdiag.plot.depth import stalled_text
from pcdiag.plot.layers import final_median, profile_text, stalled_layers_text
from pcdiag.plot.styling import PANEL_LETTERS, final_fraction, panel_labels, style


def _update_data(profile, results) -> xr.Dataset:
    ds = trim(select(results["align"], gamma=deep.DEEP_GAMMA), keep_t=False)
    ds.attrs["deep_profile"] = deep.deep_profile(profile).to_json()
    return deep.depth_attrs(ds)


def _depth_gamma_data(profile, results) -> xr.Dataset:
    ds = trim(results["align"], keep_t=False).drop_vars("bp_cosine", errors="ignore")
    ds.attrs["deep_profile"] = deep.deep_profile(profile).to_json()
    if "bp" in results:  # BP with the same weights, at each depth
        bp = results["bp"]
        for name in ("test_accuracy", "run_status", "diverged_at"):
            ds[f"bp_{name}"] = bp[name].assign_attrs(
                long_name=f"BP {bp[name].attrs.get('long_name', name)}",
                comment=f"{bp[name].attrs.get('comment', '')} (backprop on the same network "
                        "with the same SGD-momentum weights and data: the reference for "
                        "PC's accuracy at each depth)".strip())
    return deep.depth_attrs(ds)


def _align_data(profile, results) -> xr.Dataset:
    d = deep.deep_profile(profile)
    ds = trim(results["align"], keep_t=False).sel(gamma=list(d.bp_gammas))
    ds.attrs["deep_profile"] = d.to_json()
    return deep.depth_attrs(conform(ds))


def plot_update_decay(ds: xr.Dataset) -> MplFigure:
    return one_panel(ds, lambda d, ax: pplot.relative_update_vs_layer(d, ax, hue="depth"),
                     "Relative weight update per layer (PC)", size=(ONE_COLUMN, 3.6))


def plot_depth_gamma(ds: xr.Dataset) -> MplFigure:
    with style():
        fig, (left, right) = new_figure(2, TWO_COLUMNS, 3.0)
        pplot.accuracy_heatmap(ds, left)
        if "bp_test_accuracy" in ds:  # each depth's BP reference beside its row
            bp = bp_accuracy(ds)
            left.set_yticks(range(ds.sizes["depth"]), [
                f"{int(x)}\nBP {float(bp.sel(depth=x)):.2f}" for x in ds["depth"].values])
        pplot.decay_rate_vs_gamma(ds, right)
        fig.colorbar(left.collections[0], ax=left, fraction=0.05, pad=0.02,
                     label="mean test accuracy")
        panel_labels([left, right])
    return fig


def bp_accuracy(ds: xr.Dataset) -> xr.DataArray:
    """BP's final test accuracy per depth, mean over seeds (depth_gamma's reference)."""
    return ds["bp_test_accuracy"].isel(epoch=-1).mean("seed")


def plot_bp_alignment(ds: xr.Dataset) -> MplFigure:
    gammas = list(ds["gamma"].values)
    with style():
        fig, axes = new_figure(len(gammas), TWO_COLUMNS, 2.6)
        for ax in axes[1:]:
            ax.sharey(axes[0])
        for ax, gamma in zip(axes, gammas):
            pplot.bp_cosine_vs_layer(select(ds, gamma=gamma), ax, hue="depth")
        for ax in axes[1:]:
            ax.set_ylabel("")
            if ax.get_legend() is not None:
                ax.get_legend().remove()
        legend = axes[0].get_legend()
        if legend is not None:  # under the figure: no room in a panel without hiding lines
            legend.set_title(f"depth (no-gradient layers at γ = {gammas[0]:g})")
            legend_below(fig, axes[0], ncols=3)
        drawn = final_median(ds["bp_cosine"], 0.2)
        low = float(drawn.min()) if bool(drawn.notnull().any()) else 0.0
        axes[0].set_ylim(min(-0.05, low - 0.05), 1.05)  # shared: every panel's lowest point
        name_panels(axes, [f"γ = {gamma:g}" for gamma in gammas])
    return fig


def caption_update_decay(ds: xr.Dataset) -> str:
    cfg = config_of(ds)
    return deep.deep_caption(
        ds,
        f"γ = {cfg.gamma:g}, T = {cfg.inference_steps} at every depth (2 x the deepest). "
        "Profile (pcdiag.measures.update_profile): each seed's median of ||Δθ_l|| / "
        "||θ_l|| over the last 25% of logged steps; drawn: its median over "
        f"{n_seeds(ds)} seed(s). The legend names each profile's shape over "
        "layers 1..L (rising toward the output, falling, U-shaped, ...) and gives a decay "
        "rate (minus the least-squares slope of log10 of the profile against L - l, mean of "
        "the seeds') only where the profile is monotone: a line does not describe a "
        "U-shaped one. Hollow markers: stalled layers (pcdiag.measures.stalled), whose "
        "relative update exceeds 2^-24 (float32 resolution; weight decay is 0) at no logged "
        "step in every seed. SGD with momentum, not AdamW: AdamW normalises each layer's "
        "update, which hides the decay; weight decay 0, else a layer without gradient "
        "still moves by lr x decay / (1 - momentum), a floor of ~1e-5.",
    )


def caption_depth_gamma(ds: xr.Dataset) -> str:
    cfg = config_of(ds)
    return deep.deep_caption(
        ds,
        f"Left: test accuracy, mean over {n_seeds(ds)} seed(s), in each cell "
        "with the stalled layers (pcdiag.measures.stalled_layers: layers that learn at no "
        "logged step, relative update never above 2^-24; the seeds' range) where any "
        "stalled; hatched: a run failed (run_status), with the count. Right: the "
        "relative-update decay rate (as in update_decay: pcdiag.measures.update_profile, "
        "each seed's median over the last 25% of logged steps; minus the slope of log10 "
        "against L - l), only where the profile is monotone; line: mean over seeds, dots: "
        "seeds. A profile that is not monotone has no rate; its shape is drawn at the foot "
        "of the panel instead (U: U-shaped), one row per depth. Same runs as update_decay and "
        f"bp_alignment: SGD-momentum weights, weight decay 0, T = {cfg.inference_steps} at "
        "every depth." + (" Under each depth: BP's test accuracy (mean over seeds) on the same "
                          "network with the same weights and data, the reference for PC's row."
                          if "bp_test_accuracy" in ds else ""),
    )


def _final_steps(ds: xr.Dataset) -> int:
    return final_fraction(ds[["bp_cosine"]], 0.2).sizes["step"]


def caption_bp_alignment(ds: xr.Dataset) -> str:
    cfg = config_of(ds)
    return deep.deep_caption(
        ds,
        "bp_cosine: cosine between the gradient PC's weight optimizer receives for layer l "
        "and the backprop gradient of the output loss, same weights and batch; median over "
        f"the final 20% of logged steps (the last {_final_steps(ds)} logged steps), "
        f"{n_seeds(ds)} seed(s). "
        f"T = {cfg.inference_steps} at every depth. NaN (no point) where the PC gradient is "
        "exactly 0 (no error at all arrived there), listed in the legend. Panels: "
        + ", ".join(f"({PANEL_LETTERS[i]}) γ = {float(g):g}"
                    for i, g in enumerate(ds["gamma"].values)) + " (per sample).",
    )


def summary_update_decay(ds: xr.Dataset) -> str:
    profiles = measures.update_profile(ds)
    median = profiles["profile"].median("seed", skipna=True)
    stalled = measures.stalled(ds)
    cells = []
    for depth in ds["depth"].values:
        m = median.sel(depth=depth)
        top, bottom = float(m.sel(layer=int(depth))), float(m.sel(layer=1))
        still = stalled_layers_text(stalled.sel(depth=depth))
        cells.append(f"L = {int(depth)}: {profile_text(profiles.sel(depth=depth))} "
                     f"(layer 1 {short_number(bottom)}, layer L {short_number(top)}; "
                     + (f"layers {still} stalled" if still else "no layer stalled") + ")")
    return ("  relative-update profile (pcdiag.measures.update_profile: median over the last "
            "25% of steps, then over seeds; rate only where monotone): " + "; ".join(cells))


def summary_depth_gamma(ds: xr.Dataset) -> str:
    summary = pplot.accuracy_summary(ds)
    stalled = measures.stalled_layers(ds)
    lower = measures.stalled_lower_bound(ds)
    profiles = measures.update_profile(ds)
    lines = [f"  test accuracy (mean over {n_seeds(ds)} seeds) [stalled layers, "
             "seeds' range] update profile: shape, decay rate in decades/layer where "
             "monotone, by depth and γ:"]
    for depth in ds["depth"].values:
        cells = []
        for gamma in ds["gamma"].values:
            at = dict(depth=depth, gamma=gamma)
            point = summary.sel(at)
            f = stalled.sel(at)
            low = lower.sel({k: v for k, v in at.items() if k in lower.dims})
            count = (f" [{stalled_text(f, low)} stalled]"
                     if np.nanmax(f.values, initial=0) > 0 else "")
            cells.append(f"γ {gamma:g}: {short_number(float(point['mean']))}{count} "
                         f"{profile_text(profiles.sel(at))}"
                         + pplot.failure_text(point))
        lines.append(f"    L = {int(depth)}: " + "; ".join(cells))
    if "bp_test_accuracy" in ds:
        bp = pplot.accuracy_summary(bp_runs(ds))
        lines.append(f"  BP with the same weights, test accuracy (mean over {n_seeds(ds)} "
                     "seeds) by depth: " + ", ".join(
                         f"{int(x)}: {short_number(float(bp['mean'].sel(depth=x)))}"
                         + pplot.failure_text(bp.sel(depth=x)) for x in ds["depth"].values))
    return "\n".join(lines)


def summary_bp_alignment(ds: xr.Dataset) -> str:
    cos = final_fraction(ds[["bp_cosine"]], 0.2)["bp_cosine"]
    cos = cos.median([d for d in ("seed", "step") if d in cos.dims])
    lines = ["  bp_cosine (median over the final 20% of steps), layer 1 / layer L-1 / layer L:"]
    for gamma in ds["gamma"].values:
        cells = []
        for depth in ds["depth"].values:
            c = cos.sel(gamma=gamma, depth=depth)
            d = int(depth)
            cells.append(f"L = {d}: {short_number(float(c.sel(layer=1)), 2)} / "
                         f"{short_number(float(c.sel(layer=d - 1)), 2)} / "
                         f"{short_number(float(c.sel(layer=d)), 2)}")
        lines.append(f"    γ = {gamma:g}: " + "; ".join(cells))
    return "\n".join(lines)


UPDATE_DECAY = Figure(
    name="update_decay",
    description="Relative weight update against layer (log), one line per depth, the "
                "profile's shape and, where monotone, its decay rate in decades per "
                "layer; stalled layers hollow; PC with SGD-momentum weights.",
    sweeps=deep.align_specs,
    data=_update_data,
    plot=plot_update_decay,
    caption=caption_update_decay,
    summary=summary_update_decay,
)
DEPTH_GAMMA = Figure(
    name="depth_gamma",
    description="Depth x gamma: mean test accuracy heatmap (stalled layers and failed "
                "runs in the cells) and the relative-update decay rate against gamma "
                "where the profile is monotone (its shape otherwise), one line per depth; "
                "PC with SGD-momentum weights, BP with the same weights per depth.",
    sweeps=deep.depth_gamma_specs,
    data=_depth_gamma_data,
    plot=plot_depth_gamma,
    caption=caption_depth_gamma,
    summary=summary_depth_gamma,
)
BP_ALIGNMENT = Figure(
    name="bp_alignment",
    description="Cosine between PC's and backprop's weight gradients against layer, one "
                "line per depth, one panel per gamma; SGD-momentum weights.",
    sweeps=deep.align_specs,
    data=_align_data,
    plot=plot_bp_alignment,
    caption=caption_bp_alignment,
    summary=summary_bp_alignment,
)
