"""Deep networks: five figures on how the error signal decays with depth, and the remedies.

- ``accuracy_vs_depth``: test accuracy and frozen layers against depth for PC, iPC and BP;
- ``energy_propagation``: log10 energy over layer x inference iteration, PC beside each remedy;
- ``update_decay``: relative weight update against layer, one line per depth, with the fitted
  decay rate (decades per layer) in the legend;
- ``depth_gamma``: test accuracy over depth x gamma, and the decay rate against gamma;
- ``bp_alignment``: cosine between PC's and backprop's weight gradients against layer.

Sizes come from `DEEP_PROFILES` (pcdiag.figures.profiles: one `DeepProfile` per profile
name, so ``pcdiag figures --profile quick`` runs these at their quick size); a profile
without an entry there (a custom `Profile`) uses the quick entry's networks with its own data
size and seeds. Their sweeps carry the residual-MLP cost model (pcdiag.figures.cost:
`RESIDUAL_MLP`, measured on the reference machine as a function of depth and inference
steps). The networks, variants and remedies are described in pcdiag.figures.profiles.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import xarray as xr
from matplotlib.figure import Figure as MplFigure

import pcdiag.plot as pplot
from pcdiag import metrics
from pcdiag.figures.cost import RESIDUAL_MLP
from pcdiag.figures.experiments import SweepSpec, combine, config_of, conform, select, trim
from pcdiag.figures.layout import (
    ONE_COLUMN,
    TWO_COLUMNS,
    legend_below,
    new_figure,
    one_panel,
    short_number,
)
from pcdiag.figures.profiles import (
    DEEP_GAMMA,
    MOMENTUM_LR,
    MUPC_WEIGHT_LR,
    PRECISION,
    RECIPE_STATE_STEP,
    VARIANTS,
    DeepProfile,
    deep_profile,
    layer_sizes_of,
)
from pcdiag.figures.registry import Figure, register
from pcdiag.plot._style import convention, convention_long, final_fraction, range_text, style

# --------------------------------------------------------------------------- sweeps

#: The deep specs' name prefix (their store folders and lines of the estimate).
PREFIX = "deep-"


def variant_spec(profile, variant: str) -> SweepSpec:
    """One sweep per variant over depth x seed (depth: a program each; seeds: vmapped)."""
    d = deep_profile(profile)
    config = VARIANTS[variant].config(d.base())
    return SweepSpec.make(f"{PREFIX}{variant}", config, cost=RESIDUAL_MLP,
                          depth=d.depths, seed=d.seeds)


def remedy_spec(profile, remedy: str) -> SweepSpec:
    """The heatmap's runs: accuracy_vs_depth's sweep where it has them (pc), else the
    profile's seeds at the heatmap depth."""
    d = deep_profile(profile)
    if remedy in d.variants and d.remedy_config(remedy) == VARIANTS[remedy].config(
            d.base().replace(depth=d.heat_depth)):
        return variant_spec(d, remedy)
    return SweepSpec.make(f"{PREFIX}{remedy}", d.remedy_config(remedy), cost=RESIDUAL_MLP,
                          seed=d.seeds)


def align_spec(profile) -> SweepSpec:
    """PC with SGD-momentum weights and bp_alignment over depth x gamma x seed.

    Weight decay 0: with decay, a layer that gets no gradient still moves by lr x decay per
    step (a relative update of 1e-5 with momentum 0.9), a floor that hides the decay."""
    d = deep_profile(profile)
    config = d.base().replace(weight_optimizer="momentum", weight_lr=MOMENTUM_LR,
                              weight_decay=0.0, bp_alignment=True,
                              inference_steps=d.decay_steps, depth=max(d.decay_depths))
    return SweepSpec.make(f"{PREFIX}pc-momentum-align", config, cost=RESIDUAL_MLP,
                          depth=d.decay_depths, gamma=d.align_gammas, seed=d.seeds)


