"""The analysis figures: the [784, W, W, 10] network's energy per layer, its energy imbalance
and its test accuracy against the state learning rate gamma (by weight optimizer, width and
state optimizer).

- ``energy_per_layer``: energy of each layer over training and over inference iterations;
- ``accuracy_vs_gamma``: test accuracy against gamma, SGD-momentum vs AdamW weights;
- ``energy_ratio_vs_gamma``: E_l / E_{l+1} against gamma;
- ``accuracy_vs_gamma_by_width``: test accuracy against gamma by width, PC and BP;
- ``accuracy_vs_gamma_state_optimizer``: test accuracy against gamma, SGD vs Adam states;
- ``mechanism``: accuracy and per-layer weight-gradient norms and relative updates against
  gamma (from accuracy_vs_gamma's sweeps), momentum vs AdamW weights;
- ``learning_curves``: test accuracy per epoch and train loss over several epochs, by gamma;
- ``accuracy_vs_gamma_pcx``: accuracy_vs_gamma under PCX's convention (batch-mean gamma,
  momentum on the states).
"""

from __future__ import annotations

import json

import numpy as np
import xarray as xr
from matplotlib.figure import Figure as MplFigure
from matplotlib.lines import Line2D

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
    per_sample_axis,
)
from pcdiag.figures.profiles import (
    PCX_STATE_MOMENTUM,
    WEIGHT_LR,
    WEIGHT_OPTIMIZERS,
    Profile,
)
from pcdiag.figures.registry import Figure, register
from pcdiag.plot._style import decorate, final_fraction, palette, style
from pcdiag.plot.energy import zero_floor
from pcdiag.plot.sensitivity import CHANCE, failure_legend, fit_accuracy_axes
from pcdiag.plot.updates import QUANTITIES, layer_norm_summary, layer_norms_vs_gamma

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


def _accuracy_data(profile: Profile, results) -> xr.Dataset:
    """PC at the analysis width, both weight optimizers, without the per-t variables
    (accuracy_vs_gamma and mechanism)."""
    return trim(optimizers(profile, results, "pc", **analysis_run(profile)), keep_t=False)


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
        data=_accuracy_data,
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


# --------------------------------------------------------------------------- mechanism,
# learning curves, PCX's convention

#: Column titles of the figures with one column per weight optimizer.
OPTIMIZER_TEXT = {"momentum": "SGD with momentum (weights)", "adamw": "AdamW (weights)"}
#: The rows of the mechanism figure under the accuracy row (pcdiag.plot.updates.QUANTITIES).
MECHANISM_ROWS = ("weight_grad_norm", "relative_update")
#: The fraction of the logged steps the mechanism figure's norms are read over.
FINAL = 0.1


def _column_title(ds: xr.Dataset, opt: str) -> str:
    lr = ds["weight_lr"].sel(weight_optimizer=opt) if "weight_lr" in ds.coords else None
    return OPTIMIZER_TEXT.get(str(opt), str(opt)) + (f", lr {float(lr):g}" if lr is not None
                                                     else "")


def _require_optimizers(ds: xr.Dataset, what: str, variables: tuple[str, ...]) -> None:
    if "weight_optimizer" not in ds.dims or "gamma" not in ds.dims:
        raise ValueError(f"{what} needs the sweep dims weight_optimizer and gamma; the Dataset "
                         f"has dims {list(ds.dims)}: make it with the figure's experiment "
                         f"(pcdiag figures --only {what})")
    missing = [v for v in variables if v not in ds]
    if missing:
        raise ValueError(f"{what} needs the variable(s) {', '.join(missing)}; the Dataset has "
                         f"{', '.join(map(str, ds.data_vars))}")


def momentum_decay_level(ds: xr.Dataset) -> float | None:
    """The relative update of weights moved by weight decay alone under SGD with momentum
    (steady state): lr x weight_decay / (1 - momentum); None without those settings."""
    settings = json.loads(ds.attrs.get("weight_optimizer_settings", "{}")).get("momentum")
    if not settings or "momentum" not in settings:
        return None
    return settings["weight_lr"] * settings["weight_decay"] / (1 - settings["momentum"])


