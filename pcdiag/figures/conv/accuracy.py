"""``accuracy_vs_depth_conv``: test accuracy of PC, iPC, ePC and BP on VGG-5, ResNet-10,
VGG-7, VGG-9 and ResNet-18 (x: the networks by depth), every seed a point, the mean a line
(solid through the VGGs, dashed through the ResNets), band min to max."""

from __future__ import annotations

import json
import warnings

import numpy as np
import xarray as xr
from matplotlib.figure import Figure as MplFigure
from matplotlib.lines import Line2D

from pcdiag import measures
from pcdiag.figures.conv import profile as conv
from pcdiag.figures.experiments import (
    combine,
    config_of,
    paired_differences,
    with_step_grid,
)
from pcdiag.figures.layout import TWO_COLUMNS, new_figure, short_number
from pcdiag.figures.registry import Figure
from pcdiag.plot.depth import stalled_text
from pcdiag.plot.sensitivity import FAILURE_MARKERS, chance_level, mark_failures
from pcdiag.plot.styling import NEUTRAL, colours_for, markers_for, style
from pcdiag.plot.styling import describe as describe_value

ALGORITHM_TEXT = {"pc": "PC", "ipc": "iPC", "epc": "ePC", "bp": "BP"}
FAMILY_STYLE = {"vgg": "-", "resnet": "--"}
FAMILY_TEXT = {"vgg": "VGG", "resnet": "ResNet"}


#: run_status of a cell of the algorithm x network grid that the profile does not run
#: (ConvProfile.ipc_nets): a flag value of this figure's run_status alone.
NOT_RUN = -1


def accuracy_data(profile, results) -> xr.Dataset:
    """test_accuracy (and every per-run record but the per-t ones) over algorithm x network x
    seed; the networks in order of depth, layers NaN-padded to the deepest. Where the state
    step is screened (ConvProfile.screen_gammas): the step chosen per algorithm and network,
    the screen's validation accuracies and the paired differences to BP."""
    c = conv.conv_profile(profile)
    keys = list(c.ordered_nets)
    deepest = max(conv.CONV_NETS[k][1] for k in keys)
    parts = {}
    for key in keys:
        algs = {a: conv.run_of(c, results, a, key, keep_t=False).reindex(
                    layer=np.arange(1, deepest + 1))
                for a in c.algorithms if key in c.nets_of(a)}
        parts[key] = combine({a: algs[a] if a in algs else not_run(next(iter(algs.values())))
                              for a in c.algorithms}, "algorithm")
    ds = combine(parts, "network")
    ds = conv.network_coords(ds, c, keys)
    ds["algorithm"].attrs["comment"] = "learning rule (config field 'algorithm')"
    if (ds["run_status"] == NOT_RUN).any():
        attrs = ds["run_status"].attrs
        attrs["flag_values"] = np.append(attrs["flag_values"], NOT_RUN).astype(np.int8)
        attrs["flag_meanings"] += " not_run"
        attrs["comment"] += (" not_run (-1): a network this profile does not run the "
                             "algorithm on (ConvProfile.ipc_nets); its records are NaN")
    if c.screen_gammas:
        ds = with_screened_steps(ds, c, results)
    ds.attrs["config"] = c.base("vgg").to_json()
    ds.attrs["conv_profile"] = c.to_json()
    return ds


def not_run(like: xr.Dataset) -> xr.Dataset:
    """A cell shaped as `like` that was not run: records NaN, run_status NOT_RUN."""
    out = like.copy()
    for name, var in like.data_vars.items():
        if np.issubdtype(var.dtype, np.floating):
            out[name] = xr.full_like(var, np.nan)
        else:
            out[name] = xr.full_like(var, NOT_RUN)
    return out


def with_screened_steps(ds: xr.Dataset, c: conv.ConvProfile, results) -> xr.Dataset:
    """`ds` with each screened cell's chosen step (`selected_gamma`), `selection_all_ok`, the
    screen's validation accuracies (`step_validation_accuracy` over `gamma_grid`, the first
    seed's; NaN for the others) and PC's and iPC's paired differences to BP
    (`difference*` over `comparison`)."""
    chosen, all_ok, grid = {}, {}, {}
    for a in ds["algorithm"].values.tolist():
        for key in ds["network"].values.tolist():
            if conv.screened(c, a) and key in c.nets_of(a):
                screen = results[f"{a}-{key}-screen"]
                chosen[a, key], all_ok[a, key] = conv.chosen_step(screen)
                grid[a, key] = screen["validation_accuracy"].isel(epoch=-1).reindex(
                    seed=ds["seed"].values)
    algorithms, networks = ds["algorithm"].values.tolist(), ds["network"].values.tolist()
    ds["selected_gamma"] = (("algorithm", "network"), np.array(
        [[chosen.get((a, k), np.nan) for k in networks] for a in algorithms]), {
        "long_name": "selected state step γ (per sample)", "units": "1",
        "comment": f"per algorithm and network, the step of the grid {list(c.screen_gammas)} "
                   "of the highest final validation accuracy of the first seed's run among "
                   "those whose run_status is ok (pcdiag.selection.at_best_gamma); the other "
                   "seeds ran that step; NaN for BP (no state step) and cells not run"})
    ds = with_step_grid(ds, ("algorithm", "network"), all_ok, grid, c.screen_gammas,
                        c.validation_size, "cell")
    pairs = {f"{a}-bp": (a, "bp") for a in algorithms if a != "bp"} if "bp" in algorithms else {}
    return ds.merge(paired_differences(ds["test_accuracy"].isel(epoch=-1), "algorithm", pairs,
                                       "each at its validated step"))


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
            if "selected_gamma" in ds:
                text += "\nγ " + steps_text(ds, ds["network"].values[j])
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
        runs = int((ds["run_status"].isel(epoch=-1, missing_dims="ignore") != NOT_RUN).sum())
        missing = not_run_text(ds)
        if missing:
            handles.append(Line2D([], [], color="none", label=missing))
        for name, (marker, text) in FAILURE_MARKERS.items():
            if failed[name]:
                handles.append(Line2D([], [], color="0.3", linestyle="none", marker=marker,
                                      markerfacecolor="none",
                                      label=f"{text}: {failed[name]} of {runs} runs"))
        ax.legend(handles=handles, ncols=2)
        ax.grid(axis="y", alpha=0.3)
    return fig


