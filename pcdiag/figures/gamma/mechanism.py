"""``mechanism``: test accuracy and each layer's weight-gradient norm and relative update
against gamma (the runs of accuracy_vs_gamma), momentum vs AdamW weights."""

from __future__ import annotations

import json

import numpy as np
import xarray as xr
from matplotlib.figure import Figure as MplFigure
from matplotlib.lines import Line2D

import pcdiag.plot as pplot
from pcdiag.figures.captions import n_seeds
from pcdiag.figures.gamma.accuracy import ACCURACY_NOTE, accuracy_lines
from pcdiag.figures.gamma.limit import probe_specs, without_probe
from pcdiag.figures.gamma.profile import accuracy_data, analysis_caption, main_specs
from pcdiag.figures.layout import (
    OPTIMIZER_PANEL,
    TWO_COLUMNS,
    batch_mean_axis,
    name_panels,
    short_number,
)
from pcdiag.figures.registry import Figure
from pcdiag.plot.energy import zero_floor
from pcdiag.plot.sensitivity import (
    chance_level,
    failure_legend,
    fit_accuracy_axes,
    healthy,
    mark_failed_at_edge,
)
from pcdiag.plot.styling import PANEL_LETTERS, style
from pcdiag.plot.updates import QUANTITIES, layer_norm_summary, layer_norms_vs_gamma

#: Column titles of the figures with one column per weight optimizer.
OPTIMIZER_TEXT = {"momentum": "SGD with momentum (weights)", "adamw": "AdamW (weights)"}
#: The rows of the mechanism figure under the accuracy row (pcdiag.plot.updates.QUANTITIES).
MECHANISM_ROWS = ("weight_grad_norm", "relative_update")
#: The fraction of the logged steps the mechanism figure's norms are read over.
FINAL = 0.1


def column_title(ds: xr.Dataset, opt: str) -> str:
    lr = ds["weight_lr"].sel(weight_optimizer=opt) if "weight_lr" in ds.coords else None
    return OPTIMIZER_TEXT.get(str(opt), str(opt)) + (f", lr {float(lr):g}" if lr is not None
                                                     else "")


def require_optimizers(ds: xr.Dataset, what: str, variables: tuple[str, ...]) -> None:
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
    require_optimizers(ds, "mechanism", ("test_accuracy", "weight_grad_norm", "update_norm",
                                          "weight_norm"))
    opts = list(ds["weight_optimizer"].values)
    level = momentum_decay_level(ds)
    with style():
        fig = MplFigure(figsize=(TWO_COLUMNS, 6.8), layout="constrained")
        axes = fig.subplots(1 + len(MECHANISM_ROWS), len(opts), sharex=True, sharey="row",
                            squeeze=False)
        # the norm rows fit the healthy runs; a failed run is marked on their bottom edge
        norms = healthy(ds, "weight_grad_norm", "update_norm", "weight_norm")
        summaries = {q: layer_norm_summary(norms, q, FINAL) for q in MECHANISM_ROWS}
        floors = {q: zero_floor(xr.concat([s["median"], s["min"]], "k"))
                  for q, s in summaries.items()}
        accuracy = []
        for col, opt in enumerate(opts):
            part = ds.sel(weight_optimizer=opt)
            top = axes[0, col]
            pplot.accuracy_vs_gamma(part, top, hue=None, fit=False)
            accuracy.append(pplot.accuracy_summary(part))
            top.set_xlabel("")
            for row, quantity in enumerate(MECHANISM_ROWS, start=1):
                ax = axes[row, col]
                if quantity == "relative_update" and opt == "momentum" and level:
                    ax.axhline(level, color="0.45", linestyle=":", linewidth=1,
                               label=f"weight decay alone: lr·wd/(1−β) = {level:.0e}")
                layer_norms_vs_gamma(norms.sel(weight_optimizer=opt), ax, quantity=quantity,
                                     final=FINAL, floor=floors[quantity])
                mark_failed_at_edge(ax, part, "gamma")
                if row < len(MECHANISM_ROWS):
                    ax.set_xlabel("")
                if col:
                    ax.set_ylabel("")
            if col:
                top.set_ylabel("")
        fit_accuracy_axes(list(axes[0]), "gamma", accuracy, chance=chance_level(ds))
        for ax in axes[0]:
            batch_mean_axis(ax, ds)
        _mechanism_legend(fig, axes, ds, summaries, floors)
        name_panels(axes.ravel(), [OPTIMIZER_PANEL.get(str(opt), "")
                                   for _ in range(axes.shape[0]) for opt in opts])
    return fig


