"""Test accuracy against gamma: ``accuracy_vs_gamma`` (by weight optimizer),
``accuracy_vs_gamma_by_width`` (by width, PC and BP), ``accuracy_vs_gamma_state_optimizer``
(SGD vs Adam states) and ``accuracy_vs_gamma_pcx`` (under PCX's convention: batch-mean gamma,
momentum on the states)."""

from __future__ import annotations

import numpy as np
import xarray as xr
from matplotlib.figure import Figure as MplFigure

import pcdiag.plot as pplot
from pcdiag.figures.captions import n_seeds
from pcdiag.figures.experiments import (
    SweepSpec,
    bp_runs,
    broadcast,
    combine,
    config_of,
    keep,
    select,
    trim,
)
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
    WEIGHT_OPTIMIZERS,
    accuracy_data,
    analysis_caption,
    analysis_run,
    bp_spec,
    main_specs,
    optimizers,
    pc_spec,
    pcx_spec,
)
from pcdiag.figures.layout import (
    OPTIMIZER_PANEL,
    TWO_COLUMNS,
    batch_mean_axis,
    name_panels,
    one_panel,
    per_sample_axis,
    short_number,
)
from pcdiag.figures.profiles import Profile
from pcdiag.figures.registry import Figure
from pcdiag.plot.styling import PANEL_LETTERS, style


def _accuracy_panel(hue: str):
    def draw(ds: xr.Dataset, ax) -> None:
        draw_limit(ax, ds, hue)  # first: accuracy_vs_gamma's legend collects it
        pplot.accuracy_vs_gamma(without_probe(ds), ax, hue=hue)
        batch_mean_axis(ax, ds)
    return draw


def plot_accuracy_vs_gamma(ds: xr.Dataset) -> MplFigure:
    return one_panel(ds, _accuracy_panel("weight_optimizer"), "Test accuracy vs γ (PC)")


def plot_accuracy_vs_gamma_by_width(ds: xr.Dataset) -> MplFigure:
    """One row of panels (SGD-momentum | AdamW weights) per activation."""
    ds = with_bp_crossed(ds)
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
        name_panels(rows.ravel(), [OPTIMIZER_PANEL[sel["weight_optimizer"]]
                                   for _ in activations for _, sel, _ in pplot.WIDTH_PANELS])
    return fig


def width_panels_text(ds: xr.Dataset) -> str:
    """Which panel of accuracy_vs_gamma_by_width is which (its panels are named by weight
    optimizer only)."""
    activations = list(ds["activation"].values) if "activation" in ds.dims else [None]
    cells, i = [], 0
    for activation in activations:
        for title, sel, _ in pplot.WIDTH_PANELS:
            opt = sel["weight_optimizer"]
            lr = (f", lr {float(ds['weight_lr'].sel(weight_optimizer=opt)):g}"
                  if "weight_lr" in ds.coords and "weight_optimizer" in ds["weight_lr"].dims
                  else "")
            cells.append(f"({PANEL_LETTERS[i]}) {title}{lr}"
                         + (f", {activation}" if activation is not None else ""))
            i += 1
    return "Panels: " + "; ".join(cells) + "."


def plot_accuracy_vs_gamma_state_optimizer(ds: xr.Dataset) -> MplFigure:
    return one_panel(ds, _accuracy_panel("state_optimizer"),
                     "Test accuracy vs γ: SGD vs Adam states (PC)")


ACCURACY_NOTE = ("Line: mean over {n} seed(s); dots: single seeds; band: min-max. Runs "
                  "nearer chance than the best are marked ▼ at the bottom edge ('below "
                  "axis') with their accuracy; failed runs (run_status) have their own "
                  "markers. Top axis: the same γ in batch-mean units (γ × batch size, PCX's "
                  "convention).")


def caption_accuracy_vs_gamma(ds: xr.Dataset) -> str:
    return analysis_caption(ds, ACCURACY_NOTE.format(n=n_seeds(ds)) + " 'SGD vs Adam' here "
                            "varies the weight optimizer, as the released experiment code "
                            "does; states use plain SGD. " + limit_caption(ds))


def caption_by_width(ds: xr.Dataset) -> str:
    return analysis_caption(ds, width_panels_text(ds) + " "
                            + ACCURACY_NOTE.format(n=n_seeds(ds)) + " BP does not use γ: "
                            "it ran once per width, optimizer and seed; grey band: BP's "
                            "min-max over widths and seeds (same weight optimizer), line: "
                            "its mean.")


def caption_state_optimizer(ds: xr.Dataset) -> str:
    return analysis_caption(ds, ACCURACY_NOTE.format(n=n_seeds(ds)) + " Here the state "
                            "optimizer varies (γ is its learning rate); the weights use AdamW "
                            "in both. " + limit_caption(ds).replace(
                                "the line style is the weight optimizer's",
                                "SGD states only: Adam normalises its step, so no fixed-step "
                                "limit applies"))


