"""Convolutional networks: three figures on PC's depth trend in VGG and ResNet PCNs.

- ``accuracy_vs_depth_conv``: test accuracy of PC, iPC, ePC and BP on VGG-5, ResNet-10,
  VGG-7, VGG-9 and ResNet-18 (x: the networks by depth), every seed a point, the mean a line
  (solid through the VGGs, dashed through the ResNets), band min to max;
- ``energy_propagation_conv``: log10 energy over node x inference iteration for PC on VGG-5
  and on the deepest network of the first figure, nodes the error has not reached
  (pcdiag.measures.reached) in grey;
- ``energy_ratio_vs_gamma_conv``: E_l / E_l+1 at t = T (median over the logged steps and
  seeds) against gamma for PC on VGG-5, a line per node pair; a median that is 0 or
  non-finite is drawn as a marker on the floor of the axis and counted in the figure text.

Sizes come from `CONV_PROFILES` (pcdiag.figures.profiles: one `ConvProfile` per profile
name); a custom `Profile` uses quick's networks with its own data size and seeds. The sweeps
carry the conv cost model (pcdiag.figures.cost: `CONV`, measured on the reference machine).
"""

from __future__ import annotations

import json
import warnings

import numpy as np
import xarray as xr
from matplotlib.figure import Figure as MplFigure
from matplotlib.lines import Line2D

import pcdiag.plot as pplot
from pcdiag import measures, status
from pcdiag.figures.cost import CONV
from pcdiag.figures.errors import FigureError
from pcdiag.figures.experiments import SweepSpec, combine, config_of, conform, select, trim
from pcdiag.figures.layout import (
    ONE_COLUMN,
    TWO_COLUMNS,
    legend_below,
    new_figure,
    short_number,
)
from pcdiag.figures.profiles import (
    CONV_NETS,
    CONV_STATE_MOMENTUM,
    ConvProfile,
    conv_profile,
)
from pcdiag.figures.registry import Figure, register
from pcdiag.plot._style import convention_long, palette, range_text, style
from pcdiag.plot.sensitivity import CHANCE, FAILURE_MARKERS, mark_failures

#: The conv specs' name prefix (their store folders and lines of the estimate).
PREFIX = "conv-"
ALGORITHM_TEXT = {"pc": "PC", "ipc": "iPC", "epc": "ePC", "bp": "BP"}
FAMILY_STYLE = {"vgg": "-", "resnet": "--"}
FAMILY_TEXT = {"vgg": "VGG", "resnet": "ResNet"}

# --------------------------------------------------------------------------- sweeps


def family_spec(profile, algorithm: str, net: str) -> SweepSpec:
    """One sweep per algorithm and network family over its depths x seeds (depth: a program
    each; seeds: vmapped)."""
    c = conv_profile(profile)
    depths = c.families()[net]
    config = c.base(net).replace(algorithm=algorithm, depth=depths[0])
    return SweepSpec.make(f"{PREFIX}{algorithm}-{net}", config, cost=CONV, depth=depths,
                          seed=c.seeds)


def gamma_spec(profile) -> SweepSpec:
    """PC on VGG-5 over gamma x seed (one program)."""
    c = conv_profile(profile)
    return SweepSpec.make(f"{PREFIX}pc-vgg5-gamma", c.base("vgg"), cost=CONV, gamma=c.gammas,
                          seed=c.gamma_seeds)


def _accuracy_specs(profile) -> dict[str, SweepSpec]:
    c = conv_profile(profile)
    return {f"{a}-{net}": family_spec(c, a, net) for a in c.algorithms for net in c.families()}


def _energy_specs(profile) -> dict[str, SweepSpec]:
    c = conv_profile(profile)
    nets = {CONV_NETS[k][0] for k in ("vgg5", c.deepest)}
    return {f"pc-{net}": family_spec(c, "pc", net) for net in sorted(nets)}


def _ratio_specs(profile) -> dict[str, SweepSpec]:
    return {"gamma": gamma_spec(profile)}


# --------------------------------------------------------------------------- data


