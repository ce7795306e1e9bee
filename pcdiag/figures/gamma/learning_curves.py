"""``learning_curves``: test accuracy per epoch and train loss over several epochs, by
gamma, momentum vs AdamW weights, with BP (same network, optimizer and budget) beside PC;
PC's best gamma is chosen on a held-out validation split and compared with BP paired by
seed."""

from __future__ import annotations

import numpy as np
import xarray as xr
from matplotlib.figure import Figure as MplFigure
from matplotlib.lines import Line2D

import pcdiag.plot as pplot
from pcdiag.figures.captions import n_seeds
from pcdiag.figures.experiments import bp_runs, broadcast, combine, config_of, trim
from pcdiag.figures.gamma.accuracy import ACCURACY_VARS, lean_by_width
from pcdiag.figures.gamma.mechanism import column_title, require_optimizers
from pcdiag.figures.gamma.profile import WEIGHT_OPTIMIZERS, analysis_caption, curve_spec, optimizers
from pcdiag.figures.layout import OPTIMIZER_PANEL, TWO_COLUMNS, name_panels, short_number
from pcdiag.figures.registry import Figure
from pcdiag.plot.sensitivity import chance_level, fit_accuracy_axes
from pcdiag.plot.styling import PANEL_LETTERS, algorithm_style, decorate, palette, style
from pcdiag.selection import at_best_gamma
from pcdiag.table1.stats import paired_interval


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
        summaries, reference = [], []
        bp_style = algorithm_style("bp")
        bp = bp_runs(ds)
        for col, opt in enumerate(opts):
            part = ds.sel(weight_optimizer=opt)
            s = _epoch_summary(part["test_accuracy"])
            summaries.append(s)
            top, bottom = axes[0, col], axes[1, col]
            top.axhline(chance_level(ds), color="0.6", linestyle=":", linewidth=0.8, zorder=0)
            loss = _smoothed_loss(part["train_loss"])
            x = (ds["step"].values + 1) / per_epoch
            if bp is not None:
                b = _epoch_summary(bp["test_accuracy"].sel(weight_optimizer=opt))
                reference += [v for k in ("mean", "min", "max") for v in b[k].values]
                top.plot(epochs, b["mean"].values, color=bp_style["color"],
                         marker=bp_style["marker"], markersize=4, linestyle="-", zorder=3)
                top.fill_between(epochs, b["min"].values, b["max"].values,
                                 color=bp_style["color"], alpha=0.1, linewidth=0)
                bottom.plot(x, _smoothed_loss(bp["train_loss"].sel(weight_optimizer=opt)).values,
                            color=bp_style["color"], linewidth=1, zorder=3)
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
        fit_accuracy_axes(list(axes[0]), "epoch", summaries, reference,
                          chance=chance_level(ds))
        for ax in axes[0]:  # its "below axis" note reads rightwards from the first epoch
            for note in ax.texts:
                note.set_horizontalalignment("left")
                note.xyann = (4, 2)
        handles = [Line2D([], [], color=c, marker="o", markersize=3,
                          linestyle="--" if _failures_at(ds, g) else "-")
                   for c, g in zip(colours, gammas)]
        labels = [f"γ = {g:g}" + _failures_at(ds, g) for g in gammas]
        if bp is not None:
            handles.append(Line2D([], [], color=bp_style["color"], marker=bp_style["marker"],
                                  markersize=4))
            labels.append("BP" + _failures(bp))
        fig.legend(handles, labels, loc="outside lower center", title="PC at γ (per sample); BP",
                   ncols=min(len(labels), 4))
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


def _failures(runs: xr.Dataset) -> str:
    """' (3/6 collapsed)' for all of `runs`, over every weight optimizer and seed."""
    summary = pplot.accuracy_summary(runs)
    point = summary.sum([d for d in summary.dims]) if summary.dims else summary
    return pplot.failure_text(point)


def _failures_at(ds: xr.Dataset, gamma: float) -> str:
    """_failures of the runs at one gamma."""
    return _failures(ds.sel(gamma=gamma))


def caption_learning_curves(ds: xr.Dataset) -> str:
    return analysis_caption(ds, (
        f"Top: test accuracy after each epoch, mean over {n_seeds(ds)} seed(s), band min-max; "
        "runs nearer chance than the best are marked ▼ at the bottom edge ('below axis'). "
        "Bottom: train loss (the batch-mean output energy of the feedforward prediction "
        f"before each step), mean over seeds, running mean over {LOSS_WINDOW} logged steps. "
        "Colour: γ; dashed: a γ with failed runs (run_status), counted in the legend. "
        + _bp_caption(ds) + "\n"
        "Columns: " + "; ".join(
            f"({PANEL_LETTERS[c]}, {PANEL_LETTERS[c + ds.sizes['weight_optimizer']]}) "
            f"{column_title(ds, opt)}" for c, opt in enumerate(ds["weight_optimizer"].values))
        + "."))


