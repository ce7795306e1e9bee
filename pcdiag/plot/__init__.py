"""Plots of pcdiag Datasets (rliable style).

Every function takes a Dataset and ``ax=None`` (creating an Axes when none is given),
returns what it drew on, reads its labels from the variables' `long_name` / `units` attrs,
and states the gamma convention. Nothing here changes matplotlib's global state: use
``with pcdiag.plot.style():`` for pcdiag's look.
"""

from pcdiag.plot import depth
from pcdiag.plot._style import label, palette, style
from pcdiag.plot.depth import (
    accuracy_heatmap,
    accuracy_vs_depth,
    bp_cosine_vs_layer,
    decay_rate_vs_gamma,
    energy_heatmap,
    energy_propagation,
    relative_update_vs_layer,
    stalled_vs_depth,
)
from pcdiag.plot.energy import energy_per_layer, energy_ratio_vs_gamma, median_ratio
from pcdiag.plot.sensitivity import (
    FAILURE_MARKERS,
    WIDTH_PANELS,
    accuracy_summary,
    accuracy_vs_gamma,
    accuracy_vs_gamma_by_width,
    failure_text,
)

__all__ = [
    "FAILURE_MARKERS",
    "WIDTH_PANELS",
    "accuracy_heatmap",
    "accuracy_summary",
    "accuracy_vs_depth",
    "accuracy_vs_gamma",
    "accuracy_vs_gamma_by_width",
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