def _network_coords(ds: xr.Dataset, c: ConvProfile, keys: list[str]) -> xr.Dataset:
    """Label the `network` dim and add what each network is (net, depth, width, text)."""
    ds["network"].attrs = {"long_name": "network", "units": "1",
                           "comment": "key of pcdiag.figures.profiles.CONV_NETS; its settings "
                                      "are the coords net, depth, width along network"}
    coords = {
        "description": [CONV_NETS[k][2] for k in keys],
        "net": [CONV_NETS[k][0] for k in keys],
        "depth": [CONV_NETS[k][1] for k in keys],
        "width": [c.base(CONV_NETS[k][0]).width for k in keys],
    }
    ds = ds.assign_coords({k: ("network", v) for k, v in coords.items()})
    for name in coords:
        ds[name].attrs = {"long_name": name, "units": "1",
                          "comment": "legend text of each network" if name == "description"
                          else f"config field {name!r} of each network"}
    ds["depth"].attrs["long_name"] = "depth L (weight layers)"
    ds["width"].attrs["comment"] += " (first-stage channels)"
    return ds


def _run_of(c: ConvProfile, results, algorithm: str, key: str, keep_t: bool) -> xr.Dataset:
    net, depth, _ = CONV_NETS[key]
    part = select(results[f"{algorithm}-{net}"], depth=depth)
    part = part.drop_vars("depth").isel(layer=slice(0, depth))
    return trim(part, keep_t=keep_t)


def _accuracy_data(profile, results) -> xr.Dataset:
    """test_accuracy (and every per-run record but the per-t ones) over algorithm x network x
    seed; the networks in order of depth, layers NaN-padded to the deepest."""
    c = conv_profile(profile)
    keys = list(c.ordered_nets)
    deepest = max(CONV_NETS[k][1] for k in keys)
    parts = {}
    for key in keys:
        algs = {a: _run_of(c, results, a, key, keep_t=False) for a in c.algorithms}
        algs = {a: p.reindex(layer=np.arange(1, deepest + 1)) for a, p in algs.items()}
        parts[key] = combine(algs, "algorithm")
    ds = combine(parts, "network")
    ds = _network_coords(ds, c, keys)
    ds["algorithm"].attrs["comment"] = "learning rule (config field 'algorithm')"
    ds.attrs["config"] = c.base("vgg").to_json()
    ds.attrs["conv_profile"] = json.dumps(c.as_dict())
    return ds


def _energy_data(profile, results) -> xr.Dataset:
    """PC's per-iteration records of VGG-5 and the deepest network, first seed."""
    c = conv_profile(profile)
    keys = list(dict.fromkeys(("vgg5", c.deepest)))
    deepest = max(CONV_NETS[k][1] for k in keys)
    parts = {}
    for key in keys:
        part = select(_run_of(c, results, "pc", key, keep_t=True), seed=c.seeds[0])
        parts[key] = conform(part.reindex(layer=np.arange(1, deepest + 1)))
    ds = combine(parts, "network")
    ds = _network_coords(ds, c, keys)
    ds.attrs["config"] = c.base("vgg").replace(seed=c.seeds[0]).to_json()
    ds.attrs["conv_profile"] = json.dumps(c.as_dict())
    return ds


def _ratio_data(profile, results) -> xr.Dataset:
    """PC on VGG-5 over gamma x seed with every record (the ratio is read at t = T)."""
    ds = results["gamma"].copy()
    ds.attrs["conv_profile"] = json.dumps(conv_profile(profile).as_dict())
    return ds


# --------------------------------------------------------------------------- the numbers drawn


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


# --------------------------------------------------------------------------- plots