def _bp_caption(ds: xr.Dataset) -> str:
    if bp_runs(ds) is None:
        return ""
    text = ("Black ★: BP on the same network with the same weight optimizer, learning rate "
            "and data (its learning rate not tuned).")
    if "validation_accuracy" in ds:
        text += (f" PC's γ for the comparison with BP is chosen on the last "
                 f"{config_of(ds).validation_size} images of the training file, held out "
                 "(final epoch, median over seeds; pcdiag figures --summary).")
    return text


def validated_vs_bp(ds: xr.Dataset, opt: str, confidence: float = 0.95) -> dict:
    """For one weight optimizer: PC's γ chosen on the validation split (final epoch, median
    over seeds, every seed ok: pcdiag.selection.at_best_gamma), its and BP's test accuracy
    by epoch (mean over seeds), the paired difference PC − BP at the final epoch with its
    `confidence` t interval, and each one's validation accuracy gain over the last
    PLATEAU_EPOCHS epochs (mean over seeds: near 0 at a plateau)."""
    part = ds.sel(weight_optimizer=opt)
    pc, gamma, every_seed_ok = at_best_gamma(part, default=float(ds["gamma"][0]))
    bp = bp_runs(part)
    interval = paired_interval(pc["test_accuracy"].isel(epoch=-1).values,
                               bp["test_accuracy"].isel(epoch=-1).values, confidence)[:3]
    back = min(PLATEAU_EPOCHS, pc.sizes["epoch"] - 1)

    def gain(runs):
        v = runs["validation_accuracy"].mean("seed")
        return float(v.isel(epoch=-1) - v.isel(epoch=-1 - back)) if back else np.nan
    return {"gamma": gamma, "every_seed_ok": every_seed_ok,
            "pc": pc["test_accuracy"].mean("seed").values,
            "bp": bp["test_accuracy"].mean("seed").values, "difference": interval,
            "pc_gain": gain(pc), "bp_gain": gain(bp), "epochs": back}


#: The epochs over which learning_curves' summary reads the validation gain (a plateau).
PLATEAU_EPOCHS = 3


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
        if bp_runs(ds) is None or "validation_accuracy" not in ds:
            continue
        v = validated_vs_bp(ds, str(opt))
        mean, low, high = v["difference"]
        arrows = {k: "→".join(short_number(float(x)) for x in v[k]) for k in ("pc", "bp")}
        lines.append(
            f"    validated gamma {v['gamma']:g}{'' if v['every_seed_ok'] else '*'}: PC "
            f"{arrows['pc']}; BP {arrows['bp']}; PC − BP at the last epoch {mean:+.3f} "
            f"[{low:+.3f}, {high:+.3f}] (95% paired t); validation gain over the last "
            f"{v['epochs']} epochs: PC {v['pc_gain']:+.3f}, BP {v['bp_gain']:+.3f}")
    return "\n".join(lines)


#: What learning_curves keeps: ACCURACY_VARS and the validation accuracy PC's γ is chosen on.
CURVE_VARS = (*ACCURACY_VARS, "validation_accuracy")


def _curve_data(profile, results) -> xr.Dataset:
    """PC over gamma x seed and BP over seed, both weight optimizers, BP stored once
    (bp_<variable>, lean_by_width)."""
    pc = trim(optimizers(profile, results, "curves"), keep_t=False)
    bp = broadcast(trim(optimizers(profile, results, "curves-bp"), keep_t=False), "gamma", pc)
    names = tuple(n for n in CURVE_VARS if n in pc)
    return lean_by_width(combine({"pc": pc, "bp": bp}, "algorithm"), names)


LEARNING_CURVES = Figure(
    name="learning_curves",
    description="Test accuracy after each epoch and train loss over steps, colour = "
                "gamma, momentum vs AdamW weights; PC at the analysis width over several "
                "epochs of a training subset.",
    sweeps=lambda p: {f"curves-{o}": curve_spec(p, o) for o in WEIGHT_OPTIMIZERS} | {
        f"curves-bp-{o}": curve_spec(p, o, "bp") for o in WEIGHT_OPTIMIZERS},
    data=_curve_data,
    plot=plot_learning_curves,
    caption=caption_learning_curves,
    summary=summary_learning_curves,
)
