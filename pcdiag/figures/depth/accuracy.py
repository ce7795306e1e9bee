"""``accuracy_vs_depth``: test accuracy and stalled layers against depth for PC, iPC and
BP (residual MLPs; every count is pcdiag.measures')."""

from __future__ import annotations

import numpy as np
import xarray as xr
from matplotlib.figure import Figure as MplFigure

import pcdiag.plot as pplot
from pcdiag import measures
from pcdiag.figures.captions import n_seeds
from pcdiag.figures.depth import profile as deep
from pcdiag.figures.experiments import (
    combine,
    config_of,
    paired_differences,
    select,
    trim,
    with_step_grid,
)
from pcdiag.figures.layout import ONE_COLUMN, legend_below, short_number
from pcdiag.figures.registry import Figure
from pcdiag.plot.depth import stalled_text
from pcdiag.plot.styling import describe as describe_value
from pcdiag.plot.styling import panel_labels, style
from pcdiag.selection import at_best_gamma


def _accuracy_data(profile, results) -> xr.Dataset:
    d = deep.deep_profile(profile)
    parts, chosen, all_ok, grid = {}, {}, {}, {}
    for v in d.variants:
        full = trim(results[v], keep_t=False)
        if "gamma" not in full.dims:
            parts[v] = full
            continue
        per_depth = {}
        for depth in d.depths:
            runs = select(full, depth=depth)
            per_depth[depth], chosen[v, depth], all_ok[v, depth] = at_best_gamma(
                runs, deep.DEEP_GAMMA)
            grid[v, depth] = runs["validation_accuracy"].isel(epoch=-1, drop=True)
        parts[v] = combine(per_depth, "depth")
    ds = combine(parts, "variant")
    configs = {v: deep.VARIANTS[v].config(d.base()) for v in d.variants}
    texts = {v: deep.VARIANTS[v].text
             + (f" (AdamW lr {deep.MUPC_WEIGHT_LR:g})" if v == "mupc" else "")
             for v in d.variants}
    ds = deep.describe_variants(ds, configs, texts)
    if chosen:
        ds = with_selected_steps(ds.drop_vars("gamma"), d, chosen, all_ok, grid)
    ds.attrs["deep_profile"] = d.to_json()
    return deep.depth_attrs(ds)


def comparisons(variants) -> dict[str, tuple[str, str]]:
    """The paired comparisons accuracy_vs_depth holds: every line against BP (none without
    BP)."""
    return {f"{v}-bp": (v, "bp") for v in variants if v != "bp"} if "bp" in variants else {}


def with_selected_steps(ds: xr.Dataset, d: deep.DeepProfile, chosen: dict, all_ok: dict,
                        grid: dict) -> xr.Dataset:
    """`ds` with each line's validated step per depth (`selected_gamma`, NaN for BP),
    `selection_all_ok`, the grid's validation accuracies (`step_validation_accuracy` over
    `gamma_grid`) and the paired differences to BP (`difference*` over `comparison`)."""
    variants = [str(v) for v in ds["variant"].values]
    depths = [int(x) for x in ds["depth"].values]
    gammas = list(d.gammas)
    shape = (len(variants), len(depths))
    ds["selected_gamma"] = (("variant", "depth"), np.array(
        [[chosen.get((v, x), np.nan) for x in depths] for v in variants]).reshape(shape), {
        "long_name": "selected state step γ (per sample)", "units": "1",
        "comment": f"per line and depth, the step of the grid {gammas} whose final "
                   "validation accuracy, median over seeds, is highest among the steps at "
                   "which every seed's run_status is ok (pcdiag.selection.at_best_gamma); NaN "
                   "for BP (no state step)"})
    ds = with_step_grid(ds, ("variant", "depth"), all_ok, grid, d.gammas, d.validation_size,
                        "line")
    pairs = comparisons(variants)
    if not pairs:
        return ds
    return ds.merge(paired_differences(ds["test_accuracy"].isel(epoch=-1), "variant", pairs,
                                       "each line at its validated step"))


def plot_accuracy_vs_depth(ds: xr.Dataset) -> MplFigure:
    with style():
        fig = MplFigure(figsize=(ONE_COLUMN, 4.8), layout="constrained")
        top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=(3, 1.25))
        pplot.accuracy_vs_depth(ds, top, hue="variant")
        top.set_xlabel("")
        pplot.stalled_vs_depth(ds, bottom, hue="variant")
        legend_below(fig, top)
        panel_labels([top, bottom])
    return fig


def caption_accuracy_vs_depth(ds: xr.Dataset) -> str:
    cfg = config_of(ds)
    return deep.deep_caption(
        ds,
        f"Top: line: mean over {n_seeds(ds)} seed(s); dots: single seeds; band: "
        "min-max; runs nearer chance than the best are marked at the bottom edge with their "
        "accuracy; failed runs (run_status) have their own markers. Bottom: stalled layers "
        "(pcdiag.measures.stalled_layers), those that learn at no logged step: their "
        "relative update ||Δθ_l|| / ||θ_l|| exceeds what weight decay alone gives (lr x "
        "decay) by more than 2^-24 at none of them, so their weights moved only by weight "
        "decay or below float32 resolution; 'min-max of L' over seeds. '≥': a lower bound, "
        "because these data keep no per-t energies and AdamW's step does not shrink with "
        "the gradient, so a layer fed only by float32 rounding counts as learning. "
        f"T = {cfg.inference_steps} inference steps at every depth: 2 x the deepest "
        "network, so T >= 2L everywhere (PC's error front moves at most one layer per "
        "inference step, so layer 1 of an L-layer net gets no error before t = L - 1; in "
        f"float32 the front is slower still). {steps_text(ds)} iPC takes a weight step at "
        "every inference step (T per batch). BP does not use T or γ; its learning rate is "
        "the lines' shared one, not tuned. The remedies (μPC, ePC) are compared at their own "
        "published recipes in remedies_vs_depth.",
    )