def _ratio_text(summary: xr.Dataset) -> str:
    """Layer 1 against the output layer at the smallest gamma (a panel's caption)."""
    med = summary["median"].isel(gamma=0)
    first, last = float(med.isel(layer=0)), float(med.isel(layer=-1))
    ratio = first / last if last > 0 else float("nan")
    return f"{ratio:.1e}"


def mechanism_panels_text(ds: xr.Dataset) -> str:
    """The columns (weight optimizers) and, per norm panel, layer 1 over the output layer at
    the smallest gamma (from the healthy runs, as drawn)."""
    opts = [str(o) for o in ds["weight_optimizer"].values]
    letters = np.array(list(PANEL_LETTERS[:len(opts) * (1 + len(MECHANISM_ROWS))]))
    letters = letters.reshape(1 + len(MECHANISM_ROWS), len(opts))
    columns = "; ".join(f"({', '.join(letters[:, c])}) {column_title(ds, opt)}"
                        for c, opt in enumerate(opts))
    norms = healthy(ds, "weight_grad_norm", "update_norm", "weight_norm")
    gamma = float(ds["gamma"][0])
    ratios = []
    for row, quantity in enumerate(MECHANISM_ROWS, start=1):
        summary = layer_norm_summary(norms, quantity, FINAL)
        name = "gradient norm" if quantity == "weight_grad_norm" else "relative update"
        ratios += [f"({letters[row, c]}) {name}, {opt}: "
                   f"{_ratio_text(summary.sel(weight_optimizer=opt))}"
                   for c, opt in enumerate(opts)]
    return (f"Columns: {columns}. Layer 1 over the output layer at γ = {gamma:g}: "
            + "; ".join(ratios) + ".")


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
    failure_legend(handles, labels, counts, int(ds["test_accuracy"].isel(epoch=-1).size),
                   "runs (norm rows: at the bottom edge)")
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


def caption_mechanism(ds: xr.Dataset) -> str:
    return analysis_caption(ds, (
        f"The runs of accuracy_vs_gamma. Top: {ACCURACY_NOTE.format(n=n_seeds(ds))} Middle: "
        "the Frobenius norm of each layer's weight gradient (W_ℓ and b_ℓ; layer 1 nearest the "
        "input); bottom: the relative update ‖ΔW_ℓ‖/‖W_ℓ‖ (the weight optimizer's update "
        f"over the weights after the step). Lines: median over the last {FINAL:.0%} of the "
        "logged steps and the seeds; bands: min-max over seeds of each seed's median. A log "
        "axis cannot show 0: zeros are drawn at a floor marked ▽ and counted in the legend. "
        "Dotted (momentum): the relative update weight decay alone gives in steady state, "
        "lr·wd/(1−β).\n" + mechanism_panels_text(ds)))


def _layer_cells(summary: xr.Dataset, gamma: float) -> str:
    med = summary["median"].sel(gamma=gamma)
    cells = [f"L{int(layer)} {short_number(float(med.sel(layer=layer)))}"
             for layer in med["layer"].values]
    last = float(med.isel(layer=-1))
    ratio = float(med.isel(layer=0)) / last if last > 0 else float("nan")
    return f"{', '.join(cells)} (L1/output {short_number(ratio)})"


def summary_mechanism(ds: xr.Dataset) -> str:
    lines = [accuracy_lines(ds, "weight_optimizer")]
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


MECHANISM = Figure(
    name="mechanism",
    description="Test accuracy (top) and each layer's weight-gradient norm and relative "
                "update ||dW_l||/||W_l|| (median over the final 10% of steps, log) "
                "against gamma on one shared x axis, momentum vs AdamW weights; the runs "
                "of accuracy_vs_gamma.",
    # accuracy_vs_gamma's sweeps (its file carries the stability probe: pcdiag.figures.
    # gamma.limit), whose variables this figure does not draw
    sweeps=lambda p: main_specs(p) | probe_specs(p),
    data=accuracy_data,
    plot=lambda ds: plot_mechanism(without_probe(ds)),
    caption=lambda ds: caption_mechanism(without_probe(ds)),
    summary=lambda ds: summary_mechanism(without_probe(ds)),
    data_from="accuracy_vs_gamma",  # the same runs: one file, accuracy_vs_gamma.nc
)
