"""Sensitivity to the state learning rate gamma: test accuracy against gamma."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import xarray as xr
from matplotlib.axes import Axes
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from pcdiag import status as status_module
from pcdiag.data.registry import info
from pcdiag.dataset import config_of
from pcdiag.plot.styling import (
    ALGORITHM_STYLE,
    LINESTYLES,
    NEUTRAL,
    data_algorithm,
    decorate,
    label,
    new_axes,
    optimizer_style,
    palette,
    require_dims,
    set_title,
    value_text,
)

#: How a point with failed runs is marked, by run_status name: (marker, legend text). The
#: 'x' is drawn over the line; the others are large hollow markers around its point.
FAILURE_MARKERS = {
    "diverged": ("x", "diverged"),
    "inference_unstable": ("D", "inference unstable"),
    "collapsed": ("s", "collapsed"),
}


#: The sweep dims that hold optimizers (drawn by line style) and what they move.
OPTIMIZER_DIMS = {"weight_optimizer": "weights", "state_optimizer": "states"}


def chance_level(ds: xr.Dataset) -> float:
    """The accuracy of a guess on the data set `ds` was trained on (pcdiag.data.registry)."""
    return info(config_of(ds).dataset).chance


def accuracy_line(ax: Axes, x, summary: xr.Dataset, colour, *, band: bool, chance: float,
                  **line) -> dict:
    """Mean accuracy against x, a min-max band over seeds when `band`, and a marker where a
    run failed (FAILURE_MARKERS; drawn at `chance` where the mean is NaN). Returns how many
    runs failed, by run_status name."""
    ax.plot(x, summary["mean"].values, color=colour, **({"marker": "o"} | line))
    if band:
        ax.fill_between(x, summary["min"].values, summary["max"].values, color=colour,
                        alpha=0.15, linewidth=0)
    return mark_failures(ax, x, summary, colour, chance)


def mark_failures(ax: Axes, x, summary: xr.Dataset, colour, chance: float) -> dict:
    """A FAILURE_MARKERS marker at (x, mean) wherever `summary[name]` (failed runs per point,
    by run_status name) is positive; at `chance` where the mean is NaN. Returns how many runs
    failed, by name."""
    x = np.asarray(x)
    y = np.where(np.isfinite(summary["mean"].values), summary["mean"].values, chance)
    counts = {}
    for name, (marker, _) in FAILURE_MARKERS.items():
        n = summary[name].values
        counts[name] = int(n.sum())
        bad = n > 0
        if not bad.any():
            continue
        look = ({"markersize": 8, "markeredgewidth": 1.8} if marker == "x" else
                {"markersize": 9, "markeredgewidth": 1.3, "markerfacecolor": "none"})
        ax.plot(x[bad], y[bad], linestyle="none", marker=marker, color=colour,
                label=f"_{name}", **look)
    return counts


def healthy(ds: xr.Dataset, *variables: str) -> xr.Dataset:
    """`ds` with `variables` NaN in the runs that are not ok (run_status): what an axis is
    fitted to; the failed runs are marked at the edge instead (mark_failed_at_edge)."""
    if "run_status" not in ds:
        return ds
    ok = ds["run_status"] == status_module.OK
    return ds.assign({v: ds[v].where(ok) for v in variables if v in ds})


def mark_failed_at_edge(ax: Axes, ds: xr.Dataset, dim: str, colour=NEUTRAL) -> dict:
    """A FAILURE_MARKERS marker on the bottom edge of `ax` at each `dim` value where a run
    is not ok (run_status), clipped to the edge so it never stretches the axis. Returns how
    many runs failed, by run_status name."""
    if "run_status" not in ds:
        return {}
    flags = ds["run_status"]
    other = [d for d in flags.dims if d != dim]
    counts = {}
    for code, name in status_module.NAMES.items():
        if name not in FAILURE_MARKERS:
            continue
        hit = flags == code
        counts[name] = int(hit.sum())
        at = (hit.any(other) if other else hit).values
        if not at.any():
            continue
        marker = FAILURE_MARKERS[name][0]
        look = {} if marker == "x" else {"markerfacecolor": "white"}
        ax.plot(ds[dim].values[at], np.zeros(int(at.sum())), transform=ax.get_xaxis_transform(),
                linestyle="none", marker=marker, color=colour, markersize=6, clip_on=False,
                zorder=5, label=f"_{name}_at_edge", **look)
    return counts


def failure_text(point: xr.Dataset) -> str:
    """' (1/2 diverged, 1/2 collapsed)' for one point of accuracy_summary; '' when all ok."""
    runs = int(point["runs"])
    parts = [f"{int(point[name])}/{runs} {name}" for name in FAILURE_MARKERS if int(point[name])]
    return f" ({', '.join(parts)})" if parts else ""


def add_counts(into: dict, counts: dict) -> dict:
    for name, n in counts.items():
        into[name] = into.get(name, 0) + n
    return into


def failure_legend(handles: list, labels: list, counts: dict, runs: int,
                   unit: str = "runs") -> None:
    """Append one legend entry per failure that occurred, with how many of `runs` `unit`."""
    for name, (marker, text) in FAILURE_MARKERS.items():
        if counts.get(name):
            hollow = {} if marker == "x" else {"markerfacecolor": "none"}
            handles.append(Line2D([], [], color="0.3", linestyle="none", marker=marker,
                                  **hollow))
            labels.append(f"{text}: {counts[name]} of {runs} {unit}")


def seed_points(ax: Axes, x, acc: xr.DataArray, dim: str, colour) -> None:
    """Each seed's accuracy as a small dot, spread a little along x so seeds stay visible
    where the min-max band is thin."""
    if "seed" not in acc.dims or acc.sizes["seed"] < 2:
        return
    values = acc.transpose(dim, "seed").values
    n = values.shape[1]
    spread = 10.0 ** np.linspace(-0.04, 0.04, n)  # x factors: equal steps on a log axis
    ax.plot((np.asarray(x)[:, None] * spread[None, :]).ravel(), values.ravel(),
            linestyle="none", marker="o", markersize=1.6, alpha=0.55, color=colour,
            markeredgewidth=0, zorder=3)


def fit_accuracy_axes(axes: Sequence[Axes], dim: str, summaries: Sequence[xr.Dataset],
                      reference: Sequence[float] = (), *, chance: float
                      ) -> tuple[float, float]:
    """One y range for `axes` that fits the healthy runs, runs below it marked instead.

    A run falls below the axis when its accuracy is nearer chance than the best mean (a
    drawing rule, not the run's `run_status`; `summaries[i]`:
    accuracy_summary of what axes[i] shows; a seed counts through the min-max range); a NaN
    mean means every seed diverged. The range spans the healthy means and seeds (and
    `reference` values, e.g. a BP band); where a run falls below, a marker sits at the bottom
    edge and one text per Axes states those accuracies. Returns the y limits."""
    means = np.concatenate([s["mean"].values.ravel() for s in summaries])
    if not np.isfinite(means).any():
        return axes[0].get_ylim()
    threshold = (float(np.nanmax(means)) + chance) / 2
    kept = [np.asarray(reference, float)]
    for s in summaries:
        ok = (s["mean"] >= threshold).values
        kept += [s[k].values[ok] for k in ("mean", "min", "max")]
    kept = np.concatenate([k.ravel() for k in kept])
    kept = kept[np.isfinite(kept) & (kept >= threshold)]
    if not kept.size:  # every mean below chance (a run of a few steps): nothing to fit to
        return axes[0].get_ylim()
    low, high = float(kept.min()), float(kept.max())
    span = max(high - low, 0.02)
    collapsed = [_collapsed(s, dim, threshold) for s in summaries]
    bottom = low - span * (0.3 if any(xs for xs, _ in collapsed) else 0.06)
    limits = (bottom, high + 0.06 * span)
    for ax, (xs, text) in zip(axes, collapsed):
        ax.set_ylim(*limits)
        if not xs:
            continue
        ax.plot(xs, [bottom] * len(xs), linestyle="none", marker="v", color="0.25",
                markersize=4, clip_on=False, zorder=4)
        ax.annotate(text, (min(xs), bottom), xytext=(-4, 2), textcoords="offset points",
                    ha="right", va="bottom", color="0.25", zorder=5,
                    bbox={"boxstyle": "square,pad=0.1", "facecolor": "white",
                          "edgecolor": "none", "alpha": 0.8})
    return limits


def _collapsed(summary: xr.Dataset, dim: str, threshold: float) -> tuple[list, str]:
    """The values of `dim` where some line's mean or seed range reaches below `threshold`
    (or the mean is NaN), and the text that states them ("below axis: acc 0.14–0.21": the
    range of the mean, min and max values below it; "diverged" when a mean is NaN)."""
    xs, low, diverged = [], [], False
    for x in summary[dim].values:
        at = summary.sel({dim: x})
        values = np.concatenate([at[k].values.ravel() for k in ("mean", "min", "max")])
        below = values[np.isfinite(values) & (values < threshold)]
        nan = not np.isfinite(at["mean"].values).all()
        if below.size or nan:
            xs.append(x)
            low.extend(below)
            diverged |= nan
    parts = []
    if low:
        lo, hi = f"{min(low):.2f}", f"{max(low):.2f}"
        parts.append(f"below axis: acc {lo}" + (f"–{hi}" if hi != lo else ""))
    if diverged:
        parts.append("diverged")
    return xs, "; ".join(parts)


#: The panels of accuracy_vs_gamma_by_width: (title, selection, line-style dim).
WIDTH_PANELS = (
    ("PC, SGD with momentum (weights)", {"algorithm": "pc", "weight_optimizer": "momentum"}, None),
    ("PC, AdamW (weights)", {"algorithm": "pc", "weight_optimizer": "adamw"}, None),
)
#: accuracy_vs_gamma_by_width's reference band (drawn in each panel, same weight optimizer).
BP_REFERENCE = {"algorithm": "bp"}


def accuracy_summary(ds: xr.Dataset, epoch: int = -1) -> xr.Dataset:
    """The numbers accuracy_vs_gamma draws: mean, min and max over seeds of the test accuracy
    at `epoch` (NaN runs skipped), and how many seeds diverged (diverged_at), were
    inference_unstable or collapsed (run_status; none when the Dataset lacks it)."""
    acc = ds["test_accuracy"].isel(epoch=epoch)
    diverged = ds["diverged_at"] >= 0
    status = ds["run_status"] if "run_status" in ds else xr.zeros_like(ds["diverged_at"])
    kinds = {"diverged": diverged,
             "inference_unstable": ~diverged & (status == status_module.UNSTABLE),
             "collapsed": ~diverged & (status == status_module.COLLAPSED)}
    if "seed" in acc.dims:
        return xr.Dataset({
            "mean": acc.mean("seed", skipna=True), "min": acc.min("seed", skipna=True),
            "max": acc.max("seed", skipna=True),
            **{name: kind.sum("seed") for name, kind in kinds.items()},
            "runs": xr.full_like(diverged.sum("seed"), acc.sizes["seed"]),
        })
    return xr.Dataset({"mean": acc, "min": acc, "max": acc,
                       **{name: kind.astype(int) for name, kind in kinds.items()},
                       "runs": xr.ones_like(diverged, int)})


def accuracy_vs_gamma(
    ds: xr.Dataset,
    ax: Axes | None = None,
    *,
    hue: str | None = "weight_optimizer",
    style: str | None = None,
    epoch: int = -1,
    sequential: bool | None = None,
    fit: bool = True,
    colour: str | None = None,
) -> Axes:
    """Test accuracy at the last (or `epoch`-th) evaluation against gamma, log x.

    Line: mean over seeds; dots: single seeds; band: min to max over seeds; one colour per
    value of `hue` (a sweep dim; ignored if the Dataset lacks it) and one line style per
    value of `style`. With `fit`, the y axis fits the healthy runs and collapsed ones are
    marked at its bottom edge (fit_accuracy_axes). `colour`: the line's colour without `hue`.
    A marker flags a (hue, gamma) where at least one seed failed (run_status): 'x' diverged,
    hollow diamond inference unstable, hollow square collapsed, drawn at the mean of the
    seeds' accuracies, or at chance (dotted line) if none survived; the legend counts them
    (below a fitted range the bottom-edge marker of fit_accuracy_axes stands for them).
    """
    what = "accuracy_vs_gamma"
    hue = hue if hue in ds.dims else None
    style = style if style in ds.dims else None
    if hue in OPTIMIZER_DIMS and style is None:  # optimizers: line styles, never colours
        hue, style = None, hue
    require_dims(ds, ("gamma",), tuple(d for d in ("seed", hue, style) if d), what)
    summary = accuracy_summary(ds, epoch)
    hues = list(ds[hue].values) if hue else [None]
    styles = list(ds[style].values) if style else [None]
    if sequential is None:
        sequential = hue is not None and np.issubdtype(ds[hue].dtype, np.number)
    colours = palette(len(hues), "sequential" if sequential else "qualitative")
    algorithm = ALGORITHM_STYLE[data_algorithm(ds)]
    if hue is None:
        colours = [colour or algorithm["color"]]
    gamma = ds["gamma"].values
    ax = new_axes(ax)
    chance = chance_level(ds)
    ax.axhline(chance, color="0.6", linestyle=":", linewidth=0.8, zorder=0)
    failed: dict[str, int] = {}
    for i, hue_value in enumerate(hues):
        for j, style_value in enumerate(styles):
            sel = {k: v for k, v in ((hue, hue_value), (style, style_value)) if k}
            s = summary.sel(sel) if sel else summary
            name = (_hue_text(ds, hue, hue_value) if hue else
                    "test accuracy" if colour else f"{algorithm['label']} test accuracy")
            add_counts(failed, accuracy_line(
                ax, gamma, s, colours[i], band=ds.sizes.get("seed", 1) > 1, markersize=3,
                chance=chance, **dim_look(style, style_value, j),
                label=name if j == 0 else None,
            ))
            acc = ds["test_accuracy"].isel(epoch=epoch)
            seed_points(ax, gamma, acc.sel(sel) if sel else acc, "gamma", colours[i])
    ax.set_xscale("log")
    ax.set_xlabel(label(ds["gamma"]))
    ax.set_ylabel(label(ds["test_accuracy"]))
    seeds = ds.sizes.get("seed", 1)
    spread = "; dots: seeds, band: min–max" if seeds > 1 else ""
    set_title(ax, ds, f"mean over {seeds} seed{'s' if seeds > 1 else ''}{spread}")
    if fit:
        fit_accuracy_axes([ax], "gamma", [summary], chance=chance)
    handles, labels = ax.get_legend_handles_labels()
    for j, style_value in enumerate(styles if style else []):
        handles.append(Line2D([], [], color=NEUTRAL, marker="o", markersize=3,
                              **dim_look(style, style_value, j)))
        labels.append(style_text(style, style_value))
    failure_legend(handles, labels, failed, int(ds["test_accuracy"].isel(epoch=-1).size))
    if len(handles) > 1 or hue:
        ax.legend(handles, labels, title=label(ds[hue]) if hue else None)
    decorate(ax)
    return ax


def dim_look(dim: str | None, value, j: int) -> dict:
    """Line style (and, for optimizers, marker fill) of one value of a line-style dim."""
    look = {"linestyle": dim_linestyle(dim, value, j)}
    if dim in OPTIMIZER_DIMS and "markerfacecolor" in optimizer_style(value):
        look["markerfacecolor"] = optimizer_style(value)["markerfacecolor"]
    return look


def dim_linestyle(dim: str | None, value, j: int) -> str:
    if dim in OPTIMIZER_DIMS:
        return optimizer_style(value)["linestyle"]
    return LINESTYLES[j % len(LINESTYLES)]


def style_text(dim: str, value) -> str:
    """A line-style key's legend text: 'weights: SGD with momentum', 'width = 128'."""
    if dim in OPTIMIZER_DIMS:
        return f"{OPTIMIZER_DIMS[dim]}: {optimizer_style(value)['label']}"
    return f"{dim.replace('_', ' ')} = {value_text(value)}"