def accuracy_lines(ds: xr.Dataset, hue: str) -> str:
    summary = pplot.accuracy_summary(ds)
    lines = []
    for value in ds[hue].values if hue in ds.dims else [None]:
        s = summary.sel({hue: value}) if value is not None else summary
        cells = [f"{g:g}: {short_number(float(m))}" + pplot.failure_text(s.isel(gamma=i))
                 for i, (g, m) in enumerate(zip(ds["gamma"].values, s["mean"].values))]
        best = int(np.nanargmax(s["mean"].values)) if np.isfinite(s["mean"]).any() else 0
        name = f"{hue}={value}" if value is not None else "all runs"
        lines.append(f"  {name}: test accuracy by gamma {{{', '.join(cells)}}}; best "
                     f"gamma {float(ds['gamma'][best]):g}")
    return "\n".join(lines)


def summary_accuracy_vs_gamma(ds: xr.Dataset) -> str:
    return "\n".join(filter(None, [accuracy_lines(without_probe(ds), "weight_optimizer"),
                                   limit_lines(ds, "weight_optimizer")]))


def summary_by_width(ds: xr.Dataset) -> str:
    ds = with_bp_crossed(ds)
    summary = pplot.accuracy_summary(ds)
    lines = []
    for alg in ds["algorithm"].values:
        for opt in ds["weight_optimizer"].values:
            s = summary.sel(algorithm=alg, weight_optimizer=opt)
            cells = []
            for width in ds["width"].values:
                m = s["mean"].sel(width=width).values
                if alg == "bp":
                    cells.append(f"width {width}: {short_number(float(m[0]))}")
                    continue
                best = int(np.nanargmax(m)) if np.isfinite(m).any() else 0
                cells.append(f"width {width}: best {short_number(float(m[best]))} at gamma "
                             f"{float(ds['gamma'][best]):g}")
            lines.append(f"  {alg}, {opt}: " + "; ".join(cells))
    return "\n".join(lines)


def summary_state_optimizer(ds: xr.Dataset) -> str:
    return "\n".join(filter(None, [accuracy_lines(without_probe(ds), "state_optimizer"),
                                   limit_lines(ds, "state_optimizer")]))


def _width_specs(profile: Profile) -> dict[str, SweepSpec]:
    return main_specs(profile) | {f"bp-{o}": bp_spec(profile, o) for o in WEIGHT_OPTIMIZERS}


def _width_data(profile: Profile, results) -> xr.Dataset:
    pc = trim(optimizers(profile, results, "pc"), keep_t=False)
    bp = trim(optimizers(profile, results, "bp"), keep_t=False)
    bp = broadcast(bp, "gamma", pc)
    return lean_by_width(combine({"pc": pc, "bp": bp}, "algorithm"))


#: What the accuracy figures that draw no norms keep (and the runs' status, STATUS_VARS).
ACCURACY_VARS = ("test_accuracy", "train_accuracy", "train_loss")


def lean_by_width(ds: xr.Dataset, names: tuple[str, ...] = ACCURACY_VARS) -> xr.Dataset:
    """accuracy_vs_gamma_by_width's data as saved (and learning_curves'): `names` of PC over
    gamma, and BP's once, as bp_<variable> over the dims BP varies along (BP has no state
    step: its runs do not depend on gamma). Also applied to the committed file by
    dev/lean_figure_data.py."""
    ds = keep(ds, *names)
    bp = ds.sel(algorithm="bp").isel(gamma=0, drop=True).drop_vars("algorithm")
    lean = select(ds, algorithm="pc").drop_vars("algorithm")
    for name, da in bp.data_vars.items():
        lean[f"bp_{name}"] = da.assign_attrs(
            long_name=f"BP {da.attrs.get('long_name', name)}",
            comment=f"{da.attrs.get('comment', '')} (BP runs: they do not use gamma, so "
                    "they are stored once, not along gamma)".strip())
    return lean


def with_bp_crossed(ds: xr.Dataset) -> xr.Dataset:
    """The by-width data as the plot and summary read it: dim algorithm (pc, bp), BP repeated
    along gamma (from a lean file's bp_ variables; a Dataset with algorithm is returned)."""
    if "algorithm" in ds.dims:
        return ds
    bp = bp_runs(ds)
    for name in bp.data_vars:  # PC's attrs: the bp_ ones say "stored once"
        bp[name].attrs = ds[name].attrs
    pc = ds.drop_vars([f"bp_{name}" for name in bp.data_vars])
    return combine({"pc": pc, "bp": broadcast(bp, "gamma", pc)}, "algorithm")