def conv_caption(ds: xr.Dataset, *lines: str) -> str:
    """The conv figures' settings (convention, widths, data, optimizers), then `lines`."""
    cfg = config_of(ds)
    c = json.loads(ds.attrs.get("conv_profile", "{}"))
    resnet = "net" in ds.coords and "resnet" in [str(v) for v in ds["net"].values]
    data = (f"{cfg.n_train} {cfg.dataset} training images (a subset)"
            if cfg.train_limit else f"all {cfg.n_train} {cfg.dataset} training images")
    tests = f"{cfg.test_limit} test images" if cfg.test_limit else "the full test set"
    widths = f"VGG width {c.get('width', cfg.width)}" + (
        f", ResNet width {c.get('resnet_width', '?')}" if resnet else "") + (
        " (first-stage channels)")
    head = [
        f"{convention_long(ds)}. Energies at t = T are read after the T-th state update.",
        f"{widths}; gelu, {cfg.output_energy} output energy, forward initialisation, "
        f"T = {cfg.inference_steps}, states SGD with momentum {CONV_STATE_MOMENTUM:g}, batch "
        f"{cfg.batch_size}, {data}, {tests}, {cfg.epochs} epoch"
        f"{'s' if cfg.epochs > 1 else ''}; weights AdamW lr {cfg.weight_lr:g}, weight decay "
        f"{cfg.weight_decay:g}. Images padded to 32 x 32.",
    ]
    return "\n".join(head + [line for line in lines if line])


def plot_accuracy_vs_depth_conv(ds: xr.Dataset) -> MplFigure:
    points = accuracy_points(ds)
    algorithms = [str(a) for a in ds["algorithm"].values]
    networks = [str(n) for n in ds["network"].values]
    nets = [str(v) for v in ds["net"].values]
    x = np.arange(len(networks), dtype=float)
    colours = palette(len(algorithms))
    seeds = points.sizes["seed"]
    with style():
        fig, (ax,) = new_figure(1, TWO_COLUMNS, 3.0)
        ax.axhline(CHANCE, color="0.6", linestyle=":", linewidth=0.8, zorder=0)
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
                ax.plot(xs, p["seeds"].isel(seed=s).values, linestyle="none", marker="o",
                        markersize=3.5, color=colours[i], alpha=0.8)
            for name, n in mark_failures(ax, xs, p, colours[i]).items():
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
                text += f"\nPC stalled: {pplot.depth.stalled_text(pc, count, low) or 'n/a'}"
            ticks.append(text)
        ax.set_xticks(x, ticks)
        ax.set_xlabel("network, by depth L (PC nodes); PC stalled: layers that learn at no "
                      "logged step (≥: a lower bound, see caption)")
        ax.set_ylabel("test accuracy")
        handles = [Line2D([], [], color=colours[i], marker="o", markersize=4,
                          label=ALGORITHM_TEXT.get(a, a)) for i, a in enumerate(algorithms)]
        handles += [Line2D([], [], color="0.3", linestyle=FAMILY_STYLE[f],
                           label=f"mean, {FAMILY_TEXT[f]}") for f in FAMILY_STYLE if f in nets]
        runs = points["seeds"].size
        for name, (marker, text) in FAILURE_MARKERS.items():
            if failed[name]:
                handles.append(Line2D([], [], color="0.3", linestyle="none", marker=marker,
                                      markerfacecolor="none",
                                      label=f"{text}: {failed[name]} of {runs} runs"))
        ax.legend(handles=handles, ncols=2)
        ax.set_title(f"dots: each of {seeds} seed(s); line: mean" +
                     ("; band: min–max" if seeds > 1 else ""), loc="left")
        ax.grid(axis="y", alpha=0.3)
        rules = [ALGORITHM_TEXT.get(a, a) for a in algorithms if a != "bp"]
        against = " against backprop" if "bp" in algorithms else ""
        fig.suptitle(f"Test accuracy of conv PCNs vs depth: {', '.join(rules)}{against}")
    return fig


def caption_accuracy_vs_depth_conv(ds: xr.Dataset) -> str:
    cfg = config_of(ds)
    return conv_caption(
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
        )


def plot_energy_propagation_conv(ds: xr.Dataset) -> MplFigure:
    n = ds.sizes["network"]
    with style():
        fig = MplFigure(figsize=(TWO_COLUMNS if n > 1 else ONE_COLUMN, 2.9),
                        layout="constrained")
        axes = fig.subplots(1, n, squeeze=False)[0]
        pplot.energy_propagation(ds, axes, dim="network")
        reached = measures.layers_reached(ds)
        stalled = measures.stalled_layers(ds)
        for ax, key in zip(axes, ds["network"].values):
            depth = int(ds["depth"].sel(network=key))
            ax.set_ylim(0.5, depth + 0.5)
            ax.set_title(f"PC, {pplot.depth.describe(ds, 'network', key)} (L = {depth})"
                         + _status_text(ds, key) + "\nreached at T: "
                         f"{range_text(reached.sel(network=key).values) or 'n/a'}/{depth}, "
                         f"stalled: {range_text(stalled.sel(network=key).values) or 'n/a'}",
                         loc="left")
        fig.suptitle("Where the energy reaches (PC)", x=0.01, ha="left")
    return fig


