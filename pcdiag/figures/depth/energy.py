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
from pcdiag.figures.experiments import combine, config_of, conform, keep, late_per_t, select
from pcdiag.figures.layout import TWO_COLUMNS, name_panels, short_number
from pcdiag.figures.registry import Figure
from pcdiag.plot.heatmap import HEATMAP_DECADES, final_energy
from pcdiag.plot.layers import profile_text
from pcdiag.plot.styling import PANEL_LETTERS, range_text, style
from pcdiag.plot.styling import describe as describe_value


def _remedy_text(d: deep.DeepProfile, remedy: str) -> str:
    step = {r: f"\nbatch-mean γ {g:g}" for r, g in deep.RECIPE_STATE_STEP.items()}
    return {
        "pc": f"PC, T = {d.inference_steps}",
        "pc_more_steps": f"PC, T = {d.more_steps}",
        "epc": f"ePC, T = {d.inference_steps}{step['epc']}",
        "mupc": f"μPC, T = {d.inference_steps}{step['mupc']}",
        "precision": f"PC + precision\n{deep.PRECISION.replace(':', ' ')}, T = {d.inference_steps}",
    }[remedy]


def _energy_data(profile, results) -> xr.Dataset:
    d = deep.deep_profile(profile)
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
    ds = deep.describe_variants(ds, configs, texts)
    ds.attrs["config"] = configs[d.remedies[0]].to_json()
    ds.attrs["deep_profile"] = d.to_json()
    return lean_energy_data(ds)


#: What energy_propagation's .nc keeps (and the runs' status): the heatmap's energies, what
#: pcdiag.measures reads for its titles and README numbers (reached, stalled, the energy
#: profile), and the losses and accuracies the README quotes.
ENERGY_VARS = ("energy", "energy_total", "weight_norm", "update_norm", "train_loss",
               "train_accuracy", "test_accuracy")


def lean_energy_data(ds: xr.Dataset) -> xr.Dataset:
    """energy_propagation's data as saved: ENERGY_VARS, the per-t energies only where they
    are read (late_per_t); also applied to the committed file by dev/lean_figure_data.py."""
    return late_per_t(keep(ds, *ENERGY_VARS))


def plot_energy_propagation(ds: xr.Dataset) -> MplFigure:
    n = ds.sizes["variant"]
    with style():
        fig = MplFigure(figsize=(TWO_COLUMNS, 3.1), layout="constrained")
        axes = fig.subplots(1, n, squeeze=False, sharey=True)[0]
        pplot.energy_propagation(ds, axes, dim="variant")
        name_panels(axes, [_panel_name(ds, v) for v in ds["variant"].values])
    return fig


#: The short panel names of the remedies (the caption says the rest).
PANEL_NAMES = {"pc": "PC", "pc_more_steps": "PC", "epc": "ePC", "mupc": "μPC",
               "precision": "PC+precision"}


def _panel_name(ds: xr.Dataset, variant) -> str:
    name = PANEL_NAMES.get(str(variant), str(variant))
    if "inference_steps" in ds.coords and name in ("PC", "ePC", "μPC"):
        name += f", T = {int(ds['inference_steps'].sel(variant=variant))}"
    return name


def energy_panels_text(ds: xr.Dataset) -> str:
    """Which panel is which: each variant's description and its layers reached at t = T."""
    depth = config_of(ds).depth
    numbers = energy_numbers(ds)
    cells = [f"({PANEL_LETTERS[i]}) {describe_value(ds, 'variant', v).replace(chr(10), ', ')}"
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
        "Remedies: more inference steps; "
        "ePC (states x_l = mu_l + e_l, inference on the errors) and μPC (parameterization "
        f"'mupc', AdamW lr {deep.MUPC_WEIGHT_LR:g}) with their published state step (SGD lr "
        f"{deep.RECIPE_STATE_STEP['epc']:g} on the batch-mean energy, as in jpc's examples), not "
        f"PC's; layer precision {deep.PRECISION} (pi_l = 0.5^(L-l): lower layers weigh less, so "
        f"the energy recorded there is pi_l E_l). PC: γ = {deep.DEEP_GAMMA:g} per sample; AdamW "
        "lr 1e-3 unless stated.",
        energy_panels_text(ds),
    )


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
        }
    return out


def summary_energy_propagation(ds: xr.Dataset) -> str:
    cfg = config_of(ds)
    seeds = n_seeds(ds)
    lines = [f"  depth {cfg.depth}, {seeds} seed(s); E: mean over seeds and the last 10% of "
             "logged steps; reached (pcdiag.measures): seeds' range at the last logged step; "
             "energy profile at T: late 25% of steps:"]
    for v, n in energy_numbers(ds).items():
        first = (f"layer 1 first reached at t = {n['first_t']}" if n["first_t"]
                 else f"layer 1 not reached by T = {n['T']}")
        first += f"; {n['reached']} of {cfg.depth} layers reached at t = T"
        text = describe_value(ds, 'variant', v).replace("\n", ", ")
        lines.append(f"    {text}: "
                     f"E_1(T) = {short_number(n['E1'])}, "
                     f"E_L(T) = {short_number(n['EL'])}, {first}; energy profile at T "
                     f"{n['profile']}")
    return "\n".join(lines)


ENERGY_PROPAGATION = Figure(
    name="energy_propagation",
    description="log10 energy over layer x inference iteration for a deep network: "
                "standard PC beside more inference steps, ePC and muPC (their own state "
                "step), and layer precision; shared colour scale, nodes not reached "
                "(float32 rounding only) in grey, layers reached at t = T in the titles.",
    sweeps=deep.energy_specs,
    data=_energy_data,
    plot=plot_energy_propagation,
    caption=caption_energy_propagation,
    summary=summary_energy_propagation,
)
