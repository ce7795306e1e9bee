"""``accuracy_vs_depth_conv``: test accuracy of PC, iPC, ePC and BP on VGG-5, ResNet-10,
VGG-7, VGG-9 and ResNet-18 (x: the networks by depth), every seed a point, the mean a line
(solid through the VGGs, dashed through the ResNets), band min to max."""

from __future__ import annotations

import warnings

import numpy as np
import xarray as xr
from matplotlib.figure import Figure as MplFigure
from matplotlib.lines import Line2D

from pcdiag import measures
from pcdiag.figures.conv import profile as conv
from pcdiag.figures.experiments import combine, config_of
from pcdiag.figures.layout import TWO_COLUMNS, new_figure, short_number
from pcdiag.figures.registry import Figure
from pcdiag.plot.depth import stalled_text
from pcdiag.plot.sensitivity import FAILURE_MARKERS, chance_level, mark_failures
from pcdiag.plot.styling import NEUTRAL, colours_for, markers_for, style
from pcdiag.plot.styling import describe as describe_value

ALGORITHM_TEXT = {"pc": "PC", "ipc": "iPC", "epc": "ePC", "bp": "BP"}
FAMILY_STYLE = {"vgg": "-", "resnet": "--"}
FAMILY_TEXT = {"vgg": "VGG", "resnet": "ResNet"}


def accuracy_data(profile, results) -> xr.Dataset:
    """test_accuracy (and every per-run record but the per-t ones) over algorithm x network x
    seed; the networks in order of depth, layers NaN-padded to the deepest."""
    c = conv.conv_profile(profile)
    keys = list(c.ordered_nets)
    deepest = max(conv.CONV_NETS[k][1] for k in keys)
    parts = {}
    for key in keys:
        algs = {a: conv.run_of(c, results, a, key, keep_t=False) for a in c.algorithms}
        algs = {a: p.reindex(layer=np.arange(1, deepest + 1)) for a, p in algs.items()}
        parts[key] = combine(algs, "algorithm")
    ds = combine(parts, "network")
    ds = conv.network_coords(ds, c, keys)
    ds["algorithm"].attrs["comment"] = "learning rule (config field 'algorithm')"
    ds.attrs["config"] = c.base("vgg").to_json()
    ds.attrs["conv_profile"] = c.to_json()
    return ds


def accuracy_points(ds: xr.Dataset) -> xr.Dataset:
    """What accuracy_vs_depth_conv draws, per algorithm and network: every seed's final test
    accuracy (`seeds`), its mean, min and max over the seeds, and how many runs failed, by
    run_status meaning (`diverged`, `inference_unstable`, `collapsed`; all 0 when the data
    predate run_status)."""
    acc = ds["test_accuracy"].isel(epoch=-1)
    if "seed" not in acc.dims:
        acc = acc.expand_dims(seed=[0])
    status = ds["run_status"] if "run_status" in ds else (ds["diverged_at"] >= 0).astype(int)
    if "seed" not in status.dims:
        status = status.expand_dims(seed=[0])
    failed = {name: (status == code).sum("seed").astype(int)
              for code, name in enumerate(("ok",) + tuple(FAILURE_MARKERS)) if code}
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "All-NaN slice", RuntimeWarning)
        warnings.filterwarnings("ignore", "Mean of empty slice", RuntimeWarning)
        return xr.Dataset({"seeds": acc, "mean": acc.mean("seed", skipna=True),
                           "min": acc.min("seed", skipna=True),
                           "max": acc.max("seed", skipna=True), **failed})


