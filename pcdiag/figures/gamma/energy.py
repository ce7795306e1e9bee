"""``energy_per_layer`` (each layer's energy over training and over inference) and
``energy_ratio_vs_gamma`` (E_l / E_{l+1} against gamma)."""

from __future__ import annotations

import xarray as xr
from matplotlib.figure import Figure as MplFigure

import pcdiag.plot as pplot
from pcdiag.figures.captions import n_seeds
from pcdiag.figures.experiments import keep, late_per_t, select
from pcdiag.figures.gamma.accuracy import ACCURACY_VARS
from pcdiag.figures.gamma.limit import (
    draw_limit,
    limit_caption,
    limit_lines,
    probe_data,
    probe_specs,
    with_probe,
    without_probe,
)
from pcdiag.figures.gamma.profile import (
    analysis_caption,
    analysis_run,
    main_specs,
    optimizers,
    pc_spec,
)
from pcdiag.figures.layout import TWO_COLUMNS, new_figure, one_panel, short_number
from pcdiag.figures.profiles import Profile
from pcdiag.figures.registry import Figure
from pcdiag.plot.styling import final_fraction, panel_labels, style


def plot_energy_per_layer(ds: xr.Dataset) -> MplFigure:
    with style():
        fig, (left, right) = new_figure(2, TWO_COLUMNS)
        pplot.energy_per_layer(ds, left, over="step").get_legend().remove()
        pplot.energy_per_layer(ds, right, over="t")
        panel_labels([left, right])
    return fig


def caption_energy_per_layer(ds: xr.Dataset) -> str:
    return analysis_caption(ds, "Hidden-layer energies are exactly 0 at t = 0 (forward "
                                "initialisation) and are not drawn on the log axis; line: mean "
                                f"over {n_seeds(ds)} seed(s), band: min-max over seeds.")


def summary_energy_per_layer(ds: xr.Dataset) -> str:
    energy = ds["energy"].mean("seed") if "seed" in ds.dims else ds["energy"]
    last = final_fraction(energy.to_dataset(name="e"), 0.1)["e"].isel(t=-1)
    mean = last.mean("step")
    share = mean / mean.sum("layer")
    cells = ", ".join(f"E{int(layer)} = {short_number(float(mean.sel(layer=layer)))} "
                      f"({float(share.sel(layer=layer)):.1%})" for layer in ds["layer"].values)
    return f"  at t = T over the last 10% of steps: {cells}"


def _energy_data(profile: Profile, results) -> xr.Dataset:
    run = select(results["pc-adamw"], **analysis_run(profile))
    return select(run, method="nearest", gamma=profile.energy_gamma)


def plot_energy_ratio_vs_gamma(ds: xr.Dataset) -> MplFigure:
    def draw(ds: xr.Dataset, ax) -> None:
        draw_limit(ax, ds)  # first: energy_ratio_vs_gamma's legend collects it
        pplot.energy_ratio_vs_gamma(without_probe(ds), ax)
    return one_panel(ds, draw, r"Energy imbalance $E_\ell/E_{\ell+1}$ vs γ (PC)")


def caption_energy_ratio_vs_gamma(ds: xr.Dataset) -> str:
    return analysis_caption(ds, "Line: median over the final 10% of logged steps and the "
                                f"{n_seeds(ds)} seed(s); band: interquartile range. Grey lines "
                                "at 1e-2, 1 and 1e2. " + limit_caption(ds))


def summary_energy_ratio_vs_gamma(ds: xr.Dataset) -> str:
    limits = limit_lines(ds)
    ds = without_probe(ds)
    ratio = pplot.median_ratio(ds)
    gammas = ds["gamma"].values
    lines = []
    for opt in ds["weight_optimizer"].values if "weight_optimizer" in ds.dims else [None]:
        r = ratio.sel(weight_optimizer=opt) if opt is not None else ratio
        cells = []
        for layer in r["layer"].values:
            lo = float(r.sel(layer=layer, gamma=gammas[0]))
            hi = float(r.sel(layer=layer, gamma=gammas[-1]))
            cells.append(f"E{int(layer)}/E{int(layer) + 1}: {short_number(lo)} at gamma "
                         f"{gammas[0]:g}, {short_number(hi)} at gamma {gammas[-1]:g}")
        lines.append(f"  weight_optimizer={opt}: median " + "; ".join(cells))
    return "\n".join(lines + ([limits] if limits else []))


def lean_ratio_data(ds: xr.Dataset) -> xr.Dataset:
    """energy_ratio_vs_gamma's data as saved: the energies and ratios (per t only where read,
    late_per_t), the accuracies and losses; also applied to the committed file by
    dev/lean_figure_data.py."""
    ds = keep(ds, "energy", "energy_total", "energy_ratio", *ACCURACY_VARS)
    return late_per_t(ds, names=("energy", "energy_ratio"))


ENERGY_PER_LAYER = Figure(
    name="energy_per_layer",
    description="Energy of each layer (log) over training at t = T, and over the "
                "inference iterations t at the end of training; PC with AdamW weights "
                "at the analysis width and gamma 0.1.",
    sweeps=lambda p: {"pc-adamw": pc_spec(p, "adamw")},
    data=_energy_data,
    plot=plot_energy_per_layer,
    caption=caption_energy_per_layer,
    summary=summary_energy_per_layer,
)
ENERGY_RATIO_VS_GAMMA = Figure(
    name="energy_ratio_vs_gamma",
    description="E_l / E_{l+1} at t = T over the final steps against gamma (log-log), one "
                "line per layer pair, line style per weight optimizer; guides at 1e-2, 1, "
                "1e2.",
    sweeps=lambda p: main_specs(p) | probe_specs(p),
    data=lambda p, r: with_probe(lean_ratio_data(optimizers(p, r, "pc", **analysis_run(p))),
                                 probe_data(r)),
    plot=plot_energy_ratio_vs_gamma,
    caption=caption_energy_ratio_vs_gamma,
    summary=summary_energy_ratio_vs_gamma,
)