def _accuracy_specs(profile) -> dict[str, SweepSpec]:
    return {v: variant_spec(profile, v) for v in deep_profile(profile).variants}


def _energy_specs(profile) -> dict[str, SweepSpec]:
    return {r: remedy_spec(profile, r) for r in deep_profile(profile).remedies}


def _align_specs(profile) -> dict[str, SweepSpec]:
    return {"align": align_spec(profile)}


# --------------------------------------------------------------------------- data


def _describe_variants(ds: xr.Dataset, configs: Mapping[str, Any], texts: Mapping[str, str]
                       ) -> xr.Dataset:
    """Label the `variant` dim and add the coords that say what each variant ran."""
    names = [str(v) for v in ds["variant"].values]
    ds["variant"].attrs = {"long_name": "variant", "units": "1",
                           "comment": "network / learning-rule combination; its settings are "
                                      "the coords algorithm, parameterization, layer_precision, "
                                      "inference_steps, gamma, gamma_convention and weight_lr "
                                      "along variant"}
    coords = {
        "description": [texts[n] for n in names],
        "algorithm": [configs[n].algorithm for n in names],
        "parameterization": [configs[n].parameterization for n in names],
        "layer_precision": [configs[n].layer_precision or "none" for n in names],
        "inference_steps": [configs[n].inference_steps for n in names],
        "gamma": [configs[n].gamma for n in names],
        "gamma_convention": [configs[n].gamma_convention for n in names],
        "weight_lr": [configs[n].weight_lr for n in names],
    }
    ds = ds.assign_coords({k: ("variant", v) for k, v in coords.items()})
    for name in coords:
        ds[name].attrs = {"long_name": name.replace("_", " "), "units": "1",
                          "comment": f"config field {name!r} of each variant"
                          if name != "description" else "legend text of each variant"}
    ds["inference_steps"].attrs["long_name"] = "inference steps T"
    return ds


def _depth_attrs(ds: xr.Dataset) -> xr.Dataset:
    if "depth" in ds.dims:
        ds["depth"].attrs = {"long_name": "depth L (weight layers)", "units": "1",
                             "comment": "swept config field 'depth'"}
    return ds


def _accuracy_data(profile, results) -> xr.Dataset:
    d = deep_profile(profile)
    parts = {v: trim(results[v], keep_t=False) for v in d.variants}
    ds = combine(parts, "variant")
    configs = {v: VARIANTS[v].config(d.base()) for v in d.variants}
    texts = {v: VARIANTS[v].text + (f" (AdamW lr {MUPC_WEIGHT_LR:g})" if v == "mupc" else "")
             for v in d.variants}
    ds = _describe_variants(ds, configs, texts)
    ds.attrs["deep_profile"] = json.dumps(d.as_dict())
    return _depth_attrs(ds)


def _remedy_text(d: DeepProfile, remedy: str) -> str:
    step = {r: f"\nbatch-mean γ {g:g}" for r, g in RECIPE_STATE_STEP.items()}
    return {
        "pc": f"PC, T = {d.inference_steps}",
        "pc_more_steps": f"PC, T = {d.more_steps}",
        "epc": f"ePC, T = {d.inference_steps}{step['epc']}",
        "mupc": f"μPC, T = {d.inference_steps}{step['mupc']}",
        "precision": f"PC + precision\n{PRECISION.replace(':', ' ')}, T = {d.inference_steps}",
    }[remedy]


def _energy_data(profile, results) -> xr.Dataset:
    d = deep_profile(profile)
    parts = {}
    for remedy in d.remedies:
        part = results[remedy]
        if "depth" in part.dims:
            part = select(part, depth=d.heat_depth)
        parts[remedy] = conform(part.isel(layer=slice(0, d.heat_depth)))
    longest = max(int(p.sizes["t"]) for p in parts.values())
    parts = {r: p.reindex(t=np.arange(longest)) for r, p in parts.items()}  # NaN past own T
    ds = combine(parts, "variant")
    configs = {r: d.remedy_config(r) for r in d.remedies}
    texts = {r: _remedy_text(d, r) for r in d.remedies}
    ds = _describe_variants(ds, configs, texts)
    ds.attrs["config"] = configs[d.remedies[0]].to_json()
    ds.attrs["deep_profile"] = json.dumps(d.as_dict())
    return ds


