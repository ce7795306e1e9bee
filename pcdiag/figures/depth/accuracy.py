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
from pcdiag.figures.experiments import combine, config_of, trim
from pcdiag.figures.layout import ONE_COLUMN, legend_below, short_number
from pcdiag.figures.registry import Figure
from pcdiag.plot.depth import stalled_text
from pcdiag.plot.styling import describe as describe_value
from pcdiag.plot.styling import panel_labels, style


def _accuracy_data(profile, results) -> xr.Dataset:
    d = deep.deep_profile(profile)
    parts = {v: trim(results[v], keep_t=False) for v in d.variants}
    ds = combine(parts, "variant")
    configs = {v: deep.VARIANTS[v].config(d.base()) for v in d.variants}
    texts = {v: deep.VARIANTS[v].text
             + (f" (AdamW lr {deep.MUPC_WEIGHT_LR:g})" if v == "mupc" else "")
             for v in d.variants}
    ds = deep.describe_variants(ds, configs, texts)
    ds.attrs["deep_profile"] = d.to_json()
    return deep.depth_attrs(ds)


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
        f"float32 the front is slower still). γ = {cfg.gamma:g} for PC and iPC; iPC takes "
        "a weight step at every inference step (T per batch). BP does not use T or γ. The "
        "remedies (μPC, ePC) are compared at their own published recipes in "
        "remedies_vs_depth.",
    )


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
    deepest = ", ".join(f"{describe_value(ds, 'variant', v)} "
                        f"{short_number(float(mean.sel(variant=v, depth=depths[-1])))}"
                        for v in ds["variant"].values)
    lines.append(f"  at the deepest depth {depths[-1]}: {deepest}")
    return "\n".join(lines)


ACCURACY_VS_DEPTH = Figure(
    name="accuracy_vs_depth",
    description="Test accuracy against depth (residual MLP) for PC, iPC and BP, mean and "
                "min-max over seeds, and the stalled layers (learn at no logged step) "
                "below; T = 2 x the deepest depth.",
    sweeps=deep.accuracy_specs,
    data=_accuracy_data,
    plot=plot_accuracy_vs_depth,
    caption=caption_accuracy_vs_depth,
    summary=summary_accuracy_vs_depth,
)
