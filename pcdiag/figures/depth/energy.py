"""``energy_propagation``: log10 energy over layer x inference iteration, PC beside each
remedy (more inference steps, ePC, muPC, layer precision), at the heatmap depth."""

from __future__ import annotations

import math

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
    conform,
    keep,
    late_per_t,
    select,
    with_step_grid,
)
from pcdiag.figures.layout import TWO_COLUMNS, name_panels, short_number
from pcdiag.figures.registry import Figure
from pcdiag.plot.heatmap import HEATMAP_DECADES, final_energy
from pcdiag.plot.layers import profile_text
from pcdiag.plot.styling import PANEL_LETTERS, range_text, style
from pcdiag.plot.styling import describe as describe_value
from pcdiag.selection import at_best_gamma
from pcdiag.table1.stats import paired_interval

#: The name of a panel at a remedy's published step (beside the same remedy at its validated
#: step): the remedy's name plus this suffix.
RECIPE_SUFFIX = "_recipe"


def _remedy_text(d: deep.DeepProfile, remedy: str, config) -> str:
    """A panel's description: what ran, its T and its state step (per sample)."""
    name = remedy.removesuffix(RECIPE_SUFFIX)
    which = " (recipe)" if remedy.endswith(RECIPE_SUFFIX) else ""
    text = {
        "pc": "PC", "pc_more_steps": "PC", "epc": "ePC", "mupc": "μPC",
        "precision": f"PC + precision {deep.PRECISION.replace(':', ' ')}",
    }[name]
    return f"{text}, T = {config.inference_steps}\nγ {config.gamma:g}{which}"


def _energy_data(profile, results) -> xr.Dataset:
    d = deep.deep_profile(profile)
    parts, configs, all_ok, grid = {}, {}, {}, {}
    for remedy in d.remedies:
        runs = results[remedy]
        if "depth" in runs.dims:
            runs = select(runs, depth=d.heat_depth)
        default = deep.RECIPE_STATE_STEP.get(remedy, deep.DEEP_GAMMA)
        parts[remedy], step, all_ok[remedy] = at_best_gamma(runs, default)
        configs[remedy] = d.remedy_config(remedy)
        if math.isfinite(step):
            configs[remedy] = configs[remedy].replace(gamma=step)
        grid[remedy] = (runs["validation_accuracy"].isel(epoch=-1, drop=True)
                        if "gamma" in runs.dims else None)
    for remedy, recipe in deep.RECIPE_STATE_STEP.items():  # the published step, where not chosen
        if remedy in parts and grid[remedy] is not None and configs[remedy].gamma != recipe \
                and recipe in results[remedy]["gamma"].values:
            name = remedy + RECIPE_SUFFIX
            parts[name] = results[remedy].sel(gamma=recipe, drop=True)
            configs[name] = configs[remedy].replace(gamma=recipe)
            all_ok[name], grid[name] = True, None
    parts = {r: conform(p.isel(layer=slice(0, d.heat_depth))) for r, p in parts.items()}
    longest = max(int(p.sizes["t"]) for p in parts.values())
    parts = {r: p.reindex(t=np.arange(longest)) for r, p in parts.items()}  # NaN past own T
    ds = combine(parts, "variant")
    texts = {r: _remedy_text(d, r, configs[r]) for r in parts}
    ds = deep.describe_variants(ds, configs, texts)
    ds["gamma"].attrs = {"long_name": "state step γ (per sample)", "units": "1",
                         "comment": "each panel's step: the one of gamma_grid its final "
                                    "validation accuracy picks (selection_all_ok), or the "
                                    "remedy's published step (variants *_recipe)"}
    ds = with_step_grid(ds, ("variant",), all_ok, grid, d.heat_gammas, d.validation_size,
                        "panel")
    ds.attrs["config"] = configs[d.remedies[0]].to_json()
    ds.attrs["deep_profile"] = d.to_json()
    return lean_energy_data(ds)


#: What energy_propagation's .nc keeps (and the runs' status): the heatmap's energies, what
#: pcdiag.measures reads for its titles and README numbers (reached, stalled, the energy
#: profile), and the losses and accuracies the README quotes.
ENERGY_VARS = ("energy", "energy_total", "weight_norm", "update_norm", "train_loss",
               "train_accuracy", "test_accuracy", "validation_accuracy", "selection_all_ok",
               "step_validation_accuracy")


def lean_energy_data(ds: xr.Dataset) -> xr.Dataset:
    """energy_propagation's data as saved: ENERGY_VARS, the per-t energies only where they
    are read (late_per_t); also applied to the committed file by dev/lean_figure_data.py."""
    return late_per_t(keep(ds, *ENERGY_VARS))