def plot_mechanism(ds: xr.Dataset) -> MplFigure:
    _require_optimizers(ds, "mechanism", ("test_accuracy", "weight_grad_norm", "update_norm",
                                          "weight_norm"))
    opts = list(ds["weight_optimizer"].values)
    level = momentum_decay_level(ds)
    with style():
        fig = MplFigure(figsize=(TWO_COLUMNS, 6.8), layout="constrained")
        axes = fig.subplots(1 + len(MECHANISM_ROWS), len(opts), sharex=True, sharey="row",
                            squeeze=False)
        summaries = {q: layer_norm_summary(ds, q, FINAL) for q in MECHANISM_ROWS}
        floors = {q: zero_floor(xr.concat([s["median"], s["min"]], "k"))
                  for q, s in summaries.items()}
        accuracy = []
        for col, opt in enumerate(opts):
            part = ds.sel(weight_optimizer=opt)
            top = axes[0, col]
            pplot.accuracy_vs_gamma(part, top, hue=None, fit=False, colour="0.2")
            accuracy.append(pplot.accuracy_summary(part))
            top.set_title(_column_title(ds, opt), loc="left")
            top.set_xlabel("")
            for row, quantity in enumerate(MECHANISM_ROWS, start=1):
                ax = axes[row, col]
                if quantity == "relative_update" and opt == "momentum" and level:
                    ax.axhline(level, color="0.45", linestyle=":", linewidth=1,
                               label=f"weight decay alone: lr·wd/(1−β) = {level:.0e}")
                layer_norms_vs_gamma(part, ax, quantity=quantity, final=FINAL,
                                     floor=floors[quantity])
                ax.set_title(_ratio_text(summaries[quantity].sel(weight_optimizer=opt)),
                             loc="left")
                if row < len(MECHANISM_ROWS):
                    ax.set_xlabel("")
                if col:
                    ax.set_ylabel("")
            if col:
                top.set_ylabel("")
        fit_accuracy_axes(list(axes[0]), "gamma", accuracy)
        for ax in axes[0]:
            batch_mean_axis(ax, ds)
        _mechanism_legend(fig, axes, ds, summaries, floors)
        fig.suptitle(f"Accuracy, weight gradients and relative updates per layer vs γ (PC, "
                     f"width {config_of(ds).width})")
    return fig


def _ratio_text(summary: xr.Dataset) -> str:
    """Layer 1 against the output layer at the smallest gamma (a panel's title)."""
    med = summary["median"].isel(gamma=0)
    first, last = float(med.isel(layer=0)), float(med.isel(layer=-1))
    ratio = first / last if last > 0 else float("nan")
    return f"at γ = {float(summary['gamma'][0]):g}: layer 1 / output = {ratio:.1e}"


def _mechanism_legend(fig: MplFigure, axes, ds: xr.Dataset, summaries: dict,
                      floors: dict) -> None:
    """One legend under the figure: the layers, the accuracy line, the guide, the failed runs
    (every panel) and the zeros drawn at each row's floor."""
    handles, labels = [], []
    for ax in axes.ravel():
        legend = ax.get_legend()
        if legend is None:
            continue
        for handle, text in zip(legend.legend_handles, legend.get_texts()):
            text = text.get_text().replace("test accuracy", "test accuracy (mean; dots: seeds)")
            if text.startswith(("0 (at the floor",) + tuple(
                    t for _, t in pplot.FAILURE_MARKERS.values())) or text in labels:
                continue
            handles.append(handle)
            labels.append(text)
        legend.remove()
    summary = pplot.accuracy_summary(ds)
    counts = {name: int(summary[name].sum()) for name in pplot.FAILURE_MARKERS}
    failure_legend(handles, labels, counts, int(ds["test_accuracy"].isel(epoch=-1).size))
    for quantity, s in summaries.items():
        zeros = int(s["zeros"].sum())
        if zeros:
            handles.append(Line2D([], [], color="0.3", linestyle="none", marker="v",
                                  markerfacecolor="none"))
            symbol = "‖∇W_ℓ‖" if quantity == "weight_grad_norm" else "‖ΔW_ℓ‖"
            labels.append(f"{symbol} = 0 (drawn at {floors[quantity]:.0e}): {zeros} of "
                          f"{int(s['samples'].sum())} samples")
    order = sorted(range(len(labels)), key=lambda i: not labels[i].startswith("layer"))
    fig.legend([handles[i] for i in order], [labels[i] for i in order],
               loc="outside lower center", ncols=3)


