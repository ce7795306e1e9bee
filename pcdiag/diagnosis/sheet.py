"""The one-page diagnostic sheet of one run: energy over layer x t, the share of the energy
per layer at T, the relative update per layer (stalled layers marked), loss and accuracy,
with the verdict as its caption."""

from __future__ import annotations

import textwrap

import matplotlib.pyplot as plt
import numpy as np
import xarray as xr
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from pcdiag import measures
from pcdiag.plot.styling import style

NOT_REACHED = "0.85"


def sheet(ds_run: xr.Dataset, run: xr.Dataset, verdict: str) -> Figure:
    """The sheet for one run: `ds_run` its records (no sweep dims), `run` its findings."""
    depth = int(run["depth"])
    with style():
        fig, axes = plt.subplots(2, 2, figsize=(7.0, 5.6), layout="constrained")
        _energy_map(axes[0, 0], ds_run, depth)
        _energy_share(axes[0, 1], run, depth)
        _updates(axes[1, 0], run, depth)
        _curves(axes[1, 1], ds_run)
        for ax, letter in zip(axes.flat, "abcd"):
            title = ax.get_title()
            ax.set_title("")
            ax.set_title(f"({letter}) {title}", fontsize=8, loc="left")
            if ax.get_ylabel().startswith("layer"):
                ax.yaxis.set_major_locator(MaxNLocator(integer=True))
            if ax.get_xlabel().startswith("layer"):
                ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        wrapped = [w for line in verdict.splitlines()
                   for w in textwrap.wrap(line, 125, subsequent_indent="     ")]
        fig.text(0.0, 0.0, "\n".join(wrapped), ha="left", va="top", fontsize=6.5,
                 transform=fig.transFigure)
    return fig


def _energy_map(ax, ds_run: xr.Dataset, depth: int) -> None:
    if "energy" not in ds_run or not np.isfinite(ds_run["energy"]).any():
        ax.text(0.5, 0.5, "no per-t energies recorded", ha="center", transform=ax.transAxes)
        ax.set_axis_off()
        return
    finite_steps = np.isfinite(ds_run["energy_total"]).any("t").values
    step = int(np.flatnonzero(finite_steps)[-1]) if finite_steps.any() else -1
    energy = ds_run["energy"].isel(step=step).sel(layer=slice(1, depth))
    reached = measures.reached(ds_run).isel(step=step).sel(layer=slice(1, depth))
    keep = np.isfinite(energy).any("layer")
    energy, reached = energy.sel(t=keep), reached.sel(t=keep)
    with np.errstate(divide="ignore"):
        log_e = np.log10(energy.where(reached == 1)).transpose("layer", "t")
    t = energy["t"].values
    ax.pcolormesh(t, energy["layer"].values, (reached == 0).transpose("layer", "t").values,
                  cmap=ListedColormap(["none", NOT_REACHED]), shading="nearest", vmin=0, vmax=1)
    mesh = ax.pcolormesh(t, energy["layer"].values, log_e.values, cmap="viridis",
                         shading="nearest")
    plt.colorbar(mesh, ax=ax, label="log10 E_l")
    ax.set_xlabel("inference iteration t")
    ax.set_ylabel("layer l (1 = input side)")
    ax.set_title(f"energy, step {int(ds_run['step'][step])} (grey: not reached)", fontsize=8)


def _energy_share(ax, run: xr.Dataset, depth: int) -> None:
    if "energy_fraction" not in run:
        ax.text(0.5, 0.5, "no per-t energies recorded", ha="center", transform=ax.transAxes)
        ax.set_axis_off()
        return
    share = run["energy_fraction"].sel(layer=slice(1, depth))
    layers = share["layer"].values
    values = share.values
    positive = np.where(values > 0, values, np.nan)
    reached = np.isfinite(run["reached_at"].sel(layer=slice(1, depth)).values)
    ax.barh(layers[reached], positive[reached], color="C0", label="reached")
    if (~reached).any():
        ax.barh(layers[~reached], positive[~reached], color=NOT_REACHED, edgecolor="0.5",
                label="not reached (< 2^-24 F or rounding)")
    smallest = np.nanmin(positive) if np.isfinite(positive).any() else measures.ROUNDING
    left = smallest / 30
    ax.set_xscale("log")
    ax.set_xlim(left=left, right=2.0)
    zero = ~(values > 0)
    if zero.any():  # exact zeros at the left edge, where a log axis has no place for them
        ax.plot(np.full(zero.sum(), left * 2), layers[zero], "x", color="0.3",
                label="exactly 0 (at the edge)")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.22), ncol=3, fontsize=6,
              frameon=False)
    ax.set_xlabel("share of the energy at T, E_l / F")
    ax.set_ylabel("layer l")
    ax.set_title("where the energy is at T (median of late steps)", fontsize=8)


def _updates(ax, run: xr.Dataset, depth: int) -> None:
    rel = run["update_profile"].sel(layer=slice(1, depth))
    stalled = run["stalled"].sel(layer=slice(1, depth)).values == 1
    layers = rel["layer"].values
    values = rel.values
    shown = np.where(values > 0, values, np.nan)
    ax.plot(layers, shown, "o-", color="C0", label="relative update")
    ax.axhline(measures.UNCHANGED, color="0.5", ls=":",
               label="2^-25: below it weights stay bit-identical")
    if stalled.any():  # on the line where they moved (Adam on rounding), else at the bottom
        low = np.nanmin(np.append(shown, measures.UNCHANGED)) / 3
        y = np.where(np.isfinite(shown), shown, low)[stalled]
        ax.plot(layers[stalled], y, "x", color="C3", ms=8, mew=1.5,
                label="stalled (learns at no logged step)")
    ax.set_yscale("log")
    ax.set_xlabel("layer l")
    ax.set_ylabel("‖Δθ_l‖ / ‖θ_l‖")
    ax.legend(fontsize=7)
    ax.set_title("relative weight update (median of late steps)", fontsize=8)


def _curves(ax, ds_run: xr.Dataset) -> None:
    ax.plot(ds_run["step"].values, ds_run["train_loss"].values, color="C0")
    ax.set_xlabel("training step")
    ax.set_ylabel("train loss", color="C0")
    twin = ax.twinx()
    generation = "test_mse" in ds_run
    acc = ds_run["test_mse" if generation else "test_accuracy"]
    if "epoch_of_step" in ds_run.coords:
        last_step = [ds_run["step"].values[ds_run["epoch_of_step"].values == e].max()
                     if (ds_run["epoch_of_step"].values == e).any() else np.nan
                     for e in acc["epoch"].values]
    else:
        last_step = ds_run["step"].values[-1:] * np.ones(acc.sizes["epoch"])
    twin.plot(last_step, acc.values, "s-", color="C1")
    if generation:  # the mean image's MSE for scale
        twin.axhline(float(ds_run["mean_image_mse"]), color="C1", ls=":", lw=1)
        twin.set_ylim(bottom=0)
        twin.set_ylabel("test reconstruction MSE (dotted: mean image)", color="C1")
        ax.set_title("loss per step, reconstruction MSE per epoch", fontsize=8)
        return
    twin.set_ylim(0, 1)
    twin.set_ylabel("test accuracy", color="C1")
    ax.set_title("loss per step, accuracy per epoch", fontsize=8)