def accuracy_vs_gamma_by_width(
    ds: xr.Dataset,
    axes: Sequence[Axes] | None = None,
    *,
    panels=WIDTH_PANELS,
    reference=BP_REFERENCE,
    epoch: int = -1,
) -> np.ndarray:
    """Test accuracy against gamma coloured by width, one panel per (algorithm, optimizer).

    Default panels: PC with SGD-with-momentum weights and PC with AdamW weights. BP does not
    use gamma: where the Dataset has it (`reference`), each panel shows BP with the same
    weight optimizer as a grey band (min-max over widths and seeds) around its mean (dashed).
    The panels share one y range that fits the healthy runs (fit_accuracy_axes). Returns the
    Axes.
    The one legend (last panel) counts the failed runs (run_status) of every panel.
    """
    require_dims(ds, ("gamma", "width", "algorithm", "weight_optimizer"), ("seed",),
                 "accuracy_vs_gamma_by_width")
    if axes is None:
        _, axes = plt.subplots(1, len(panels), figsize=(3.5 * len(panels), 2.8), sharey=True,
                               layout="constrained")
    axes = np.atleast_1d(np.asarray(axes, dtype=object))
    failed: dict[str, int] = {}
    drawn = 0
    if len(axes) != len(panels):
        raise ValueError(f"axes: got {len(axes)} Axes for {len(panels)} panels; pass one per "
                         "panel or axes=None")
    summaries, bands = [], []
    for ax, (title, sel, style) in zip(axes, panels):
        for name, value in sel.items():
            if value not in ds[name].values:
                raise ValueError(f"panel {title!r} needs {name}={value!r}; the Dataset has "
                                 f"{name} in {list(ds[name].values)}")
        part = ds.sel(sel)
        accuracy_vs_gamma(part, ax, hue="width", style=style, epoch=epoch, sequential=True,
                          fit=False)
        summaries.append(accuracy_summary(part, epoch))
        bands += _reference_band(ax, ds, sel, reference, epoch)
        ax.set_title(title + _lr_text(part), loc="left")
        summary = accuracy_summary(part, epoch)
        add_counts(failed, {name: int(summary[name].sum()) for name in FAILURE_MARKERS})
        drawn += int(part["test_accuracy"].isel(epoch=epoch).size)
    fit_accuracy_axes(axes, "gamma", summaries, bands, chance=chance_level(ds))
    for ax in axes[1:]:
        ax.set_ylabel("")
    for ax in axes[:-1]:
        legend = ax.get_legend()
        if legend is not None:
            legend.remove()
    legend = axes[-1].get_legend()
    if bands and legend is not None:
        handles = list(legend.legend_handles)
        labels = [t.get_text() for t in legend.get_texts()]
        bp = ALGORITHM_STYLE["bp"]["color"]
        handles.append((Patch(color=bp, alpha=0.15, linewidth=0),
                        Line2D([], [], color=bp, linestyle="--")))
        labels.append("BP (all widths)")
        axes[-1].legend(handles, labels, title=legend.get_title().get_text())
    _all_failures_in_legend(axes[-1], failed, drawn)
    return axes