def plot_learning_curves(ds: xr.Dataset) -> MplFigure:
    _require_optimizers(ds, "learning_curves", ("test_accuracy", "train_loss"))
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
            top.axhline(CHANCE, color="0.6", linestyle=":", linewidth=0.8, zorder=0)
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
            top.set_title(_column_title(ds, opt), loc="left")
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
        fit_accuracy_axes(list(axes[0]), "epoch", summaries)
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
        cfg = config_of(ds)
        fig.suptitle(f"Learning curves by γ: PC, width {cfg.width}, {cfg.n_train} training "
                     f"images, {cfg.epochs} epochs")
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


def plot_accuracy_vs_gamma_pcx(ds: xr.Dataset) -> MplFigure:
    def draw(ds: xr.Dataset, ax) -> None:
        pplot.accuracy_vs_gamma(ds, ax, hue="weight_optimizer")
        if ds.attrs.get("gamma_convention") == "batch_mean":
            ax.set_xlabel("batch-mean γ")
        per_sample_axis(ax, ds)
    return one_panel(ds, draw, "Test accuracy vs γ under PCX's convention (PC)")


def caption_mechanism(ds: xr.Dataset) -> str:
    return analysis_caption(ds, (
        f"The runs of accuracy_vs_gamma. Top: {_ACCURACY_NOTE.format(n=_seeds(ds))} Middle: "
        "the Frobenius norm of each layer's weight gradient (W_ℓ and b_ℓ; layer 1 nearest the "
        "input); bottom: the relative update ‖ΔW_ℓ‖/‖W_ℓ‖ (the weight optimizer's update "
        f"over the weights after the step). Lines: median over the last {FINAL:.0%} of the "
        "logged steps and the seeds; bands: min-max over seeds of each seed's median. A log "
        "axis cannot show 0: zeros are drawn at a floor marked ▽ and counted in the legend. "
        "Dotted (momentum): the relative update weight decay alone gives in steady state, "
        "lr·wd/(1−β). Panel titles: layer 1 over the output layer at the smallest γ."))


def caption_learning_curves(ds: xr.Dataset) -> str:
    return analysis_caption(ds, (
        f"Top: test accuracy after each epoch, mean over {_seeds(ds)} seed(s), band min-max; "
        "runs nearer chance than the best are marked ▼ at the bottom edge ('below axis'). "
        "Bottom: train loss (the batch-mean output energy of the feedforward prediction "
        f"before each step), mean over seeds, running mean over {LOSS_WINDOW} logged steps. "
        "Colour: γ; dashed: a γ with failed runs (run_status), counted in the legend."))


