"""Plots of pcdiag Datasets (rliable style).

Every function takes a Dataset and ``ax=None`` (creating an Axes when none is given),
returns what it drew on, reads its labels from the variables' `long_name` / `units` attrs,
and keeps what it draws and the gamma convention in the Axes' label (`ax.get_label()`; the
figures' captions say it, outside the image). One visual language (pcdiag.plot.styling): a
fixed colour and marker per algorithm (`ALGORITHM_STYLE`, `algorithm_style`), optimizers
by line style, layers by a sequential colormap (`layer_colours`). Nothing here changes
matplotlib's global state: use
``with pcdiag.plot.style():`` for pcdiag's look (pcdiag.plot.styling).

Modules: styling (the look, labels, shared checks), sensitivity (accuracy against gamma),
energy (energy per layer, layer ratios), updates (weight-gradient norms and relative updates
against gamma), depth (accuracy and stalled layers against depth, the depth x gamma grid),
heatmap (where the energy reaches), layers (per-layer profiles and their decay rate).
"""

from pcdiag.plot import depth
from pcdiag.plot.depth import accuracy_heatmap, accuracy_vs_depth, stalled_vs_depth
from pcdiag.plot.energy import energy_per_layer, energy_ratio_vs_gamma, median_ratio
from pcdiag.plot.generative import reconstructions, sample_grid
from pcdiag.plot.heatmap import energy_heatmap, energy_propagation
from pcdiag.plot.layers import bp_cosine_vs_layer, decay_rate_vs_gamma, relative_update_vs_layer
from pcdiag.plot.sensitivity import (
    FAILURE_MARKERS,
    WIDTH_PANELS,
    accuracy_summary,
    accuracy_vs_gamma,
    accuracy_vs_gamma_by_width,
    failure_text,
)
from pcdiag.plot.styling import (
    ALGORITHM_STYLE,
    OPTIMIZER_STYLE,
    algorithm_style,
    label,
    layer_colours,
    optimizer_style,
    palette,
    style,
)

__all__ = [
    "ALGORITHM_STYLE",
    "OPTIMIZER_STYLE",
    "algorithm_style",
    "layer_colours",
    "optimizer_style",
    "FAILURE_MARKERS",
    "WIDTH_PANELS",
    "accuracy_heatmap",
    "accuracy_summary",
    "accuracy_vs_depth",
    "accuracy_vs_gamma",
    "accuracy_vs_gamma_by_width",
    "reconstructions",
    "sample_grid",
    "bp_cosine_vs_layer",
    "decay_rate_vs_gamma",
    "depth",
    "energy_heatmap",
    "energy_per_layer",
    "energy_propagation",
    "energy_ratio_vs_gamma",
    "failure_text",
    "label",
    "median_ratio",
    "palette",
    "relative_update_vs_layer",
    "stalled_vs_depth",
    "style",
]
