"""The analysis figures: the [784, W, W, 10] network's energy per layer, its energy imbalance
and its test accuracy against the state learning rate gamma (by weight optimizer, width and
state optimizer).

- ``energy_per_layer``: energy of each layer over training and over inference iterations;
- ``accuracy_vs_gamma``: test accuracy against gamma, SGD-momentum vs AdamW weights;
- ``energy_ratio_vs_gamma``: E_l / E_{l+1} against gamma;
- ``accuracy_vs_gamma_by_width``: test accuracy against gamma by width, PC and BP;
- ``accuracy_vs_gamma_state_optimizer``: test accuracy against gamma, SGD vs Adam states.
"""

from __future__ import annotations

import numpy as np
import xarray as xr
from matplotlib.figure import Figure as MplFigure

import pcdiag.plot as pplot
from pcdiag.figures.experiments import (
    SweepSpec,
    analysis_run,
    bp_spec,
    broadcast,
    combine,
    config_of,
    optimizers,
    pc_spec,
    select,
    trim,
)
from pcdiag.figures.layout import (
    TWO_COLUMNS,
    analysis_caption,
    batch_mean_axis,
    new_figure,
    one_panel,
)
from pcdiag.figures.profiles import WEIGHT_OPTIMIZERS, Profile
from pcdiag.figures.registry import Figure, register
from pcdiag.plot._style import final_fraction, style

# --------------------------------------------------------------------------- plots


def plot_energy_per_layer(ds: xr.Dataset) -> MplFigure:
    with style():
        fig, (left, right) = new_figure(2, TWO_COLUMNS)
        pplot.energy_per_layer(ds, left, over="step").get_legend().remove()
        pplot.energy_per_layer(ds, right, over="t")
        cfg = config_of(ds)
        fig.suptitle(f"Energy per layer: PC, width {cfg.width}, γ = {cfg.gamma:g}, "
                     f"weights {cfg.weight_optimizer}")
    return fig


def _accuracy_panel(hue: str):
    def draw(ds: xr.Dataset, ax) -> None:
        pplot.accuracy_vs_gamma(ds, ax, hue=hue)
        batch_mean_axis(ax, ds)
    return draw


def plot_accuracy_vs_gamma(ds: xr.Dataset) -> MplFigure:
    return one_panel(ds, _accuracy_panel("weight_optimizer"), "Test accuracy vs γ (PC)")


def plot_energy_ratio_vs_gamma(ds: xr.Dataset) -> MplFigure:
    return one_panel(ds, pplot.energy_ratio_vs_gamma,
                     r"Energy imbalance $E_\ell/E_{\ell+1}$ vs γ (PC)")


def plot_accuracy_vs_gamma_by_width(ds: xr.Dataset) -> MplFigure:
    """One row of panels (SGD-momentum | AdamW weights) per activation."""
    activations = list(ds["activation"].values) if "activation" in ds.dims else [None]
    with style():
        fig = MplFigure(figsize=(TWO_COLUMNS, 2.9 * len(activations)), layout="constrained")
        rows = fig.subplots(len(activations), len(pplot.WIDTH_PANELS), squeeze=False)
        for axes, activation in zip(rows, activations):
            for ax in axes[1:]:
                ax.sharey(axes[0])
            part = ds if activation is None else select(ds, activation=activation)
            pplot.accuracy_vs_gamma_by_width(part, axes)
            for ax in axes:
                batch_mean_axis(ax, ds)
                if activation is not None:
                    ax.set_title(f"{activation}: {ax.get_title(loc='left')}", loc="left")
        fig.suptitle("Test accuracy vs γ by width: PC, with BP as a reference band")
    return fig


def plot_accuracy_vs_gamma_state_optimizer(ds: xr.Dataset) -> MplFigure:
    return one_panel(ds, _accuracy_panel("state_optimizer"),
                     "Test accuracy vs γ: SGD vs Adam states (PC)")


# --------------------------------------------------------------------------- captions
# the settings and reading notes, kept outside the image (Figure.caption)


def _seeds(ds: xr.Dataset) -> int:
    return ds.sizes.get("seed", 1)


def caption_energy_per_layer(ds: xr.Dataset) -> str:
    return analysis_caption(ds, "Hidden-layer energies are exactly 0 at t = 0 (forward "
                                "initialisation) and are not drawn on the log axis; line: mean "
                                f"over {_seeds(ds)} seed(s), band: min-max over seeds.")


_ACCURACY_NOTE = ("Line: mean over {n} seed(s); dots: single seeds; band: min-max. Runs "
                  "nearer chance than the best are marked ▼ at the bottom edge ('below "
                  "axis') with their accuracy; failed runs (run_status) have their own "
                  "markers. Top axis: the same γ in batch-mean units (γ × batch size, PCX's "
                  "convention).")


