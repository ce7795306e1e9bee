"""``energy_propagation_conv``: log10 energy over node x inference iteration for PC on VGG-5
and on the deepest network of accuracy_vs_depth_conv, nodes the error has not reached
(pcdiag.measures.reached) in grey."""

from __future__ import annotations

import numpy as np
import xarray as xr
from matplotlib.figure import Figure as MplFigure

import pcdiag.plot as pplot
from pcdiag import measures, status
from pcdiag.figures.conv import profile as conv
from pcdiag.figures.experiments import combine, conform, select
from pcdiag.figures.layout import (
    ONE_COLUMN,
    PANEL_NAME_CHARS,
    TWO_COLUMNS,
    name_panels,
    short_number,
)
from pcdiag.figures.registry import Figure
from pcdiag.plot.heatmap import final_energy
from pcdiag.plot.layers import layer_ranges
from pcdiag.plot.styling import PANEL_LETTERS, range_text, style
from pcdiag.plot.styling import describe as describe_value


def energy_data(profile, results) -> xr.Dataset:
    """PC's per-iteration records of VGG-5 and the deepest network, first seed."""
    c = conv.conv_profile(profile)
    keys = list(dict.fromkeys(("vgg5", c.deepest)))
    deepest = max(conv.CONV_NETS[k][1] for k in keys)
    parts = {}
    for key in keys:
        part = select(conv.run_of(c, results, "pc", key, keep_t=True), seed=c.seeds[0])
        parts[key] = conform(part.reindex(layer=np.arange(1, deepest + 1)))
    ds = combine(parts, "network")
    ds = conv.network_coords(ds, c, keys)
    ds.attrs["config"] = c.base("vgg").replace(seed=c.seeds[0]).to_json()
    ds.attrs["conv_profile"] = c.to_json()
    return ds


def plot_energy_propagation_conv(ds: xr.Dataset) -> MplFigure:
    n = ds.sizes["network"]
    with style():
        fig = MplFigure(figsize=(TWO_COLUMNS if n > 1 else ONE_COLUMN, 2.9),
                        layout="constrained")
        axes = fig.subplots(1, n, squeeze=False)[0]
        pplot.energy_propagation(ds, axes, dim="network")
        for ax, key in zip(axes, ds["network"].values):
            ax.set_ylim(0.5, int(ds["depth"].sel(network=key)) + 0.5)
        names = [describe_value(ds, "network", key) for key in ds["network"].values]
        name_panels(axes, [n if len(n) <= PANEL_NAME_CHARS else "" for n in names])
    return fig


def conv_panels_text(ds: xr.Dataset) -> str:
    """Which panel is which: the network, its run's status if it failed, the nodes reached
    at t = T and the stalled layers (pcdiag.measures)."""
    reached = measures.layers_reached(ds)
    stalled = measures.stalled_layers(ds)
    cells = []
    for i, key in enumerate(ds["network"].values):
        depth = int(ds["depth"].sel(network=key))
        cells.append(f"({PANEL_LETTERS[i]}) PC, {describe_value(ds, 'network', key)} "
                     f"(L = {depth}){_status_text(ds, key)}, reached at T: "
                     f"{range_text(reached.sel(network=key).values) or 'n/a'}/{depth}, "
                     f"stalled: {range_text(stalled.sel(network=key).values) or 'n/a'}")
    return "Panels: " + "; ".join(cells) + "."


def caption_energy_propagation_conv(ds: xr.Dataset) -> str:
    return conv.conv_caption(
            ds,
            "Each panel: one run (first seed), mean over the last 10% of logged training "
            "steps; shared colour scale; colour: log10 of the layer energy. Grey: not reached "
            "(pcdiag.measures.reached is 0 at every averaged step: E_l(t) <= max(2 E_l(0), "
            "2^-24 F(t)); E_l(0), after forward initialisation, is 0 in exact arithmetic, so "
            "what a node holds there is float32 rounding, and an energy below 2^-24 of the "
            "total F is below F's float32 resolution), whatever tiny energy the node holds. "
            "Node l = 1 is the first conv (input side), l = L the linear output node. Reached "
            "at T: the nodes reached at t = T of the last logged step (pcdiag.measures."
            "layers_reached, the output included); stalled: the stalled layers "
            "(pcdiag.measures.stalled_layers: learn at no logged step; AdamW layers whose node "
            "is not reached count as stalled, their gradient being rounding).",
            conv_panels_text(ds),
        )


def _status_text(ds: xr.Dataset, key) -> str:
    """', collapsed (acc 0.095)' for a network whose (first-seed) run failed; '' if ok."""
    if "run_status" not in ds:
        return ""
    flag = int(ds["run_status"].sel(network=key).values.ravel()[0])
    if flag == status.OK:
        return ""
    acc = float(ds["test_accuracy"].sel(network=key).isel(epoch=-1).values.ravel()[0])
    return f", {status.NAMES[flag].replace('_', ' ')} (acc {acc:.3f})"


def summary_energy_propagation_conv(ds: xr.Dataset) -> str:
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
        lines.append(f"    {describe_value(ds, 'network', key)}: {cells}; "
                     + "; ".join(first)
                     + f"; {int(reached.sel(network=key))} of {depth} nodes reached at t = T"
                     + (f"; layers {layer_ranges(names)} stalled" if names.size
                        else "; no layer stalled"))
    return "\n".join(lines)


ENERGY_PROPAGATION_CONV = Figure(
    name="energy_propagation_conv",
    description="log10 energy over node x inference iteration for PC on VGG-5 and the "
                "deepest conv network; nodes not reached (float32 rounding only) in grey.",
    sweeps=conv.energy_specs,
    data=energy_data,
    plot=plot_energy_propagation_conv,
    summary=summary_energy_propagation_conv,
    caption=caption_energy_propagation_conv,
)