def plot_energy_propagation(ds: xr.Dataset) -> MplFigure:
    """One row of panels at the validated steps; a panel at a remedy's published step (where
    drawn) sits under that remedy's, in a second row."""
    variants = [str(v) for v in ds["variant"].values]
    main = [v for v in variants if not v.endswith(RECIPE_SUFFIX)]
    extra = [v for v in variants if v.endswith(RECIPE_SUFFIX)]
    with style():
        fig = MplFigure(figsize=(TWO_COLUMNS, 5.6 if extra else 3.1), layout="constrained")
        grid = fig.subplots(2 if extra else 1, len(main), squeeze=False, sharey=True)
        axes = list(grid[0]) + [grid[1][main.index(v.removesuffix(RECIPE_SUFFIX))]
                                for v in extra]
        for ax in grid[1:].flat:
            if not any(ax is used for used in axes):
                ax.remove()
        pplot.energy_propagation(ds.sel(variant=main + extra), axes, dim="variant")
        name_panels(axes, [_panel_name(ds, v) for v in main + extra])
    return fig


#: The short panel names of the remedies (the caption says the rest).
PANEL_NAMES = {"pc": "PC", "pc_more_steps": "PC", "epc": "ePC", "mupc": "μPC",
               "precision": "PC+precision"}


def _panel_name(ds: xr.Dataset, variant) -> str:
    variant = str(variant)
    name = PANEL_NAMES.get(variant.removesuffix(RECIPE_SUFFIX), variant)
    if variant.endswith(RECIPE_SUFFIX):
        return f"{name}, recipe"
    if "inference_steps" in ds.coords and name in ("PC", "ePC", "μPC"):
        name += f", T = {int(ds['inference_steps'].sel(variant=variant))}"
    return name


def energy_panels_text(ds: xr.Dataset) -> str:
    """Which panel is which: each variant's description and its layers reached at t = T."""
    depth = config_of(ds).depth
    numbers = energy_numbers(ds)
    cells = [f"({PANEL_LETTERS[i]}) {_short(ds, v)}"
             f", reached at T: {numbers[str(v)]['reached']}/{depth}"
             for i, v in enumerate(ds["variant"].values)]
    return "Panels: " + "; ".join(cells) + "."


def caption_energy_propagation(ds: xr.Dataset) -> str:
    return deep.deep_caption(
        ds,
        f"Each panel: mean over {n_seeds(ds)} seed(s) and the last 10% of logged "
        f"training steps; shared colour scale over the top {HEATMAP_DECADES} "
        "decades (lower energies in the colour bar's 'under' colour); grey: not reached "
        "(pcdiag.measures.reached is 0 in every seed and averaged step: E_l(t) <= max(2 "
        "E_l(0), 2^-24 F(t)), no more than the node's float32 rounding at forward "
        "initialisation, where E_l(0) is 0 in exact arithmetic, and below the float32 "
        "resolution of the total energy F); 'reached at T' counts the layers reached at "
        "t = T of the last logged step (pcdiag.measures.layers_reached), the seeds' range. "
        "Remedies: more inference steps; ePC (states x_l = mu_l + e_l, inference on the "
        f"errors); μPC (parameterization 'mupc', AdamW lr {deep.MUPC_WEIGHT_LR:g}); layer "
        f"precision {deep.PRECISION} (pi_l = 0.5^(L-l): lower layers weigh less; its panel "
        "shows the energy as recorded and minimised, pi_l E_l, on the others' scale). "
        + selection_text(ds) + " AdamW lr 1e-3 unless stated.",
        energy_panels_text(ds),
    )