def steps_text(ds: xr.Dataset, key) -> str:
    """The state steps chosen on network `key`, e.g. "PC 0.1, iPC 0.3"."""
    chosen = ds["selected_gamma"].sel(network=key)
    return ", ".join(f"{ALGORITHM_TEXT.get(str(a), a)} {float(chosen.sel(algorithm=a)):g}"
                     for a in ds["algorithm"].values if np.isfinite(chosen.sel(algorithm=a)))


def not_run_text(ds: xr.Dataset) -> str:
    """'iPC not run on ResNet-10, ResNet-18' (cells with run_status NOT_RUN), or ""."""
    status = ds["run_status"]
    cells = []
    for a in ds["algorithm"].values:
        nets = [describe_value(ds, "network", k) for k in ds["network"].values
                if bool((status.sel(algorithm=a, network=k) == NOT_RUN).all())]
        if nets:
            cells.append(f"{ALGORITHM_TEXT.get(str(a), a)} not run on {', '.join(nets)}")
    return "; ".join(cells)


def caption_accuracy_vs_depth_conv(ds: xr.Dataset) -> str:
    cfg = config_of(ds)
    c = json.loads(ds.attrs.get("conv_profile", "{}"))
    if "selected_gamma" in ds:
        steps = (
            f"T = L (the network's nodes) for each network. PC's and iPC's state step is "
            f"chosen per network from γ = {', '.join(f'{g:g}' for g in c['screen_gammas'])}: "
            f"the first seed runs each, the step of its highest final validation accuracy "
            f"({c['validation_size']} training images held out, never the test set) is "
            "chosen, and the other seeds run it (x labels: the chosen steps; "
            + "; ".join(f"{describe_value(ds, 'network', k)} {steps_text(ds, k)}"
                        for k in ds["network"].values)
            + "). BP's learning rate is not tuned. ")
        missing = not_run_text(ds)
        if missing:
            steps += f"{missing} (its cost there is past the profile's budget). "
        steps += "iPC takes a weight step at every inference step. "
    else:
        steps = (
            f"T = {cfg.inference_steps} and γ = {cfg.gamma:g} at every depth and for PC, iPC "
            f"and ePC (BP uses neither). PC's error front moves at most one node per "
            f"inference step, so with T = {cfg.inference_steps} the nodes below L - "
            f"{cfg.inference_steps} of a deeper net get no error in a batch. iPC takes a "
            "weight step at every inference step. ")
    weight_steps = cfg.epochs * cfg.steps_per_epoch
    return conv.conv_caption(
            ds,
            f"After {weight_steps} weight steps. " + steps + "ResNets: one PC node per basic "
            "block, no batch norm; VGG-7 is PCX's (two unpadded convs). Points of one network are "
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


def interval_text(d: xr.Dataset, key) -> str:
    """'+0.012 [-0.010, +0.034]' for network `key` of one comparison, or 'n/a'."""
    mean = float(d["difference"].sel(network=key))
    if not np.isfinite(mean):
        return "n/a"
    low, high = (float(d[v].sel(network=key)) for v in ("difference_low", "difference_high"))
    if not (np.isfinite(low) and np.isfinite(high)):
        return f"{mean:+.3f} (no interval: under 2 pairs or all equal)"
    return f"{mean:+.3f} [{low:+.3f}, {high:+.3f}]"


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
    if "selected_gamma" in ds:
        lines.append("  selected γ: " + "; ".join(
            f"{describe_value(ds, 'network', k)} {steps_text(ds, k)}"
            for k in ds["network"].values))
    if "difference" in ds:
        for comparison in ds["comparison"].values:
            d = ds.sel(comparison=comparison)
            lines.append(f"  {comparison}, paired over seeds [95% interval]: " + "; ".join(
                f"{describe_value(ds, 'network', k)} {interval_text(d, k)}"
                for k in ds["network"].values))
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
    followups=conv.accuracy_followups,
    data=accuracy_data,
    plot=plot_accuracy_vs_depth_conv,
    summary=summary_accuracy_vs_depth_conv,
    caption=caption_accuracy_vs_depth_conv,
)