def _state_specs(profile: Profile) -> dict[str, SweepSpec]:
    return {"pc-adamw": pc_spec(profile, "adamw"),
            "adam-states": pc_spec(profile, "adamw", "adam", widths=(profile.width,))
            } | probe_specs(profile, ("adamw",))


def _state_data(profile: Profile, results) -> xr.Dataset:
    sgd = select(results["pc-adamw"], **analysis_run(profile))
    adam = select(results["adam-states"], width=profile.width)
    ds = keep(trim(combine({"sgd": sgd, "adam": adam}, "state_optimizer"), keep_t=False),
              *ACCURACY_VARS)
    return with_probe(ds, probe_data(results, ("adamw",)), state_optimizer=True)


ACCURACY_VS_GAMMA = Figure(
    name="accuracy_vs_gamma",
    description="Test accuracy against gamma (log x) at the analysis width, one line per "
                "weight optimizer (SGD with momentum vs AdamW; states plain SGD), mean and "
                "min-max over seeds, failed runs marked (x diverged, hollow diamond "
                "inference unstable, hollow square collapsed; run_status).",
    sweeps=lambda p: main_specs(p) | probe_specs(p),
    data=lambda p, r: with_probe(accuracy_data(p, r), probe_data(r)),
    plot=plot_accuracy_vs_gamma,
    caption=caption_accuracy_vs_gamma,
    summary=summary_accuracy_vs_gamma,
)
BY_WIDTH = Figure(
    name="accuracy_vs_gamma_by_width",
    description="Test accuracy against gamma coloured by width, in panels: PC with SGD "
                "(momentum) weights, PC with AdamW weights, and BP.",
    sweeps=_width_specs,
    data=_width_data,
    plot=plot_accuracy_vs_gamma_by_width,
    caption=caption_by_width,
    summary=summary_by_width,
)
STATE_OPTIMIZER = Figure(
    name="accuracy_vs_gamma_state_optimizer",
    description="Test accuracy against gamma with the state optimizer varied (SGD vs "
                "Adam), AdamW weights, at the analysis width.",
    sweeps=_state_specs,
    data=_state_data,
    plot=plot_accuracy_vs_gamma_state_optimizer,
    caption=caption_state_optimizer,
    summary=summary_state_optimizer,
)


def plot_accuracy_vs_gamma_pcx(ds: xr.Dataset) -> MplFigure:
    def draw(ds: xr.Dataset, ax) -> None:
        pplot.accuracy_vs_gamma(ds, ax, hue="weight_optimizer")
        if ds.attrs.get("gamma_convention") == "batch_mean":
            ax.set_xlabel("batch-mean γ")
        per_sample_axis(ax, ds)
    return one_panel(ds, draw, "Test accuracy vs γ under PCX's convention (PC)")


def caption_accuracy_vs_gamma_pcx(ds: xr.Dataset) -> str:
    cfg = config_of(ds)
    return analysis_caption(ds, (
        ACCURACY_NOTE.format(n=n_seeds(ds)).replace(
            "Top axis: the same γ in batch-mean units (γ × batch size, PCX's convention).",
            f"Top axis: the same γ in per-sample units (γ / B, B = {cfg.batch_size}).")
        + f" PCX's convention: states follow the gradient of the batch-mean energy (what "
        "PCX's API differentiates), SGD with momentum "
        f"{cfg.state_momentum:g} (PCX's MLP PC-CE Fashion-MNIST script, liukidar/pcx "
        "v0.6.1); the γ values are accuracy_vs_gamma's per-sample ones × B. PCX's benchmark "
        "scripts also rescale the state gradient by the batch size (scale_by_batch_size), "
        "which turns this back into the per-sample convention of accuracy_vs_gamma; this "
        "figure shows the API's convention without that rescaling. Same network and "
        "weight optimizers as accuracy_vs_gamma."))


def summary_accuracy_vs_gamma_pcx(ds: xr.Dataset) -> str:
    batch = config_of(ds).batch_size
    return (accuracy_lines(ds, "weight_optimizer") + f"\n  (batch-mean gamma; per-sample = gamma "
            f"/ {batch})")


ACCURACY_VS_GAMMA_PCX = Figure(
    name="accuracy_vs_gamma_pcx",
    description="accuracy_vs_gamma under PCX's convention: batch-mean gamma (x axis; "
                "top: per-sample units) and SGD states with momentum 0.4, momentum vs "
                "AdamW weights.",
    sweeps=lambda p: {f"pcx-{o}": pcx_spec(p, o) for o in WEIGHT_OPTIMIZERS},
    data=lambda p, r: keep(trim(optimizers(p, r, "pcx"), keep_t=False), *ACCURACY_VARS),
    plot=plot_accuracy_vs_gamma_pcx,
    caption=caption_accuracy_vs_gamma_pcx,
    summary=summary_accuracy_vs_gamma_pcx,
)