def caption_energy_propagation_conv(ds: xr.Dataset) -> str:
    return conv_caption(
            ds,
            "Each panel: one run (first seed), mean over the last 10% of logged training "
            "steps; shared colour scale; colour: log10 of the layer energy. Grey: not reached "
            "(pcdiag.measures.reached is 0 at every averaged step: E_l(t) <= max(2 E_l(0), "
            "2^-24 F(t)); E_l(0), after forward initialisation, is 0 in exact arithmetic, so "
            "what a node holds there is float32 rounding, and an energy below 2^-24 of the "
            "total F is below F's float32 resolution), whatever tiny energy the node holds. "
            "Node l = 1 is the first conv (input side), l = L the linear output node. Titles: "
            "the nodes reached at t = T of the last logged step (pcdiag.measures."
            "layers_reached, the output included) and the stalled layers (pcdiag.measures."
            "stalled_layers: learn at no logged step; AdamW layers whose node is not reached "
            "count as stalled, their gradient being rounding).",
        )


#: run_status codes of the failures the conv plots mark (FAILURE_MARKERS' names).
STATUS_CODES = {name: code for code, name in status.NAMES.items() if name in FAILURE_MARKERS}


def _status_at(ds: xr.Dataset, code: int) -> np.ndarray:
    """Per gamma: does any run (seed) have run_status `code`?"""
    if "run_status" not in ds:
        return np.zeros(ds.sizes["gamma"], bool)
    flags = ds["run_status"] == code
    return flags.any([d for d in flags.dims if d != "gamma"]).values


def _status_text(ds: xr.Dataset, key) -> str:
    """', collapsed (acc 0.095)' for a network whose (first-seed) run failed; '' if ok."""
    if "run_status" not in ds:
        return ""
    flag = int(ds["run_status"].sel(network=key).values.ravel()[0])
    if flag == status.OK:
        return ""
    acc = float(ds["test_accuracy"].sel(network=key).isel(epoch=-1).values.ravel()[0])
    return f", {status.NAMES[flag].replace('_', ' ')} (acc {acc:.3f})"


def plot_energy_ratio_vs_gamma_conv(ds: xr.Dataset) -> MplFigure:
    numbers = ratio_medians(ds)
    gamma = ds["gamma"].values
    pairs = numbers["layer"].values
    floor = pplot.energy.zero_floor(numbers["median"])
    colours = palette(len(pairs))
    with style():
        fig, (ax,) = new_figure(1, ONE_COLUMN, 3.4)
        for value in pplot.energy.GUIDES:
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
                labels.append(pplot.energy.failed_runs_note(ds))
                break  # one note counts every failed run
        ax.legend(handles, labels)
        seeds = ds.sizes.get("seed", 1)
        ax.set_title(f"median over {ds.sizes['step']} logged steps x {seeds} seed(s)",
                     loc="left")
        legend_below(fig, ax)
        cfg = config_of(ds)
        fig.suptitle(rf"Energy imbalance $E_\ell/E_{{\ell+1}}$ vs γ: PC on VGG-5 "
                     f"(width {cfg.width})")
    return fig


def caption_energy_ratio_vs_gamma_conv(ds: xr.Dataset) -> str:
    numbers = ratio_medians(ds)
    on_floor = int(numbers["on_floor"].sum())
    zeros, bad = int(numbers["zero"].sum()), int(numbers["nonfinite"].sum())
    total = int(numbers["samples"].sum())
    floor = pplot.energy.zero_floor(numbers["median"])
    return conv_caption(
            ds,
            f"Ratio samples at t = T: {total} in all; {zeros} exactly 0 and {bad} non-finite "
            "(inf: E_l+1 = 0; NaN: 0/0 or a diverged run). The median is taken over the "
            f"finite samples, zeros included; {on_floor} median(s) are 0 or have no finite "
            f"sample and are drawn as ▽ on the dashed floor line ({floor:.0e}), not dropped. "
            "Grey lines at 1e-2, 1 and 1e2.",
        )


