"""``energy_ratio_vs_gamma_conv``: E_l / E_l+1 at t = T (median over the logged steps and
seeds) against gamma for PC on VGG-5, a line per node pair; a median that is 0 or non-finite
is drawn as a marker on the floor of the axis and counted in the figure text."""

from __future__ import annotations

import warnings

import numpy as np
import xarray as xr
from matplotlib.figure import Figure as MplFigure
from matplotlib.lines import Line2D

import pcdiag.plot as pplot
from pcdiag import status
from pcdiag.figures.conv.profile import conv_caption, conv_profile, ratio_specs
from pcdiag.figures.errors import FigureError
from pcdiag.figures.experiments import config_of
from pcdiag.figures.layout import TWO_COLUMNS, legend_below, new_figure, short_number
from pcdiag.figures.registry import Figure
from pcdiag.plot.energy import GUIDES, failed_runs_note, zero_floor
from pcdiag.plot.sensitivity import FAILURE_MARKERS
from pcdiag.plot.styling import layer_colours, panel_labels, style
from pcdiag.selection import at_best_gamma


def ratio_data(profile, results) -> xr.Dataset:
    """PC on VGG-5 over gamma x seed with every record (the ratio is read at t = T)."""
    ds = results["gamma"].copy()
    ds.attrs["conv_profile"] = conv_profile(profile).to_json()
    return ds


def ratio_medians(ds: xr.Dataset) -> xr.Dataset:
    """What energy_ratio_vs_gamma_conv draws, per gamma and node pair l (E_l / E_l+1 at
    t = T): `median` over every logged step and seed of the finite ratios (zeros included),
    NaN where none is finite; `zero` and `nonfinite` count the samples that were exactly 0 or
    not finite (inf: E_l+1 = 0 < E_l; NaN: 0 / 0 or a diverged run); `samples` their total;
    `on_floor` marks the medians a log axis cannot show (0 or NaN): they are drawn on the
    floor of the axis, not dropped."""
    if "energy_ratio" not in ds or "t" not in ds.dims:
        raise FigureError("energy_ratio_vs_gamma_conv needs the per-iteration variable "
                          "'energy_ratio' (dims step, t, layer); train with "
                          "record_inference=True")
    depth = int(ds["layer"].size)
    ratio = ds["energy_ratio"].isel(t=-1, layer=slice(0, depth - 1))
    samples = [d for d in ("seed", "step") if d in ratio.dims]
    finite = np.isfinite(ratio)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "All-NaN slice", RuntimeWarning)
        median = ratio.where(finite).median(samples, skipna=True)
    return xr.Dataset({
        "median": median,
        "zero": (ratio == 0).sum(samples),
        "nonfinite": (~finite).sum(samples),
        "samples": xr.full_like(median, int(np.prod([ratio.sizes[d] for d in samples])),
                                dtype=int),
        "on_floor": ~(median > 0),
    })


#: run_status codes of the failures the conv plots mark (FAILURE_MARKERS' names).
STATUS_CODES = {name: code for code, name in status.NAMES.items() if name in FAILURE_MARKERS}


def _status_at(ds: xr.Dataset, code: int) -> np.ndarray:
    """Per gamma: does any run (seed) have run_status `code`?"""
    if "run_status" not in ds:
        return np.zeros(ds.sizes["gamma"], bool)
    flags = ds["run_status"] == code
    return flags.any([d for d in flags.dims if d != "gamma"]).values


def plot_energy_ratio_vs_gamma_conv(ds: xr.Dataset) -> MplFigure:
    numbers = ratio_medians(ds)
    gamma = ds["gamma"].values
    pairs = numbers["layer"].values
    floor = zero_floor(numbers["median"])
    colours = layer_colours(len(pairs))
    with style():
        fig, (ax, acc_ax) = new_figure(2, TWO_COLUMNS, 3.4)
        for value in GUIDES:
            ax.axhline(value, color="0.55", linewidth=0.8, zorder=0,
                       linestyle="-" if value == 1 else ":")
        ax.axhline(floor, color="0.3", linewidth=0.8, linestyle="--", zorder=0)
        for i, layer in enumerate(pairs):
            m = numbers["median"].sel(layer=layer).values
            low = numbers["on_floor"].sel(layer=layer).values
            ax.plot(gamma, np.where(low, np.nan, m), color=colours[i], marker="o",
                    markersize=3.5, label=f"$E_{{{int(layer)}}}/E_{{{int(layer) + 1}}}$")
            if low.any():
                ax.plot(gamma[low], np.full(low.sum(), floor), linestyle="none", marker="v",
                        markersize=7, markerfacecolor="none", markeredgewidth=1.5,
                        color=colours[i])
            for name, code in STATUS_CODES.items():  # runs that failed: their own marker
                at = _status_at(ds, code)
                if at.any():
                    ax.plot(gamma[at], np.where(low, floor, m)[at], linestyle="none",
                            marker=FAILURE_MARKERS[name][0], markersize=9,
                            markerfacecolor="none", markeredgewidth=1.3, color=colours[i])
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("γ (state learning rate, per sample)")
        ax.set_ylabel(r"energy ratio $E_\ell/E_{\ell+1}$ at $t = T$")
        handles, labels = ax.get_legend_handles_labels()
        on_floor = int(numbers["on_floor"].sum())
        zeros, bad = int(numbers["zero"].sum()), int(numbers["nonfinite"].sum())
        total = int(numbers["samples"].sum())
        handles.append(Line2D([], [], color="0.3", linestyle="none", marker="v",
                              markerfacecolor="none"))
        labels.append(f"median 0 or non-finite: {on_floor} (samples 0: {zeros}, "
                      f"non-finite: {bad}, of {total})")
        for name, code in STATUS_CODES.items():
            if _status_at(ds, code).any():
                marker = FAILURE_MARKERS[name][0]
                handles.append(Line2D([], [], color="0.3", linestyle="none", marker=marker,
                                      markerfacecolor="none"))
                labels.append(failed_runs_note(ds))
                break  # one note counts every failed run
        ax.legend(handles, labels)
        legend_below(fig, ax)
        accuracy_beside(ds, acc_ax)
        panel_labels([ax, acc_ax])
    return fig


