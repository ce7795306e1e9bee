"""``generative_mse_vs_gamma``: test reconstruction MSE (the latent of each test image
inferred with the weights fixed) against the state step gamma, per algorithm, beside the
mean training image's MSE (the "chance" of generation); every seed a dot, failed runs
(run_status) marked at the axis' edge, never dropped."""

from __future__ import annotations

import json

import numpy as np
import xarray as xr
from matplotlib.figure import Figure as MplFigure
from matplotlib.lines import Line2D

from pcdiag import status
from pcdiag.figures.captions import n_seeds
from pcdiag.figures.errors import FigureError
from pcdiag.figures.experiments import combine, config_of, conform, keep, trim
from pcdiag.figures.generative import profile as gen
from pcdiag.figures.generative.text import decoder_text, setting
from pcdiag.figures.layout import ONE_COLUMN, batch_mean_axis, new_figure, short_number
from pcdiag.figures.registry import Figure
from pcdiag.plot.sensitivity import FAILURE_MARKERS, mark_failed_at_edge
from pcdiag.plot.styling import NEUTRAL, algorithm_style, decorate, style


def _data(profile, results) -> xr.Dataset:
    g = gen.generative_profile(profile)
    # train_loss is not drawn: it is kept so that run_status can be classified again from
    # the file (pcdiag.dataset.STATUS_INPUTS)
    parts = {a: keep(trim(results[a], keep_t=False), "test_mse", "mean_image_mse",
                     "train_loss") for a in g.algorithms}
    ds = combine(parts, "algorithm")
    ds["gamma"].attrs.update(long_name="state step γ (per sample)")
    ds.attrs["generative_profile"] = g.to_json()
    return conform(ds)


def final_mse(ds: xr.Dataset) -> xr.DataArray:
    """Each run's test reconstruction MSE after its last epoch."""
    return ds["test_mse"].isel(epoch=-1)


def chance_mse(ds: xr.Dataset) -> float:
    """The mean training image's test MSE (equal in every run: one data set)."""
    return float(ds["mean_image_mse"].max())


def plot_generative_mse_vs_gamma(ds: xr.Dataset) -> MplFigure:
    if "test_mse" not in ds or "gamma" not in ds.dims:
        raise FigureError("generative_mse_vs_gamma needs the variable test_mse over dim gamma;"
                          " make the data with `pcdiag figures --only generative_mse_vs_gamma`")
    if "algorithm" not in ds.dims:
        ds = ds.expand_dims(algorithm=[json.loads(ds.attrs["config"])["algorithm"]])
    if "seed" not in ds.dims:
        ds = ds.expand_dims(seed=[0])
    gamma = ds["gamma"].values
    mse = final_mse(ds)
    with style():
        fig, (ax,) = new_figure(1, ONE_COLUMN, 2.9)
        chance = chance_mse(ds)
        ax.axhline(chance, color=NEUTRAL, linestyle=":", linewidth=0.9)
        handles = [Line2D([], [], color=NEUTRAL, linestyle=":",
                          label=f"mean image ({short_number(chance)})")]
        for algorithm in ds["algorithm"].values:
            look = algorithm_style(str(algorithm))
            runs = mse.sel(algorithm=algorithm).transpose("gamma", "seed").values
            shown = np.where(np.isfinite(runs), runs, np.nan)
            finite = np.isfinite(shown).any(1)
            mean = np.full(len(gamma), np.nan)
            mean[finite] = np.nanmean(shown[finite], axis=1)
            ax.plot(gamma, mean, color=look["color"], marker=look["marker"], markersize=4)
            if runs.shape[1] > 1:
                lo = np.where(finite, np.nanmin(np.where(finite[:, None], shown, 0), 1), np.nan)
                hi = np.where(finite, np.nanmax(np.where(finite[:, None], shown, 0), 1), np.nan)
                ax.fill_between(gamma, lo, hi,
                                color=look["color"], alpha=0.15, linewidth=0)
            spread = 10.0 ** np.linspace(-0.03, 0.03, runs.shape[1])
            ax.plot((gamma[:, None] * spread[None, :]).ravel(), shown.ravel(),
                    linestyle="none", marker="o", markersize=1.8, color=look["color"],
                    alpha=0.6, markeredgewidth=0)
            handles.append(Line2D([], [], color=look["color"], marker=look["marker"],
                                  markersize=4, label=f"{look['label']} test MSE"))
        counts = mark_failed_at_edge(ax, ds[["run_status"]].assign_coords(gamma=ds["gamma"]),
                                     "gamma")
        for name, count in counts.items():
            if count:
                marker = FAILURE_MARKERS[name][0]
                handles.append(Line2D([], [], color=NEUTRAL, linestyle="none", marker=marker,
                                      markerfacecolor="white" if marker != "x" else NEUTRAL,
                                      label=f"{name}: {count} of {mse.size} runs"))
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.axvline(gen.PCX_GAMMA, color="0.75", linewidth=0.8, zorder=0)
        ax.set_xlabel("state step γ (per sample)")
        ax.set_ylabel("test reconstruction MSE (per pixel)")
        batch_mean_axis(ax, ds)
        decorate(ax)
        fig.legend(handles=handles, loc="outside lower center", ncols=2)
    return fig