def selection_text(ds: xr.Dataset) -> str:
    """How each panel's state step was chosen, and the steps chosen."""
    if "gamma_grid" not in ds.coords:
        return f"State step γ = {deep.DEEP_GAMMA:g} per sample (not tuned) in every panel."
    grid = ", ".join(f"{g:g}" for g in ds["gamma_grid"].values)
    cfg = config_of(ds)
    chosen = "; ".join(
        f"{describe_value(ds, 'variant', v).split(chr(10))[0]}: "
        f"{float(ds['gamma'].sel(variant=v)):g}"
        + ("" if bool(ds["selection_all_ok"].sel(variant=v)) else "*")
        for v in ds["variant"].values if not str(v).endswith(RECIPE_SUFFIX))
    recipe = deep.RECIPE_STATE_STEP.get("epc")
    return (f"Each panel runs the state steps γ = {grid} per sample (SGD) and is drawn at the "
            "one its final validation accuracy picks (median over seeds, among the steps at "
            "which every seed's run_status is ok; '*': none was, the best median over all "
            f"runs), on the last {cfg.validation_size} images of the training file, held out "
            f"of training: {chosen}. Panels marked 'recipe': ePC and μPC at their published "
            f"step ({recipe:g} per sample = SGD lr 0.5 on the batch-mean energy, jpc's "
            "examples), drawn where their validated step is another.")


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
        energy = final_energy(part.isel(t=slice(0, steps + 1)), final)
        profile = profiles.sel(variant=v)
        out[str(v)] = {
            "E1": float(energy.isel(layer=0, t=-1)), "EL": float(energy.isel(layer=-1, t=-1)),
            "first_t": range_text(first.sel(variant=v).values), "T": steps,
            "reached": range_text(reached.sel(variant=v).values),
            "rate": float(profile["rate"].mean(skipna=True)) if bool(
                profile["rate"].notnull().any()) else math.nan,
            "profile": profile_text(profile),
            "gamma": float(part["gamma"]) if "gamma" in part.coords else math.nan,
            "validation": float(part["validation_accuracy"].isel(epoch=-1).mean()) if
            "validation_accuracy" in part else math.nan,
            "test": float(part["test_accuracy"].isel(epoch=-1).mean()),
        }
    return out


def paired_differences(ds: xr.Dataset, confidence: float = 0.95) -> dict[tuple[str, str], tuple]:
    """Final test accuracy, paired by seed (pcdiag.table1.stats.compare): every other panel
    against PC (T as drawn first), and ePC / μPC at their validated step against the same
    remedy at its published one; (mean difference, low, high) of the `confidence` t
    interval, over the seeds where both have an accuracy."""
    acc = ds["test_accuracy"].isel(epoch=-1)
    variants = [str(v) for v in ds["variant"].values]
    pairs = [(v, variants[0]) for v in variants[1:] if not v.endswith(RECIPE_SUFFIX)]
    pairs += [(v.removesuffix(RECIPE_SUFFIX), v) for v in variants if v.endswith(RECIPE_SUFFIX)]
    return {(first, second): paired_interval(acc.sel(variant=first).values,
                                             acc.sel(variant=second).values, confidence)[:3]
            for first, second in pairs}


def summary_energy_propagation(ds: xr.Dataset) -> str:
    cfg = config_of(ds)
    seeds = n_seeds(ds)
    lines = [f"  depth {cfg.depth}, {seeds} seed(s); E: mean over seeds and the last 10% of "
             "logged steps; reached (pcdiag.measures): seeds' range at the last logged step; "
             "energy profile at T: late 25% of steps; accuracies: final epoch, mean over "
             "seeds:"]
    for v, n in energy_numbers(ds).items():
        first = (f"layer 1 first reached at t = {n['first_t']}" if n["first_t"]
                 else f"layer 1 not reached by T = {n['T']}")
        first += f"; {n['reached']} of {cfg.depth} layers reached at t = T"
        text = _short(ds, v)
        lines.append(f"    {text}: "
                     f"E_1(T) = {short_number(n['E1'])}, "
                     f"E_L(T) = {short_number(n['EL'])}, {first}; energy profile at T "
                     f"{n['profile']}; validation {n['validation']:.3f}, test "
                     f"{n['test']:.3f}")
    if n_seeds(ds) > 1:
        lines.append("  test accuracy, paired differences over seeds (95% t interval; a "
                     "difference holds only where it excludes 0):")
        for (first, second), (mean, low, high) in paired_differences(ds).items():
            lines.append(f"    {_short(ds, first)} − {_short(ds, second)}: {mean:+.3f} "
                         f"[{low:+.3f}, {high:+.3f}]")
    return "\n".join(lines)


def _short(ds: xr.Dataset, variant: str) -> str:
    """A panel's description on one line."""
    return describe_value(ds, "variant", variant).replace("\n", ", ")


ENERGY_PROPAGATION = Figure(
    name="energy_propagation",
    description="log10 energy over layer x inference iteration for a deep network: "
                "standard PC beside more inference steps, ePC, muPC and layer precision, "
                "each at its validated state step (ePC and muPC also at their published "
                "one); shared colour scale, nodes not reached "
                "(float32 rounding only) in grey, layers reached at t = T in the titles.",
    sweeps=deep.energy_specs,
    data=_energy_data,
    plot=plot_energy_propagation,
    caption=caption_energy_propagation,
    summary=summary_energy_propagation,
)