def _update_data(profile, results) -> xr.Dataset:
    ds = trim(select(results["align"], gamma=DEEP_GAMMA), keep_t=False)
    ds.attrs["deep_profile"] = json.dumps(deep_profile(profile).as_dict())
    return _depth_attrs(ds)


def _align_data(profile, results) -> xr.Dataset:
    d = deep_profile(profile)
    ds = trim(results["align"], keep_t=False).sel(gamma=list(d.bp_gammas))
    ds.attrs["deep_profile"] = json.dumps(d.as_dict())
    return _depth_attrs(conform(ds))


def _depth_gamma_data(profile, results) -> xr.Dataset:
    ds = trim(results["align"], keep_t=False).drop_vars("bp_cosine", errors="ignore")
    ds.attrs["deep_profile"] = json.dumps(deep_profile(profile).as_dict())
    return _depth_attrs(ds)


# --------------------------------------------------------------------------- plots


def plot_accuracy_vs_depth(ds: xr.Dataset) -> MplFigure:
    with style():
        fig = MplFigure(figsize=(ONE_COLUMN, 4.8), layout="constrained")
        top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=(3, 1.25))
        pplot.accuracy_vs_depth(ds, top, hue="variant")
        top.set_xlabel("")
        pplot.frozen_vs_depth(ds, bottom, hue="variant")
        legend_below(fig, top)
        fig.suptitle("Test accuracy and frozen layers vs depth")
    return fig


def plot_energy_propagation(ds: xr.Dataset) -> MplFigure:
    cfg = config_of(ds)
    n = ds.sizes["variant"]
    numbers = energy_numbers(ds)
    with style():
        fig = MplFigure(figsize=(TWO_COLUMNS, 3.1), layout="constrained")
        axes = fig.subplots(1, n, squeeze=False, sharey=True)[0]
        pplot.energy_propagation(ds, axes, dim="variant")
        for ax, v in zip(axes, ds["variant"].values):
            got = numbers[str(v)]
            ax.set_title(f"{ax.get_title(loc='left')}\nreached at T: "
                         f"{got['reached']}/{cfg.depth}", loc="left")
        if set(ds["gamma_convention"].values) != {"per_sample"}:
            fig.legends[0].set_title("γ convention: per-sample unless 'batch-mean'")
        fig.suptitle(r"Where the energy reaches: $\log_{10} E_\ell$ over layer and inference "
                     f"iteration, depth {cfg.depth}")
    return fig


def plot_update_decay(ds: xr.Dataset) -> MplFigure:
    return one_panel(ds, lambda d, ax: pplot.relative_update_vs_layer(d, ax, hue="depth"),
                     "Relative weight update per layer (PC)", size=(ONE_COLUMN, 3.6))


def plot_depth_gamma(ds: xr.Dataset) -> MplFigure:
    with style():
        fig, (left, right) = new_figure(2, TWO_COLUMNS, 3.0)
        pplot.accuracy_heatmap(ds, left)
        pplot.decay_rate_vs_gamma(ds, right)
        fig.colorbar(left.collections[0], ax=left, fraction=0.05, pad=0.02,
                     label="mean test accuracy")
        fig.suptitle("Depth × γ: test accuracy, and how fast the weight update decays towards "
                     "the input (PC)")
    return fig