def _reference_band(ax: Axes, ds: xr.Dataset, sel: dict, reference: dict | None,
                    epoch: int) -> list[float]:
    """Draw BP's accuracy (the `reference` selection, the panel's weight optimizer) as a
    band over widths, seeds and gamma; returns its (min, max), or [] when not in `ds`."""
    if not reference or any(v not in ds[k].values for k, v in reference.items()):
        return []
    where = reference | {k: v for k, v in sel.items() if k not in reference and k != "algorithm"}
    acc = ds["test_accuracy"].isel(epoch=epoch).sel(where).values
    acc = acc[np.isfinite(acc)]
    if not acc.size:
        return []
    bp = ALGORITHM_STYLE["bp"]["color"]
    ax.axhspan(acc.min(), acc.max(), color=bp, alpha=0.15, linewidth=0, zorder=0)
    ax.axhline(acc.mean(), color=bp, linestyle="--", linewidth=0.9, zorder=1)
    return [float(acc.min()), float(acc.max())]


def _all_failures_in_legend(ax: Axes, failed: dict, drawn: int) -> None:
    """The one legend kept (last panel) counts the failed runs of every panel."""
    legend = ax.get_legend()
    if legend is None or not any(failed.values()):
        return
    texts = [text for _, text in FAILURE_MARKERS.values()]
    kept = [(h, t.get_text()) for h, t in zip(legend.legend_handles, legend.get_texts())
            if not t.get_text().startswith(tuple(texts))]
    handles, labels = [h for h, _ in kept], [t for _, t in kept]
    failure_legend(handles, labels, failed, drawn)
    title = legend.get_title().get_text()
    ax.legend(handles, labels, title=title or None)


def _hue_text(ds: xr.Dataset, hue: str, value) -> str:
    """A legend entry; weight optimizers also show their learning rate when it is known."""
    text = value_text(value)
    lr = ds.coords.get("weight_lr")
    if hue == "weight_optimizer" and lr is not None and lr.dims == (hue,):
        text += f" (lr {float(lr.sel({hue: value})):g})"
    return text


def _lr_text(part: xr.Dataset) -> str:
    if "weight_lr" in part.coords and part["weight_lr"].ndim == 0:
        return f", lr {float(part['weight_lr']):g}"
    return ""