def summary_generative_mse_vs_gamma(ds: xr.Dataset) -> str:
    mse = final_mse(ds)
    flags = ds["run_status"]
    lines = [f"  test reconstruction MSE, mean [min, max] over {n_seeds(ds)} seed(s); mean "
             f"image {short_number(chance_mse(ds))}"]
    for algorithm in ds["algorithm"].values:
        cells = []
        for gamma in ds["gamma"].values:
            m = mse.sel(algorithm=algorithm, gamma=gamma)
            f = flags.sel(algorithm=algorithm, gamma=gamma).values.ravel()
            bad = [f"{int((f == c).sum())}/{f.size} {n}" for c, n in status.NAMES.items()
                   if c != status.OK and (f == c).any()]
            cells.append(f"γ {gamma:.3g}: {short_number(float(m.mean()))} "
                         f"[{short_number(float(m.min()))}, {short_number(float(m.max()))}]"
                         + (f" ({', '.join(bad)})" if bad else ""))
        lines.append(f"    {algorithm}: " + "; ".join(cells))
    return "\n".join(lines)


def caption_generative_mse_vs_gamma(ds: xr.Dataset) -> str:
    g = json.loads(ds.attrs.get("generative_profile", "{}"))
    tests = g.get("test_limit") or 10000
    algorithms = ", ".join(str(a) for a in ds["algorithm"].values)
    counts = status.counts(ds["run_status"])
    cfg = config_of(ds)
    steps = cfg.epochs * (cfg.n_train // cfg.batch_size)
    failed = ", ".join(f"{n} {k}" for k, n in counts.items() if k != "ok" and n)
    return setting(
        ds, decoder_text(ds),
        states="states SGD with momentum 0.45 at the swept γ",
        data=f"{g.get('train_limit') or 60000} Fashion-MNIST training images (x / 255)",
        end=f" Lines: {algorithms}. PCX tunes γ for 30 epochs over all 60,000 images; "
            f"here the runs stop after {steps} steps of {cfg.batch_size}: the figure says "
            "which γ learns fastest in that budget, nothing about the end.",
    ) + "\n" + "\n".join([
        f"Test reconstruction MSE per pixel over {tests} test images: each image's latent "
        "inferred from 0 with the weights fixed (T state steps, as in training), then the "
        "decoder's output from it (PCX's eval). Dotted: the mean training image's MSE "
        "(generation's chance level). Grey vertical line: PCX's γ "
        f"({gen.PCX_GAMMA:.4g}); top axis: PCX's batch-mean units (γ × B).",
        f"Dots: single seeds ({n_seeds(ds)}); line: seed mean; band: min-max. Failed runs "
        "(run_status) are drawn where their MSE is and marked at the bottom edge (x diverged, "
        "hollow diamond inference unstable, hollow square collapsed: MSE no better than the "
        f"mean image by pcdiag.status's margin); {failed or 'none failed'} of "
        f"{ds['run_status'].size} runs.",
    ])


FIGURE = Figure(
    name="generative_mse_vs_gamma",
    description="Test reconstruction MSE of a PCX decoder against the state step γ (pc and "
                "ipc), beside the mean image's MSE; failed runs marked.",
    sweeps=gen.gamma_specs,
    data=_data,
    plot=plot_generative_mse_vs_gamma,
    caption=caption_generative_mse_vs_gamma,
    summary=summary_generative_mse_vs_gamma,
)