def plot_bp_alignment(ds: xr.Dataset) -> MplFigure:
    gammas = list(ds["gamma"].values)
    with style():
        fig, axes = new_figure(len(gammas), TWO_COLUMNS, 2.6)
        for ax in axes[1:]:
            ax.sharey(axes[0])
        for ax, gamma in zip(axes, gammas):
            pplot.bp_cosine_vs_layer(select(ds, gamma=gamma), ax, hue="depth")
            ax.set_title(f"γ = {gamma:g}\n{convention(ds)}", loc="left")
        for ax in axes[1:]:
            ax.set_ylabel("")
            if ax.get_legend() is not None:
                ax.get_legend().remove()
        legend = axes[0].get_legend()
        if legend is not None:  # under the figure: no room in a panel without hiding lines
            legend.set_title(f"depth (no-gradient layers at γ = {gammas[0]:g})")
            legend_below(fig, axes[0], ncols=3)
        drawn = pplot.depth.final_median(ds["bp_cosine"], ds, 0.2)
        low = float(drawn.min()) if bool(drawn.notnull().any()) else 0.0
        axes[0].set_ylim(min(-0.05, low - 0.05), 1.05)  # shared: every panel's lowest point
        fig.suptitle("Alignment of PC weight gradients with backprop, by layer")
    return fig


# --------------------------------------------------------------------------- captions
# the settings and reading notes, kept outside the image (Figure.caption)


def deep_caption(ds: xr.Dataset, *lines: str) -> str:
    """The residual MLP's settings (convention, network, optimizers), then `lines`."""
    cfg = config_of(ds)
    depth = "L" if "depth" in ds.dims else str(cfg.depth)
    weights = (f"AdamW lr {cfg.weight_lr:g}" if cfg.weight_optimizer == "adamw"
               else f"{cfg.weight_optimizer} (momentum {cfg.momentum:g}) lr {cfg.weight_lr:g}")
    sizes = layer_sizes_of(cfg)
    head = [
        f"{convention_long(ds)}. Energies at t = T are read after the T-th state update.",
        f"Residual MLP [{sizes[0]}, {cfg.width} x ({depth} - 1), {sizes[-1]}] (identity skips "
        f"around every hidden layer but the first and last), {cfg.activation}, "
        f"{cfg.output_energy} output energy, forward initialisation, states: plain SGD, batch "
        f"{cfg.batch_size}, {cfg.n_train} {cfg.dataset} training images, {cfg.epochs} epoch"
        f"{'s' if cfg.epochs > 1 else ''}; weights {weights}, weight decay "
        f"{cfg.weight_decay:g}.",
    ]
    return "\n".join(head + [line for line in lines if line])


def caption_accuracy_vs_depth(ds: xr.Dataset) -> str:
    cfg = config_of(ds)
    return deep_caption(
        ds,
        f"Top: line: mean over {ds.sizes.get('seed', 1)} seed(s); dots: single seeds; band: "
        "min-max; runs nearer chance than the best are marked at the bottom edge with their "
        "accuracy; failed runs (run_status) have their own markers. Bottom: frozen layers, "
        "those whose weight gradient is exactly 0 at every logged step (the error never "
        "reached them; they move only by weight decay), with 'min-max of L' over seeds. "
        f"T = {cfg.inference_steps} inference steps at every depth: 2 x the deepest "
        "network, so T >= 2L everywhere (PC's error front moves at most one layer per "
        "inference step, so layer 1 of an L-layer net gets no error before t = L - 1; in "
        f"float32 the front is slower still). γ = {cfg.gamma:g} for PC and iPC; iPC takes "
        "a weight step at every inference step (T per batch). BP does not use T or γ. The "
        "remedies (μPC, ePC) are compared at their own published recipes in "
        "remedies_vs_depth.",
    )


