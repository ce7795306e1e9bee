"""Deep networks: five figures on how the error signal decays with depth, and the remedies.

- ``accuracy_vs_depth``: test accuracy and stalled layers against depth for PC, iPC and BP;
- ``energy_propagation``: log10 energy over layer x inference iteration, PC beside each remedy;
- ``update_decay``: relative weight update against layer, one line per depth, with the
  profile's shape and, where it is monotone, its decay rate (decades per layer) in the legend;
- ``depth_gamma``: test accuracy over depth x gamma, and the decay rate against gamma;

Every count and profile is pcdiag.measures' (reached, layers_reached, reached_at, stalled,
stalled_layers, energy_profile, update_profile): no figure keeps a definition of its own.
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
from pcdiag import measures
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
        pplot.stalled_vs_depth(ds, bottom, hue="variant")
        legend_below(fig, top)
        fig.suptitle("Test accuracy and stalled layers vs depth")
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


def caption_energy_propagation(ds: xr.Dataset) -> str:
    return deep_caption(
        ds,
        f"Each panel: mean over {ds.sizes.get('seed', 1)} seed(s) and the last 10% of logged "
        f"training steps; shared colour scale over the top {pplot.depth.HEATMAP_DECADES} "
        "decades (lower energies in the colour bar's 'under' colour); grey: not reached "
        "(pcdiag.measures.reached is 0 in every seed and averaged step: E_l(t) <= max(2 "
        "E_l(0), 2^-24 F(t)), no more than the node's float32 rounding at forward "
        "initialisation, where E_l(0) is 0 in exact arithmetic, and below the float32 "
        "resolution of the total energy F); 'reached at T' counts the layers reached at "
        "t = T of the last logged step (pcdiag.measures.layers_reached), the seeds' range. "
        "Remedies: more inference steps; "
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
        "Profile (pcdiag.measures.update_profile): each seed's median of ||Δθ_l|| / "
        "||θ_l|| over the last 25% of logged steps; drawn: its median over "
        f"{ds.sizes.get('seed', 1)} seed(s). The legend names each profile's shape over "
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
    return deep_caption(
        ds,
        f"Left: test accuracy, mean over {ds.sizes.get('seed', 1)} seed(s), in each cell "
        "with the stalled layers (pcdiag.measures.stalled_layers: layers that learn at no "
        "logged step, relative update never above 2^-24; the seeds' range) where any "
        "stalled; hatched: a run failed (run_status), with the count. Right: the "
        "relative-update decay rate (as in update_decay: pcdiag.measures.update_profile, "
        "each seed's median over the last 25% of logged steps; minus the slope of log10 "
        "against L - l), only where the profile is monotone; line: mean over seeds, dots: "
        "seeds. A profile that is not monotone has no rate; its shape is drawn at the foot "
        "of the panel instead (U: U-shaped), one row per depth. Same runs as update_decay and "
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
        "exactly 0 (no error at all arrived there), listed in the legend.",
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
    stalled = measures.stalled_layers(ds)
    lower = measures.stalled_lower_bound(ds)
    for v in ds["variant"].values:
        cells = []
        for d in depths:
            f = stalled.sel(variant=v, depth=d)
            if np.nanmax(f.values, initial=0) > 0:
                low = lower.sel({k: x for k, x in dict(variant=v, depth=d).items()
                                 if k in lower.dims})
                cells.append(f"{d}: {pplot.depth.stalled_text(ds, f, low)} of {d}")
        if cells:
            lines.append(f"  {pplot.depth.describe(ds, 'variant', v)} stalled layers (learn "
                         f"at no logged step, pcdiag.measures; min-max over seeds; '≥': a "
                         f"lower bound, no energies to check AdamW's layers): "
                         + ", ".join(cells))
    deepest = ", ".join(f"{pplot.depth.describe(ds, 'variant', v)} "
                        f"{short_number(float(mean.sel(variant=v, depth=depths[-1])))}"
                        for v in ds["variant"].values)
    lines.append(f"  at the deepest depth {depths[-1]}: {deepest}")
    return "\n".join(lines)


def energy_numbers(ds: xr.Dataset, final: float = 0.1) -> dict[str, dict]:
    """Per variant: E_1 and E_L at t = T as drawn (mean over seeds and the final steps); from
    pcdiag.measures, the seeds' range of the first t at which layer 1 is reached
    (`reached_at`, last logged step; '' where no seed reaches it by T), of the layers reached
    at t = T (`layers_reached`), and the energy profile at T (`energy_profile`: its shape and
    the mean of the seeds' decay rates where it is monotone, NaN otherwise)."""
    reached = measures.layers_reached(ds)
    first = measures.reached_at(ds).sel(layer=1).isel(step=-1)
    profiles = measures.energy_profile(ds)
    out = {}
    for v in ds["variant"].values:
        part = ds.sel(variant=v)
        steps = int(part["inference_steps"])
        energy = pplot.depth.final_energy(part.isel(t=slice(0, steps + 1)), final)
        profile = profiles.sel(variant=v)
        out[str(v)] = {
            "E1": float(energy.isel(layer=0, t=-1)), "EL": float(energy.isel(layer=-1, t=-1)),
            "first_t": range_text(first.sel(variant=v).values), "T": steps,
            "reached": range_text(reached.sel(variant=v).values),
            "rate": float(profile["rate"].mean(skipna=True)) if bool(
                profile["rate"].notnull().any()) else math.nan,
            "profile": pplot.depth.profile_text(profile),
        }
    return out


def summary_energy_propagation(ds: xr.Dataset) -> str:
    cfg = config_of(ds)
    seeds = ds.sizes.get("seed", 1)
    lines = [f"  depth {cfg.depth}, {seeds} seed(s); E: mean over seeds and the last 10% of "
             "logged steps; reached (pcdiag.measures): seeds' range at the last logged step; "
             "energy profile at T: late 25% of steps:"]
    for v, n in energy_numbers(ds).items():
        first = (f"layer 1 first reached at t = {n['first_t']}" if n["first_t"]
                 else f"layer 1 not reached by T = {n['T']}")
        first += f"; {n['reached']} of {cfg.depth} layers reached at t = T"
        text = pplot.depth.describe(ds, 'variant', v).replace("\n", ", ")
        lines.append(f"    {text}: "
                     f"E_1(T) = {short_number(n['E1'])}, "
                     f"E_L(T) = {short_number(n['EL'])}, {first}; energy profile at T "
                     f"{n['profile']}")
    return "\n".join(lines)


def summary_update_decay(ds: xr.Dataset) -> str:
    profiles = measures.update_profile(ds)
    median = profiles["profile"].median("seed", skipna=True)
    stalled = measures.stalled(ds)
    cells = []
    for depth in ds["depth"].values:
        m = median.sel(depth=depth)
        top, bottom = float(m.sel(layer=int(depth))), float(m.sel(layer=1))
        still = pplot.depth.stalled_layers_text(stalled.sel(depth=depth))
        cells.append(f"L = {int(depth)}: {pplot.depth.profile_text(profiles.sel(depth=depth))} "
                     f"(layer 1 {short_number(bottom)}, layer L {short_number(top)}; "
                     + (f"layers {still} stalled" if still else "no layer stalled") + ")")
    return ("  relative-update profile (pcdiag.measures.update_profile: median over the last "
            "25% of steps, then over seeds; rate only where monotone): " + "; ".join(cells))


def summary_depth_gamma(ds: xr.Dataset) -> str:
    summary = pplot.accuracy_summary(ds)
    stalled = measures.stalled_layers(ds)
    lower = measures.stalled_lower_bound(ds)
    profiles = measures.update_profile(ds)
    lines = [f"  test accuracy (mean over {ds.sizes.get('seed', 1)} seeds) [stalled layers, "
             "seeds' range] update profile: shape, decay rate in decades/layer where "
             "monotone, by depth and γ:"]
    for depth in ds["depth"].values:
        cells = []
        for gamma in ds["gamma"].values:
            at = dict(depth=depth, gamma=gamma)
            point = summary.sel(at)
            f = stalled.sel(at)
            low = lower.sel({k: v for k, v in at.items() if k in lower.dims})
            count = (f" [{pplot.depth.stalled_text(ds, f, low)} stalled]"
                     if np.nanmax(f.values, initial=0) > 0 else "")
            cells.append(f"γ {gamma:g}: {short_number(float(point['mean']))}{count} "
                         f"{pplot.depth.profile_text(profiles.sel(at))}"
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
                    "min-max over seeds, and the stalled layers (learn at no logged step) "
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
                    "step), and layer precision; shared colour scale, nodes not reached "
                    "(float32 rounding only) in grey, layers reached at t = T in the titles.",
        sweeps=_energy_specs,
        data=_energy_data,
        plot=plot_energy_propagation,
        caption=caption_energy_propagation,
        summary=summary_energy_propagation,
    ),
    Figure(
        name="update_decay",
        description="Relative weight update against layer (log), one line per depth, the "
                    "profile's shape and, where monotone, its decay rate in decades per "
                    "layer; stalled layers hollow; PC with SGD-momentum weights.",
        sweeps=_align_specs,
        data=_update_data,
        plot=plot_update_decay,
        caption=caption_update_decay,
        summary=summary_update_decay,
    ),
    Figure(
        name="depth_gamma",
        description="Depth x gamma: mean test accuracy heatmap (stalled layers and failed "
                    "runs in the cells) and the relative-update decay rate against gamma "
                    "where the profile is monotone (its shape otherwise), one line per depth; "
                    "PC with SGD-momentum weights.",
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