def accuracy_beside(ds: xr.Dataset, ax) -> None:
    """The same runs' final test accuracy against γ (pcdiag.plot.accuracy_vs_gamma), and,
    where the runs held out a validation split, the step it chooses as a dashed line."""
    pplot.accuracy_vs_gamma(ds, ax, hue=None)
    ax.set_title("", loc="center")
    ax.set_xlabel("γ (state learning rate, per sample)")
    chosen = chosen_gamma(ds)
    if np.isfinite(chosen):
        ax.axvline(chosen, color="0.35", linestyle="--", linewidth=0.9, zorder=0,
                   label=f"validated γ = {chosen:g}")
        ax.legend()


def chosen_gamma(ds: xr.Dataset) -> float:
    """The step the validation split chooses (pcdiag.selection.at_best_gamma), NaN without
    one."""
    if "validation_accuracy" not in ds:
        return float("nan")
    return at_best_gamma(ds, float("nan"))[1]


def caption_energy_ratio_vs_gamma_conv(ds: xr.Dataset) -> str:
    numbers = ratio_medians(ds)
    on_floor = int(numbers["on_floor"].sum())
    zeros, bad = int(numbers["zero"].sum()), int(numbers["nonfinite"].sum())
    total = int(numbers["samples"].sum())
    floor = zero_floor(numbers["median"])
    return conv_caption(
            ds,
            f"Each point: the median over {ds.sizes['step']} logged steps x "
            f"{ds.sizes.get('seed', 1)} seed(s). Ratio samples at t = T: {total} in all; "
            f"{zeros} exactly 0 and {bad} non-finite "
            "(inf: E_l+1 = 0; NaN: 0/0 or a diverged run). The median is taken over the "
            f"finite samples, zeros included; {on_floor} median(s) are 0 or have no finite "
            f"sample and are drawn as ▽ on the dashed floor line ({floor:.0e}), not dropped. "
            "Grey lines at 1e-2, 1 and 1e2.",
            "(b) The same runs' final test accuracy: line the mean over seeds, dots the "
            "seeds, band min-max; a failed run's marker is at the bottom edge when its "
            "accuracy is below the axis. " + (
                f"Dashed: γ = {chosen_gamma(ds):g}, the step of the highest median final "
                f"validation accuracy ({config_of(ds).validation_size} training images held "
                "out; pcdiag.selection.at_best_gamma)." if "validation_accuracy" in ds
                else "These runs hold out no validation split, so no step is chosen."),
        )


def summary_energy_ratio_vs_gamma_conv(ds: xr.Dataset) -> str:
    numbers = ratio_medians(ds)
    lines = ["  PC on VGG-5, median E_l / E_l+1 at t = T by gamma:"]
    for layer in numbers["layer"].values:
        m = numbers["median"].sel(layer=layer)
        cells = ", ".join(f"{float(g):g}: {short_number(float(v), 2)}" for g, v in
                          zip(ds["gamma"].values, m.values))
        lines.append(f"    E{int(layer)}/E{int(layer) + 1}: {{{cells}}}")
    lines.append(f"  samples 0: {int(numbers['zero'].sum())}, non-finite: "
                 f"{int(numbers['nonfinite'].sum())} of {int(numbers['samples'].sum())}; "
                 f"medians on the floor: {int(numbers['on_floor'].sum())}")
    return "\n".join(lines)


ENERGY_RATIO_VS_GAMMA_CONV = Figure(
    name="energy_ratio_vs_gamma_conv",
    description="E_l / E_l+1 at t = T (median over logged steps) vs gamma for PC on "
                "VGG-5, a line per node pair; zero / non-finite medians on a floor marker.",
    sweeps=ratio_specs,
    data=ratio_data,
    plot=plot_energy_ratio_vs_gamma_conv,
    summary=summary_energy_ratio_vs_gamma_conv,
    caption=caption_energy_ratio_vs_gamma_conv,
)