def caption_energy_propagation(ds: xr.Dataset) -> str:
    return deep_caption(
        ds,
        f"Each panel: mean over {ds.sizes.get('seed', 1)} seed(s) and the last 10% of logged "
        f"training steps; shared colour scale over the top {pplot.depth.HEATMAP_DECADES} "
        "decades (lower energies in the colour bar's 'under' colour); grey: energy exactly 0 "
        "in every seed (the error signal has not arrived); 'reached at t = T' counts the "
        "layers with non-zero energy at the last iteration. Remedies: more inference steps; "
        "ePC (states x_l = mu_l + e_l, inference on the errors) and μPC (parameterization "
        f"'mupc', AdamW lr {MUPC_WEIGHT_LR:g}) with their published state step (SGD lr "
        f"{RECIPE_STATE_STEP['epc']:g} on the batch-mean energy, as in jpc's examples), not "
        f"PC's; layer precision {PRECISION} (pi_l = 0.5^(L-l): lower layers weigh less, so "
        f"the energy recorded there is pi_l E_l). PC: γ = {DEEP_GAMMA:g} per sample; AdamW "
        "lr 1e-3 unless stated.",
    )


def caption_update_decay(ds: xr.Dataset) -> str:
    cfg = config_of(ds)
    return deep_caption(
        ds,
        f"γ = {cfg.gamma:g}, T = {cfg.inference_steps} at every depth (2 x the deepest). "
        "Decay rate: minus the least-squares slope of log10 ||Δθ_l|| / ||θ_l|| against "
        "the distance from the output L - l, fitted to the non-zero medians drawn "
        "(pcdiag.metrics.update_decay_rate); layers whose update is exactly 0 (the error "
        "never reached them) are listed in the legend. SGD with momentum, not AdamW: AdamW "
        "normalises each layer's update, which hides the decay (its fitted rate is ~0); "
        "weight decay 0, else a layer without gradient still moves by lr x decay, a floor "
        f"of ~1e-5. Median over the final steps and {ds.sizes.get('seed', 1)} seed(s); the "
        "rate in the legend is the mean of the seeds' fitted rates.",
    )


def caption_depth_gamma(ds: xr.Dataset) -> str:
    cfg = config_of(ds)
    return deep_caption(
        ds,
        f"Left: test accuracy, mean over {ds.sizes.get('seed', 1)} seed(s), in each cell "
        "with the mean number of frozen layers (weight gradient exactly 0 at every logged "
        "step) where any froze; hatched: a run failed (run_status), with the count. Right: "
        "the relative-update decay rate (as in update_decay: minus the slope of log10 "
        "||Δθ_l|| / ||θ_l|| against L - l, median over the final 20% of logged steps, fitted "
        "to the layers that moved), line: mean over seeds, dots: seeds; a rate near 0 means "
        "every layer learns at the same relative speed. Same runs as update_decay and "
        f"bp_alignment: SGD-momentum weights, weight decay 0, T = {cfg.inference_steps} at "
        "every depth.",
    )


def _final_steps(ds: xr.Dataset) -> int:
    return final_fraction(ds[["bp_cosine"]], 0.2).sizes["step"]


def caption_bp_alignment(ds: xr.Dataset) -> str:
    cfg = config_of(ds)
    return deep_caption(
        ds,
        "bp_cosine: cosine between the gradient PC's weight optimizer receives for layer l "
        "and the backprop gradient of the output loss, same weights and batch; median over "
        f"the final 20% of logged steps (the last {_final_steps(ds)} logged steps), "
        f"{ds.sizes.get('seed', 1)} seed(s). "
        f"T = {cfg.inference_steps} at every depth. NaN (no point) where the PC gradient is "
        "exactly 0: the error never reached the layer.",
    )


# --------------------------------------------------------------------------- summaries