def caption_accuracy_vs_gamma(ds: xr.Dataset) -> str:
    return analysis_caption(ds, _ACCURACY_NOTE.format(n=_seeds(ds)) + " 'SGD vs Adam' here "
                            "varies the weight optimizer, as the released experiment code "
                            "does; states use plain SGD.")


def caption_energy_ratio_vs_gamma(ds: xr.Dataset) -> str:
    return analysis_caption(ds, "Line: median over the final 10% of logged steps and the "
                                f"{_seeds(ds)} seed(s); band: interquartile range. Grey lines "
                                "at 1e-2, 1 and 1e2.")


def caption_by_width(ds: xr.Dataset) -> str:
    return analysis_caption(ds, _ACCURACY_NOTE.format(n=_seeds(ds)) + " BP does not use γ: "
                            "it ran once per width, optimizer and seed; grey band: BP's "
                            "min-max over widths and seeds (same weight optimizer), line: "
                            "its mean.")


def caption_state_optimizer(ds: xr.Dataset) -> str:
    return analysis_caption(ds, _ACCURACY_NOTE.format(n=_seeds(ds)) + " Here the state "
                            "optimizer varies (γ is its learning rate); the weights use AdamW "
                            "in both.")


# --------------------------------------------------------------------------- summaries
# the figures' numbers as text (for figures/README.md)


def _fmt(x: float) -> str:
    return "nan" if not np.isfinite(x) else f"{x:.3g}"


def _acc_lines(ds: xr.Dataset, hue: str) -> str:
    summary = pplot.accuracy_summary(ds)
    lines = []
    for value in ds[hue].values if hue in ds.dims else [None]:
        s = summary.sel({hue: value}) if value is not None else summary
        cells = [f"{g:g}: {_fmt(float(m))}" + pplot.failure_text(s.isel(gamma=i))
                 for i, (g, m) in enumerate(zip(ds["gamma"].values, s["mean"].values))]
        best = int(np.nanargmax(s["mean"].values)) if np.isfinite(s["mean"]).any() else 0
        name = f"{hue}={value}" if value is not None else "all runs"
        lines.append(f"  {name}: test accuracy by gamma {{{', '.join(cells)}}}; best "
                     f"gamma {float(ds['gamma'][best]):g}")
    return "\n".join(lines)


def summary_energy_per_layer(ds: xr.Dataset) -> str:
    energy = ds["energy"].mean("seed") if "seed" in ds.dims else ds["energy"]
    last = final_fraction(energy.to_dataset(name="e"), 0.1)["e"].isel(t=-1)
    mean = last.mean("step")
    share = mean / mean.sum("layer")
    cells = ", ".join(f"E{int(layer)} = {_fmt(float(mean.sel(layer=layer)))} "
                      f"({float(share.sel(layer=layer)):.1%})" for layer in ds["layer"].values)
    return f"  at t = T over the last 10% of steps: {cells}"


def summary_accuracy_vs_gamma(ds: xr.Dataset) -> str:
    return _acc_lines(ds, "weight_optimizer")


def summary_energy_ratio_vs_gamma(ds: xr.Dataset) -> str:
    ratio = pplot.median_ratio(ds)
    gammas = ds["gamma"].values
    lines = []
    for opt in ds["weight_optimizer"].values if "weight_optimizer" in ds.dims else [None]:
        r = ratio.sel(weight_optimizer=opt) if opt is not None else ratio
        cells = []
        for layer in r["layer"].values:
            lo = float(r.sel(layer=layer, gamma=gammas[0]))
            hi = float(r.sel(layer=layer, gamma=gammas[-1]))
            cells.append(f"E{int(layer)}/E{int(layer) + 1}: {_fmt(lo)} at gamma {gammas[0]:g}, "
                         f"{_fmt(hi)} at gamma {gammas[-1]:g}")
        lines.append(f"  weight_optimizer={opt}: median " + "; ".join(cells))
    return "\n".join(lines)


def summary_by_width(ds: xr.Dataset) -> str:
    summary = pplot.accuracy_summary(ds)
    lines = []
    for alg in ds["algorithm"].values:
        for opt in ds["weight_optimizer"].values:
            s = summary.sel(algorithm=alg, weight_optimizer=opt)
            cells = []
            for width in ds["width"].values:
                m = s["mean"].sel(width=width).values
                if alg == "bp":
                    cells.append(f"width {width}: {_fmt(float(m[0]))}")
                    continue
                best = int(np.nanargmax(m)) if np.isfinite(m).any() else 0
                cells.append(f"width {width}: best {_fmt(float(m[best]))} at gamma "
                             f"{float(ds['gamma'][best]):g}")
            lines.append(f"  {alg}, {opt}: " + "; ".join(cells))
    return "\n".join(lines)