def selected_text(ds: xr.Dataset, variant: str) -> str:
    """A line's selected steps over depth, e.g. '0.1 / 0.1 / 0.3' ('*' where no step had
    every seed ok)."""
    line = ds.sel(variant=variant)
    return " / ".join(f"{float(g):g}" + ("" if ok else "*") for g, ok in zip(
        line["selected_gamma"].values, line["selection_all_ok"].values))


def steps_text(ds: xr.Dataset) -> str:
    """How the lines' state steps were set: validated per depth, or one fixed γ."""
    if "selected_gamma" not in ds:
        return f"γ = {config_of(ds).gamma:g} for every line but BP."
    grid = ", ".join(f"{g:g}" for g in ds["gamma_grid"].values)
    lines = "; ".join(f"{describe_value(ds, 'variant', v)} {selected_text(ds, v)}"
                      for v in ds["variant"].values if str(v) != "bp")
    depths = " / ".join(str(int(x)) for x in ds["depth"].values)
    return (f"Each line but BP runs γ = {grid} per sample and is drawn, per depth, at the step "
            "its final validation accuracy picks (median over seeds, among the steps at which "
            "every seed's run_status is ok; '*': none was, the best median over all runs), on "
            f"the last {config_of(ds).validation_size} images of the training file, held out "
            f"of training; selected at L = {depths}: {lines}.")


def summary_accuracy_vs_depth(ds: xr.Dataset) -> str:
    summary = pplot.accuracy_summary(ds)
    mean = summary["mean"]
    seeds = n_seeds(ds)
    depths = [int(v) for v in ds["depth"].values]
    lines = [f"  test accuracy, mean over {seeds} seed(s), by depth:"]
    for v in ds["variant"].values:
        cells = ", ".join(f"{d}: {short_number(float(mean.sel(variant=v, depth=d)))}"
                          + pplot.failure_text(summary.sel(variant=v, depth=d)) for d in depths)
        lines.append(f"    {describe_value(ds, 'variant', v)}: {{{cells}}}")
    names = [str(v) for v in ds["variant"].values]
    if "pc" in names and "bp" in names:
        gap = mean.sel(variant="bp") - mean.sel(variant="pc")
        behind = [d for d in depths if float(gap.sel(depth=d)) >= 0.05]
        if behind:
            d = behind[0]
            lines.append(f"  PC first falls >= 5 points behind BP at depth {d} (PC "
                         f"{short_number(float(mean.sel(variant='pc', depth=d)))}, BP "
                         f"{short_number(float(mean.sel(variant='bp', depth=d)))})")
        else:
            lines.append(f"  PC stays within 5 points of BP up to depth {depths[-1]} (largest "
                         f"gap {short_number(float(gap.max()))})")
    stalled = measures.stalled_layers(ds)
    lower = measures.stalled_lower_bound(ds)
    for v in ds["variant"].values:
        cells = []
        for d in depths:
            f = stalled.sel(variant=v, depth=d)
            if np.nanmax(f.values, initial=0) > 0:
                low = lower.sel({k: x for k, x in dict(variant=v, depth=d).items()
                                 if k in lower.dims})
                cells.append(f"{d}: {stalled_text(f, low)} of {d}")
        if cells:
            lines.append(f"  {describe_value(ds, 'variant', v)} stalled layers (learn "
                         f"at no logged step, pcdiag.measures; min-max over seeds; '≥': a "
                         f"lower bound, no energies to check AdamW's layers): "
                         + ", ".join(cells))
    if "selected_gamma" in ds:
        lines.append("  " + steps_text(ds).split("; selected ")[-1].rstrip("."))
    if "difference" in ds:
        lines.append("  paired differences of final test accuracy (95% t interval; a line beats "
                     "another only where it excludes 0), by depth:")
        for c in ds["comparison"].values:
            d = ds.sel(comparison=c)
            cells = ", ".join(
                f"{x}: {float(d['difference'].sel(depth=x)):+.3f} "
                f"[{float(d['difference_low'].sel(depth=x)):+.3f}, "
                f"{float(d['difference_high'].sel(depth=x)):+.3f}]" for x in depths)
            lines.append(f"    {c}: {cells}")
    deepest = ", ".join(f"{describe_value(ds, 'variant', v)} "
                        f"{short_number(float(mean.sel(variant=v, depth=depths[-1])))}"
                        for v in ds["variant"].values)
    lines.append(f"  at the deepest depth {depths[-1]}: {deepest}")
    return "\n".join(lines)


ACCURACY_VS_DEPTH = Figure(
    name="accuracy_vs_depth",
    description="Test accuracy against depth (residual MLP) for PC, iPC and BP, each at "
                "its validated state step per depth, mean and min-max over seeds, and the "
                "stalled layers (learn at no logged step) below; T = 2 x the deepest depth.",
    sweeps=deep.accuracy_specs,
    data=_accuracy_data,
    plot=plot_accuracy_vs_depth,
    caption=caption_accuracy_vs_depth,
    summary=summary_accuracy_vs_depth,
)