def summary_accuracy_vs_depth(ds: xr.Dataset) -> str:
    summary = pplot.accuracy_summary(ds)
    mean = summary["mean"]
    seeds = ds.sizes.get("seed", 1)
    depths = [int(v) for v in ds["depth"].values]
    lines = [f"  test accuracy, mean over {seeds} seed(s), by depth:"]
    for v in ds["variant"].values:
        cells = ", ".join(f"{d}: {short_number(float(mean.sel(variant=v, depth=d)))}"
                          + pplot.failure_text(summary.sel(variant=v, depth=d)) for d in depths)
        lines.append(f"    {pplot.depth.describe(ds, 'variant', v)}: {{{cells}}}")
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
    frozen = metrics.frozen_layers(ds)
    for v in ds["variant"].values:
        cells = []
        for d in depths:
            f = frozen.sel(variant=v, depth=d).values
            if np.nanmax(f, initial=0) > 0:
                cells.append(f"{d}: {range_text(f)} of {d}")
        if cells:
            lines.append(f"  {pplot.depth.describe(ds, 'variant', v)} frozen layers (weight "
                         f"gradient exactly 0 at every logged step; min-max over seeds): "
                         + ", ".join(cells))
    deepest = ", ".join(f"{pplot.depth.describe(ds, 'variant', v)} "
                        f"{short_number(float(mean.sel(variant=v, depth=depths[-1])))}"
                        for v in ds["variant"].values)
    lines.append(f"  at the deepest depth {depths[-1]}: {deepest}")
    return "\n".join(lines)


def energy_numbers(ds: xr.Dataset, final: float = 0.1) -> dict[str, dict[str, float]]:
    """Per variant (energies: mean over seeds and the final steps): E_1 and E_L at t = T, the
    first t where E_1 > 0, the energy decay rate at t = T (decades per layer, fitted over the
    layers with non-zero energy; mean over seeds and steps), the layers with E_l > 0 at t = T
    ('reached')."""
    out = {}
    for v in ds["variant"].values:
        part = ds.sel(variant=v)
        steps = int(part["inference_steps"])
        part = part.isel(t=slice(0, steps + 1))
        energy = pplot.depth.final_energy(part, final)
        e1 = energy.isel(layer=0)
        reached = np.flatnonzero(e1.values > 0)
        tail = final_fraction(part, final)
        rate = metrics.energy_decay_rate(tail)["rate"].mean()
        last = energy.isel(t=-1)
        out[str(v)] = {
            "E1": float(e1.isel(t=-1)), "EL": float(energy.isel(layer=-1, t=-1)),
            "first_t": float(energy["t"].values[reached[0]]) if reached.size else math.nan,
            "rate": float(rate), "T": steps,
            "reached": int((last > 0).sum()),
        }
    return out


def summary_energy_propagation(ds: xr.Dataset) -> str:
    cfg = config_of(ds)
    seeds = ds.sizes.get("seed", 1)
    lines = [f"  depth {cfg.depth}, mean over {seeds} seed(s) and the last 10% of logged steps:"]
    for v, n in energy_numbers(ds).items():
        first = (f"layer 1 first non-zero at t = {int(n['first_t'])}" if np.isfinite(n["first_t"])
                 else f"layer 1 never reached in T = {n['T']}")
        first += f"; {n['reached']} of {cfg.depth} layers reached at t = T"
        text = pplot.depth.describe(ds, 'variant', v).replace("\n", ", ")
        lines.append(f"    {text}: "
                     f"E_1(T) = {short_number(n['E1'])}, "
                     f"E_L(T) = {short_number(n['EL'])}, {first}; energy decay rate at t = T "
                     f"{short_number(n['rate'])} decades/layer")
    return "\n".join(lines)


def summary_update_decay(ds: xr.Dataset) -> str:
    rate = pplot.depth.update_rates(ds)
    rel = metrics.relative_update(ds)
    median = final_fraction(rel.to_dataset(name="r"), 0.2)["r"]
    median = median.median([d for d in ("seed", "step") if d in median.dims])
    cells = []
    for depth in ds["depth"].values:
        m = median.sel(depth=depth)
        top, bottom = float(m.sel(layer=int(depth))), float(m.sel(layer=1))
        still = m["layer"].values[(m == 0).values]
        zero = f"; layers {pplot.depth._ranges(still)} did not move" if still.size else ""
        cells.append(f"L = {int(depth)}: {short_number(float(rate.sel(depth=depth)))} "
                     "decades/layer "
                     f"(layer 1 {short_number(bottom)}, layer L {short_number(top)}{zero})")
    return "  relative-update decay rate (median over the final 20% of steps): " + "; ".join(
        cells)