def caption_accuracy_vs_gamma_pcx(ds: xr.Dataset) -> str:
    cfg = config_of(ds)
    return analysis_caption(ds, (
        _ACCURACY_NOTE.format(n=_seeds(ds)).replace(
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


def _layer_cells(summary: xr.Dataset, gamma: float) -> str:
    med = summary["median"].sel(gamma=gamma)
    cells = [f"L{int(layer)} {_fmt(float(med.sel(layer=layer)))}" for layer in med["layer"].values]
    last = float(med.isel(layer=-1))
    ratio = float(med.isel(layer=0)) / last if last > 0 else float("nan")
    return f"{', '.join(cells)} (L1/output {_fmt(ratio)})"


def summary_mechanism(ds: xr.Dataset) -> str:
    lines = [_acc_lines(ds, "weight_optimizer")]
    acc = pplot.accuracy_summary(ds)["mean"]
    for quantity in MECHANISM_ROWS:
        summary = layer_norm_summary(ds, quantity, FINAL)
        name = QUANTITIES[quantity].split(" ‖")[0]
        for opt in ds["weight_optimizer"].values:
            s = summary.sel(weight_optimizer=opt)
            a = acc.sel(weight_optimizer=opt).values
            best = float(ds["gamma"][int(np.nanargmax(a))]) if np.isfinite(a).any() else None
            gammas = dict.fromkeys([float(ds["gamma"][0])] + ([best] if best else []))
            cells = "; ".join(f"gamma {g:g}: {_layer_cells(s, g)}" for g in gammas)
            zeros = int(s["zeros"].sum())
            lines.append(f"  {name}, {opt} (median, last {FINAL:.0%} of steps): {cells}"
                         + (f"; {zeros} of {int(s['samples'].sum())} samples exactly 0"
                            if zeros else ""))
    level = momentum_decay_level(ds)
    if level:
        lines.append(f"  momentum: weight decay alone gives a relative update of {level:.2g}")
    return "\n".join(lines)


def summary_learning_curves(ds: xr.Dataset) -> str:
    lines = []
    for opt in ds["weight_optimizer"].values:
        s = _epoch_summary(ds["test_accuracy"].sel(weight_optimizer=opt))
        cells = [f"{g:g}: " + "→".join(_fmt(float(v)) for v in s["mean"].sel(gamma=g).values)
                 for g in ds["gamma"].values]
        best = [float(ds["gamma"][int(np.nanargmax(s["mean"].isel(epoch=e).values))])
                if np.isfinite(s["mean"].isel(epoch=e)).any() else float("nan")
                for e in range(s.sizes["epoch"])]
        lines.append(f"  {opt}: test accuracy by epoch {{{', '.join(cells)}}}; best gamma "
                     f"by epoch {' → '.join(f'{b:g}' for b in best)}")
    return "\n".join(lines)


def summary_accuracy_vs_gamma_pcx(ds: xr.Dataset) -> str:
    batch = config_of(ds).batch_size
    return (_acc_lines(ds, "weight_optimizer") + f"\n  (batch-mean gamma; per-sample = gamma "
            f"/ {batch})")


def curve_spec(profile: Profile, weight_optimizer: str) -> SweepSpec:
    """learning_curves' sweep: PC at the analysis width, the profile's gammas and seeds,
    `curve_epochs` epochs over `curve_train_limit` training images."""
    config = profile.base().replace(
        weight_optimizer=weight_optimizer, weight_lr=WEIGHT_LR[weight_optimizer],
        epochs=profile.curve_epochs, train_limit=profile.curve_train_limit)
    return SweepSpec.make(f"curves-{weight_optimizer}", config, gamma=profile.gammas,
                          seed=profile.seeds)


def pcx_gammas(profile: Profile) -> tuple[float, ...]:
    """accuracy_vs_gamma_pcx's batch-mean gammas: the profile's per-sample ones x B."""
    batch = profile.base().batch_size
    return tuple(float(f"{g * batch:.6g}") for g in profile.gammas)


def pcx_spec(profile: Profile, weight_optimizer: str) -> SweepSpec:
    """accuracy_vs_gamma's network under PCX's convention: batch-mean gamma, SGD states with
    momentum PCX_STATE_MOMENTUM."""
    config = profile.base().replace(
        weight_optimizer=weight_optimizer, weight_lr=WEIGHT_LR[weight_optimizer],
        gamma_convention="batch_mean", state_optimizer="momentum",
        state_momentum=PCX_STATE_MOMENTUM)
    return SweepSpec.make(f"pcx-{weight_optimizer}", config, gamma=pcx_gammas(profile),
                          seed=profile.seeds)


FIGURES_HERE += tuple(register(figure) for figure in (
    Figure(
        name="mechanism",
        description="Test accuracy (top) and each layer's weight-gradient norm and relative "
                    "update ||dW_l||/||W_l|| (median over the final 10% of steps, log) "
                    "against gamma on one shared x axis, momentum vs AdamW weights; the runs "
                    "of accuracy_vs_gamma.",
        sweeps=_main_specs,
        data=_accuracy_data,
        plot=plot_mechanism,
        caption=caption_mechanism,
        summary=summary_mechanism,
    ),
    Figure(
        name="learning_curves",
        description="Test accuracy after each epoch and train loss over steps, colour = "
                    "gamma, momentum vs AdamW weights; PC at the analysis width over several "
                    "epochs of a training subset.",
        sweeps=lambda p: {f"curves-{o}": curve_spec(p, o) for o in WEIGHT_OPTIMIZERS},
        data=lambda p, r: trim(optimizers(p, r, "curves"), keep_t=False),
        plot=plot_learning_curves,
        caption=caption_learning_curves,
        summary=summary_learning_curves,
    ),
    Figure(
        name="accuracy_vs_gamma_pcx",
        description="accuracy_vs_gamma under PCX's convention: batch-mean gamma (x axis; "
                    "top: per-sample units) and SGD states with momentum 0.4, momentum vs "
                    "AdamW weights.",
        sweeps=lambda p: {f"pcx-{o}": pcx_spec(p, o) for o in WEIGHT_OPTIMIZERS},
        data=lambda p, r: trim(optimizers(p, r, "pcx"), keep_t=False),
        plot=plot_accuracy_vs_gamma_pcx,
        caption=caption_accuracy_vs_gamma_pcx,
        summary=summary_accuracy_vs_gamma_pcx,
    ),
))
FIGURE_NAMES = tuple(figure.name for figure in FIGURES_HERE)
