"""``learning_curves``: test accuracy per epoch and train loss over several epochs, by
gamma, momentum vs AdamW weights."""

from __future__ import annotations

import numpy as np
import xarray as xr
from matplotlib.figure import Figure as MplFigure
from matplotlib.lines import Line2D

import pcdiag.plot as pplot
from pcdiag.figures.captions import n_seeds
from pcdiag.figures.experiments import config_of, keep, trim
from pcdiag.figures.gamma.accuracy import ACCURACY_VARS
from pcdiag.figures.gamma.mechanism import column_title, require_optimizers
from pcdiag.figures.gamma.profile import WEIGHT_OPTIMIZERS, analysis_caption, curve_spec, optimizers
from pcdiag.figures.layout import OPTIMIZER_PANEL, TWO_COLUMNS, name_panels, short_number
from pcdiag.figures.registry import Figure
from pcdiag.plot.sensitivity import chance_level, fit_accuracy_axes
from pcdiag.plot.styling import PANEL_LETTERS, decorate, palette, style


def plot_learning_curves(ds: xr.Dataset) -> MplFigure:
    require_optimizers(ds, "learning_curves", ("test_accuracy", "train_loss"))
    opts = list(ds["weight_optimizer"].values)
    gammas = ds["gamma"].values
    colours = palette(len(gammas), "sequential")
    per_epoch = config_of(ds).steps_per_epoch
    epochs = ds["epoch"].values
    with style():
        fig = MplFigure(figsize=(TWO_COLUMNS, 5.0), layout="constrained")
        axes = fig.subplots(2, len(opts), sharey="row", squeeze=False)
        summaries = []
        for col, opt in enumerate(opts):
            part = ds.sel(weight_optimizer=opt)
            s = _epoch_summary(part["test_accuracy"])
            summaries.append(s)
            top, bottom = axes[0, col], axes[1, col]
            top.axhline(chance_level(ds), color="0.6", linestyle=":", linewidth=0.8, zorder=0)
            loss = _smoothed_loss(part["train_loss"])
            x = (ds["step"].values + 1) / per_epoch
            for colour, gamma in zip(colours, gammas):
                g = s.sel(gamma=gamma)
                dash = "--" if _failures_at(ds, gamma) else "-"  # a failed run at this gamma
                top.plot(epochs, g["mean"].values, color=colour, marker="o", markersize=3,
                         linestyle=dash)
                top.fill_between(epochs, g["min"].values, g["max"].values, color=colour,
                                 alpha=0.15, linewidth=0)
                bottom.plot(x, loss.sel(gamma=gamma).values, color=colour, linewidth=1,
                            linestyle=dash)
            top.set_xlabel("epoch")
            top.set_xticks(epochs)
            bottom.set_yscale("log")
            bottom.set_xlabel("epoch (training steps / steps per epoch)")
            for ax in (top, bottom):
                ax.set_xlim(0, epochs[-1] + 0.15)
                decorate(ax)
            if col == 0:
                top.set_ylabel("test accuracy")
                bottom.set_ylabel("train loss (seed mean, smoothed)")
        fit_accuracy_axes(list(axes[0]), "epoch", summaries, chance=chance_level(ds))
        for ax in axes[0]:  # its "below axis" note reads rightwards from the first epoch
            for note in ax.texts:
                note.set_horizontalalignment("left")
                note.xyann = (4, 2)
        handles = [Line2D([], [], color=c, marker="o", markersize=3,
                          linestyle="--" if _failures_at(ds, g) else "-")
                   for c, g in zip(colours, gammas)]
        labels = [f"{g:g}" + _failures_at(ds, g) for g in gammas]
        fig.legend(handles, labels, title="γ (per sample)", loc="outside lower center",
                   ncols=min(len(gammas), 7))
        name_panels(axes.ravel(), [OPTIMIZER_PANEL.get(str(opt), "")
                                   for _ in range(axes.shape[0]) for opt in opts])
    return fig


def _epoch_summary(acc: xr.DataArray) -> xr.Dataset:
    """Mean, min and max over seeds of the test accuracy at every epoch."""
    seeds = [d for d in ("seed",) if d in acc.dims]
    return xr.Dataset({"mean": acc.mean(seeds, skipna=True), "min": acc.min(seeds, skipna=True),
                       "max": acc.max(seeds, skipna=True)})


#: Logged steps the learning curves' train loss is averaged over (centred running mean).
LOSS_WINDOW = 5


def _smoothed_loss(loss: xr.DataArray) -> xr.DataArray:
    mean = loss.mean("seed") if "seed" in loss.dims else loss
    return mean.rolling(step=LOSS_WINDOW, center=True, min_periods=1).mean()


def _failures_at(ds: xr.Dataset, gamma: float) -> str:
    """' (3/6 collapsed)' for the runs at one gamma over every weight optimizer and seed."""
    summary = pplot.accuracy_summary(ds.sel(gamma=gamma))
    point = summary.sum([d for d in summary.dims]) if summary.dims else summary
    return pplot.failure_text(point)


def caption_learning_curves(ds: xr.Dataset) -> str:
    return analysis_caption(ds, (
        f"Top: test accuracy after each epoch, mean over {n_seeds(ds)} seed(s), band min-max; "
        "runs nearer chance than the best are marked ▼ at the bottom edge ('below axis'). "
        "Bottom: train loss (the batch-mean output energy of the feedforward prediction "
        f"before each step), mean over seeds, running mean over {LOSS_WINDOW} logged steps. "
        "Colour: γ; dashed: a γ with failed runs (run_status), counted in the legend.\n"
        "Columns: " + "; ".join(
            f"({PANEL_LETTERS[c]}, {PANEL_LETTERS[c + ds.sizes['weight_optimizer']]}) "
            f"{column_title(ds, opt)}" for c, opt in enumerate(ds["weight_optimizer"].values))
        + "."))


def summary_learning_curves(ds: xr.Dataset) -> str:
    lines = []
    for opt in ds["weight_optimizer"].values:
        s = _epoch_summary(ds["test_accuracy"].sel(weight_optimizer=opt))
        cells = [f"{g:g}: " + "→".join(short_number(float(v))
                                       for v in s["mean"].sel(gamma=g).values)
                 for g in ds["gamma"].values]
        best = [float(ds["gamma"][int(np.nanargmax(s["mean"].isel(epoch=e).values))])
                if np.isfinite(s["mean"].isel(epoch=e)).any() else float("nan")
                for e in range(s.sizes["epoch"])]
        lines.append(f"  {opt}: test accuracy by epoch {{{', '.join(cells)}}}; best gamma "
                     f"by epoch {' → '.join(f'{b:g}' for b in best)}")
    return "\n".join(lines)


LEARNING_CURVES = Figure(
    name="learning_curves",
    description="Test accuracy after each epoch and train loss over steps, colour = "
                "gamma, momentum vs AdamW weights; PC at the analysis width over several "
                "epochs of a training subset.",
    sweeps=lambda p: {f"curves-{o}": curve_spec(p, o) for o in WEIGHT_OPTIMIZERS},
    data=lambda p, r: keep(trim(optimizers(p, r, "curves"), keep_t=False), *ACCURACY_VARS),
    plot=plot_learning_curves,
    caption=caption_learning_curves,
    summary=summary_learning_curves,
)