def summary_state_optimizer(ds: xr.Dataset) -> str:
    return _acc_lines(ds, "state_optimizer")


# --------------------------------------------------------------------------- experiments


def _main_specs(profile: Profile) -> dict[str, SweepSpec]:
    return {f"pc-{o}": pc_spec(profile, o) for o in WEIGHT_OPTIMIZERS}


def _energy_data(profile: Profile, results) -> xr.Dataset:
    run = select(results["pc-adamw"], **analysis_run(profile))
    return select(run, method="nearest", gamma=profile.energy_gamma)


def _width_specs(profile: Profile) -> dict[str, SweepSpec]:
    return _main_specs(profile) | {f"bp-{o}": bp_spec(profile, o) for o in WEIGHT_OPTIMIZERS}


def _width_data(profile: Profile, results) -> xr.Dataset:
    pc = trim(optimizers(profile, results, "pc"), keep_t=False)
    bp = trim(optimizers(profile, results, "bp"), keep_t=False)
    bp = broadcast(bp, "gamma", pc)
    return combine({"pc": pc, "bp": bp}, "algorithm")


def _state_specs(profile: Profile) -> dict[str, SweepSpec]:
    return {"pc-adamw": pc_spec(profile, "adamw"),
            "adam-states": pc_spec(profile, "adamw", "adam", widths=(profile.width,))}


def _state_data(profile: Profile, results) -> xr.Dataset:
    sgd = select(results["pc-adamw"], **analysis_run(profile))
    adam = select(results["adam-states"], width=profile.width)
    return trim(combine({"sgd": sgd, "adam": adam}, "state_optimizer"), keep_t=False)


# --------------------------------------------------------------------------- registration

FIGURES_HERE = tuple(register(figure) for figure in (
    Figure(
        name="energy_per_layer",
        description="Energy of each layer (log) over training at t = T, and over the "
                    "inference iterations t at the end of training; PC with AdamW weights "
                    "at the analysis width and gamma 0.1.",
        sweeps=lambda p: {"pc-adamw": pc_spec(p, "adamw")},
        data=_energy_data,
        plot=plot_energy_per_layer,
        caption=caption_energy_per_layer,
        summary=summary_energy_per_layer,
    ),
    Figure(
        name="accuracy_vs_gamma",
        description="Test accuracy against gamma (log x) at the analysis width, one line per "
                    "weight optimizer (SGD with momentum vs AdamW; states plain SGD), mean and "
                    "min-max over seeds, failed runs marked (x diverged, hollow diamond "
                    "inference unstable, hollow square collapsed; run_status).",
        sweeps=_main_specs,
        data=lambda p, r: trim(optimizers(p, r, "pc", **analysis_run(p)), keep_t=False),
        plot=plot_accuracy_vs_gamma,
        caption=caption_accuracy_vs_gamma,
        summary=summary_accuracy_vs_gamma,
    ),
    Figure(
        name="energy_ratio_vs_gamma",
        description="E_l / E_{l+1} at t = T over the final steps against gamma (log-log), one "
                    "line per layer pair, line style per weight optimizer; guides at 1e-2, 1, "
                    "1e2.",
        sweeps=_main_specs,
        data=lambda p, r: optimizers(p, r, "pc", **analysis_run(p)),
        plot=plot_energy_ratio_vs_gamma,
        caption=caption_energy_ratio_vs_gamma,
        summary=summary_energy_ratio_vs_gamma,
    ),
    Figure(
        name="accuracy_vs_gamma_by_width",
        description="Test accuracy against gamma coloured by width, in panels: PC with SGD "
                    "(momentum) weights, PC with AdamW weights, and BP.",
        sweeps=_width_specs,
        data=_width_data,
        plot=plot_accuracy_vs_gamma_by_width,
        caption=caption_by_width,
        summary=summary_by_width,
    ),
    Figure(
        name="accuracy_vs_gamma_state_optimizer",
        description="Test accuracy against gamma with the state optimizer varied (SGD vs "
                    "Adam), AdamW weights, at the analysis width.",
        sweeps=_state_specs,
        data=_state_data,
        plot=plot_accuracy_vs_gamma_state_optimizer,
        caption=caption_state_optimizer,
        summary=summary_state_optimizer,
    ),
))
FIGURE_NAMES = tuple(figure.name for figure in FIGURES_HERE)