# --------------------------------------------------------------------------- summaries


def summary_accuracy_vs_depth_conv(ds: xr.Dataset) -> str:
    points = accuracy_points(ds)
    seeds = points.sizes["seed"]
    lines = [f"  test accuracy, mean [min, max] over {seeds} seed(s):"]
    for alg in ds["algorithm"].values:
        cells = []
        for key in ds["network"].values:
            p = points.sel(algorithm=alg, network=key)
            cell = (f"{pplot.depth.describe(ds, 'network', key)} {short_number(float(p['mean']))} "
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
            f"{pplot.depth.describe(ds, 'network', k)} {short_number(float(gap.sel(network=k)), 2)}"
            for k in ds["network"].values))
    return "\n".join(lines)


def summary_energy_propagation_conv(ds: xr.Dataset) -> str:
    from pcdiag.plot.depth import final_energy

    lines = ["  PC, first seed, mean over the last 10% of logged steps, E_l at t = T; "
             "reached, stalled: pcdiag.measures at the last logged step:"]
    first_t = measures.reached_at(ds).isel(step=-1)
    reached = measures.layers_reached(ds)
    stalled = measures.stalled(ds)
    for key in ds["network"].values:
        part = ds.sel(network=key)
        depth = int(part["depth"])
        energy = final_energy(part.isel(layer=slice(0, depth))).isel(t=-1)
        first = []
        for layer in (1, 2):
            t = float(first_t.sel(network=key, layer=layer))
            first.append(f"layer {layer} first reached at t = {int(t)}" if np.isfinite(t)
                         else f"layer {layer} not reached by T")
        cells = ", ".join(f"E{int(layer)} {short_number(float(energy.sel(layer=layer)), 2)}"
                          for layer in energy["layer"].values)
        still = stalled.sel(network=key)
        names = still["layer"].values[(still == 1).values]
        lines.append(f"    {pplot.depth.describe(ds, 'network', key)}: {cells}; "
                     + "; ".join(first)
                     + f"; {int(reached.sel(network=key))} of {depth} nodes reached at t = T"
                     + (f"; layers {pplot.depth.layer_ranges(names)} stalled" if names.size
                        else "; no layer stalled"))
    return "\n".join(lines)


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


# --------------------------------------------------------------------------- registration

FIGURES_HERE = tuple(register(figure) for figure in (
    Figure(
        name="accuracy_vs_depth_conv",
        description="Test accuracy of PC, iPC, ePC and BP on VGG-5/7/9 and ResNet-10/18 "
                    "(x: networks by depth), each seed a point, mean line, min-max band.",
        sweeps=_accuracy_specs,
        data=_accuracy_data,
        plot=plot_accuracy_vs_depth_conv,
        summary=summary_accuracy_vs_depth_conv,
        caption=caption_accuracy_vs_depth_conv,
    ),
    Figure(
        name="energy_propagation_conv",
        description="log10 energy over node x inference iteration for PC on VGG-5 and the "
                    "deepest conv network; nodes not reached (float32 rounding only) in grey.",
        sweeps=_energy_specs,
        data=_energy_data,
        plot=plot_energy_propagation_conv,
        summary=summary_energy_propagation_conv,
        caption=caption_energy_propagation_conv,
    ),
    Figure(
        name="energy_ratio_vs_gamma_conv",
        description="E_l / E_l+1 at t = T (median over logged steps) vs gamma for PC on "
                    "VGG-5, a line per node pair; zero / non-finite medians on a floor marker.",
        sweeps=_ratio_specs,
        data=_ratio_data,
        plot=plot_energy_ratio_vs_gamma_conv,
        summary=summary_energy_ratio_vs_gamma_conv,
        caption=caption_energy_ratio_vs_gamma_conv,
    ),
))
FIGURE_NAMES = tuple(figure.name for figure in FIGURES_HERE)