def plot_accuracy_vs_depth_conv(ds: xr.Dataset) -> MplFigure:
    points = accuracy_points(ds)
    algorithms = [str(a) for a in ds["algorithm"].values]
    networks = [str(n) for n in ds["network"].values]
    nets = [str(v) for v in ds["net"].values]
    x = np.arange(len(networks), dtype=float)
    colours = colours_for("algorithm", algorithms)
    markers = markers_for(algorithms)
    seeds = points.sizes["seed"]
    with style():
        fig, (ax,) = new_figure(1, TWO_COLUMNS, 3.0)
        chance = chance_level(ds)
        ax.axhline(chance, color="0.6", linestyle=":", linewidth=0.8, zorder=0)
        offsets = (np.arange(len(algorithms)) - (len(algorithms) - 1) / 2) * 0.08
        failed = dict.fromkeys(FAILURE_MARKERS, 0)
        for i, alg in enumerate(algorithms):
            p = points.sel(algorithm=alg)
            xs = x + offsets[i]
            for family, linestyle in FAMILY_STYLE.items():
                idx = [j for j, n in enumerate(nets) if n == family]
                if not idx:
                    continue
                ax.plot(xs[idx], p["mean"].values[idx], color=colours[i], linestyle=linestyle,
                        marker="_", markersize=9, markeredgewidth=1.8, linewidth=1.2)
                if seeds > 1:
                    ax.fill_between(xs[idx], p["min"].values[idx], p["max"].values[idx],
                                    color=colours[i], alpha=0.12, linewidth=0)
            for s in range(seeds):
                ax.plot(xs, p["seeds"].isel(seed=s).values, linestyle="none", marker=markers[i],
                        markersize=3.5, color=colours[i], alpha=0.8)
            for name, n in mark_failures(ax, xs, p, colours[i], chance).items():
                failed[name] += n
        pc = ds.sel(algorithm="pc") if "pc" in algorithms else None
        stalled = measures.stalled_layers(pc) if pc is not None else None
        lower = measures.stalled_lower_bound(pc) if pc is not None else None
        ticks = []
        for j, (d, L) in enumerate(zip(ds["description"].values, ds["depth"].values)):
            text = f"{d}\nL = {int(L)}"
            if stalled is not None:
                count = stalled.isel(network=j)
                low = lower.isel(network=j) if "network" in lower.dims else lower
                text += f"\nPC stalled: {stalled_text(count, low) or 'n/a'}"
            ticks.append(text)
        ax.set_xticks(x, ticks)
        ax.set_xlabel("network, by depth L (PC nodes); PC stalled: layers that learn at no "
                      "logged step (≥: a lower bound, see caption)")
        ax.set_ylabel("test accuracy")
        handles = [Line2D([], [], color=colours[i], marker=markers[i], markersize=4,
                          label=ALGORITHM_TEXT.get(a, a)) for i, a in enumerate(algorithms)]
        handles += [Line2D([], [], color=NEUTRAL, linestyle=FAMILY_STYLE[f],
                           label=f"mean, {FAMILY_TEXT[f]}") for f in FAMILY_STYLE if f in nets]
        runs = points["seeds"].size
        for name, (marker, text) in FAILURE_MARKERS.items():
            if failed[name]:
                handles.append(Line2D([], [], color="0.3", linestyle="none", marker=marker,
                                      markerfacecolor="none",
                                      label=f"{text}: {failed[name]} of {runs} runs"))
        ax.legend(handles=handles, ncols=2)
        ax.grid(axis="y", alpha=0.3)
    return fig


def caption_accuracy_vs_depth_conv(ds: xr.Dataset) -> str:
    cfg = config_of(ds)
    return conv.conv_caption(
            ds,
            f"T = {cfg.inference_steps} and γ = {cfg.gamma:g} at every depth and for PC, iPC "
            f"and ePC (BP uses neither). PC's error front moves at most one node per inference "
            f"step, so with T = {cfg.inference_steps} the nodes below L - "
            f"{cfg.inference_steps} of a deeper net get no error in a batch. iPC takes a "
            "weight step at every inference step. ResNets: one PC node per basic block, no "
            "batch norm; VGG-7 is PCX's (two unpadded convs). Points of one network are "
            "spread sideways by algorithm. Chance: dotted line. PC stalled "
            "(pcdiag.measures.stalled_layers; seeds' range): layers whose relative weight "
            "update exceeds what weight decay alone gives by more than float32 resolution at "
            "no logged step. '≥': a lower bound, because this Dataset keeps no per-t "
            "energies and AdamW's step does not shrink with the gradient, so a layer fed only "
            "by float32 rounding counts as learning; energy_propagation_conv, which keeps "
            "the energies of the first seed, counts the stalled layers of VGG-5 and ResNet-18 "
            "with that check.",
            f"Dots: each of {ds.sizes.get('seed', 1)} seed(s); line: mean"
            + ("; band: min-max." if ds.sizes.get("seed", 1) > 1 else "."),
        )


def summary_accuracy_vs_depth_conv(ds: xr.Dataset) -> str:
    points = accuracy_points(ds)
    seeds = points.sizes["seed"]
    lines = [f"  test accuracy, mean [min, max] over {seeds} seed(s):"]
    for alg in ds["algorithm"].values:
        cells = []
        for key in ds["network"].values:
            p = points.sel(algorithm=alg, network=key)
            cell = (f"{describe_value(ds, 'network', key)} {short_number(float(p['mean']))} "
                    f"[{short_number(float(p['min']))}, {short_number(float(p['max']))}]")
            failed = [f"{int(p[name])} {name}" for name in FAILURE_MARKERS if int(p[name])]
            if failed:
                cell += f" ({', '.join(failed)})"
            cells.append(cell)
        lines.append(f"    {ALGORITHM_TEXT.get(str(alg), alg)}: " + "; ".join(cells))
    algs = [str(a) for a in ds["algorithm"].values]
    if "pc" in algs and "bp" in algs:
        gap = points["mean"].sel(algorithm="bp") - points["mean"].sel(algorithm="pc")
        lines.append("  BP - PC: " + ", ".join(
            f"{describe_value(ds, 'network', k)} {short_number(float(gap.sel(network=k)), 2)}"
            for k in ds["network"].values))
    return "\n".join(lines)


ACCURACY_VS_DEPTH_CONV = Figure(
    name="accuracy_vs_depth_conv",
    description="Test accuracy of PC, iPC, ePC and BP on VGG-5/7/9 and ResNet-10/18 "
                "(x: networks by depth), each seed a point, mean line, min-max band.",
    sweeps=conv.accuracy_specs,
    data=accuracy_data,
    plot=plot_accuracy_vs_depth_conv,
    summary=summary_accuracy_vs_depth_conv,
    caption=caption_accuracy_vs_depth_conv,
)