def summary_depth_gamma(ds: xr.Dataset) -> str:
    summary = pplot.accuracy_summary(ds)
    frozen = metrics.frozen_layers(ds).mean("seed", skipna=True)
    n_final = final_fraction(ds[["update_norm"]], 0.2).sizes["step"]
    rate = metrics.update_decay_rate(ds, last_steps=n_final).mean("seed", skipna=True)
    lines = [f"  test accuracy (mean over {ds.sizes.get('seed', 1)} seeds) [frozen layers] "
             "decay rate in decades/layer, by depth and γ:"]
    for depth in ds["depth"].values:
        cells = []
        for gamma in ds["gamma"].values:
            at = dict(depth=depth, gamma=gamma)
            point = summary.sel(at)
            f = float(frozen.sel(at))
            cells.append(f"γ {gamma:g}: {short_number(float(point['mean']))}"
                         + (f" [{f:.3g} frozen]" if f > 0 else "")
                         + f" {short_number(float(rate.sel(at)), 2)}"
                         + pplot.failure_text(point))
        lines.append(f"    L = {int(depth)}: " + "; ".join(cells))
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


# --------------------------------------------------------------------------- registration

FIGURES_HERE = tuple(register(figure) for figure in (
    Figure(
        name="accuracy_vs_depth",
        description="Test accuracy against depth (residual MLP) for PC, iPC and BP, mean and "
                    "min-max over seeds, and the frozen layers (weight gradient exactly 0) "
                    "below; T = 2 x the deepest depth.",
        sweeps=_accuracy_specs,
        data=_accuracy_data,
        plot=plot_accuracy_vs_depth,
        caption=caption_accuracy_vs_depth,
        summary=summary_accuracy_vs_depth,
    ),
    Figure(
        name="energy_propagation",
        description="log10 energy over layer x inference iteration for a deep network: "
                    "standard PC beside more inference steps, ePC and muPC (their own state "
                    "step), and layer precision; shared colour scale, zero energy (not "
                    "reached) in grey, layers reached at t = T in the titles.",
        sweeps=_energy_specs,
        data=_energy_data,
        plot=plot_energy_propagation,
        caption=caption_energy_propagation,
        summary=summary_energy_propagation,
    ),
    Figure(
        name="update_decay",
        description="Relative weight update against layer (log), one line per depth, fitted "
                    "decay rate in decades per layer; PC with SGD-momentum weights.",
        sweeps=_align_specs,
        data=_update_data,
        plot=plot_update_decay,
        caption=caption_update_decay,
        summary=summary_update_decay,
    ),
    Figure(
        name="depth_gamma",
        description="Depth x gamma: mean test accuracy heatmap (frozen layers and failed runs "
                    "in the cells) and the relative-update decay rate against gamma, one line "
                    "per depth; PC with SGD-momentum weights.",
        sweeps=_align_specs,
        data=_depth_gamma_data,
        plot=plot_depth_gamma,
        caption=caption_depth_gamma,
        summary=summary_depth_gamma,
    ),
    Figure(
        name="bp_alignment",
        description="Cosine between PC's and backprop's weight gradients against layer, one "
                    "line per depth, one panel per gamma; SGD-momentum weights.",
        sweeps=_align_specs,
        data=_align_data,
        plot=plot_bp_alignment,
        caption=caption_bp_alignment,
        summary=summary_bp_alignment,
    ),
))
FIGURE_NAMES = tuple(figure.name for figure in FIGURES_HERE)
