"""The figure registry: each figure is an experiment (sweeps + a selection) and a plot.

A `Figure` names the sweeps it needs (`sweeps(profile) -> {key: SweepSpec}`), how to turn
their Datasets into exactly the data it plots (`data(profile, results) -> Dataset`, saved
as NAME.nc), and how to draw that data (`plot(ds) -> matplotlib Figure`). Experiments never
plot and plots never train: `make_figures(..., from_data=True)` redraws from the .nc files
alone. Equal `SweepSpec`s run once per `make_figures` call, so figures can share a sweep.

To add a figure, write its three functions and register it::

    register(Figure(
        name="accuracy_adamw",                      # also the file name
        description="what it shows",
        sweeps=lambda p: {"pc-adamw": pc_spec(p, "adamw")},  # shared with other figures
        data=lambda p, r: trim(select(r["pc-adamw"], width=p.width), keep_t=False),
        plot=plot_accuracy_vs_gamma,                # Dataset -> matplotlib Figure
        summary=summary_accuracy_vs_gamma,          # Dataset -> text, for the README
        caption=caption_accuracy_vs_gamma,          # Dataset -> caption text (not drawn)
    ))

Profiles (`PROFILES`) set the data size, epochs, gammas, seeds and widths; `estimate()` turns
a profile into a predicted run time from per-run costs measured on the reference machine.
"""

# The package, lowest layer first (each module imports only from the ones above it; this
# file imports the families, which register their figures once, on import):
#   errors       FigureError
#   profiles     Profile / PROFILES, DeepProfile / DEEP_PROFILES, shared settings, layer sizes
#   cost         the run-time models (one per SweepSpec: spec.cost)
#   experiments  SweepSpec, Runner, pc_spec / bp_spec, the Dataset helpers (select, combine...)
#   registry     Figure, FIGURES, register, resolve
#   layout       paper sizes, new_figure, one_panel, analysis_caption, draw_footnote
#   make         estimate, make_figures, summarise, captions
#   cli          configure_parser, run_cli, main (and __main__: python -m pcdiag.figures)
#   gamma        the eight analysis figures (energy per layer, accuracy and energy ratio vs
#                gamma, the mechanism, learning curves, PCX's convention)
#   depth        the four deep-network figures
#   conv         the three conv-network figures (VGG, ResNet)
#   remedies     remedies_vs_depth (muPC and ePC at their own published recipes)

# The families register their figures when first imported: this order is the registry's.
# isort: off
from pcdiag.figures import gamma
from pcdiag.figures import depth
from pcdiag.figures import remedies
from pcdiag.figures import conv
# isort: on
from pcdiag.figures.cli import configure_parser, main, run_cli
from pcdiag.figures.cost import CostModel
from pcdiag.figures.errors import FigureError
from pcdiag.figures.experiments import (
    Runner,
    SweepSpec,
    bp_spec,
    broadcast,
    combine,
    config_of,
    conform,
    optimizers,
    pc_spec,
    select,
    trim,
    with_weight_lr,
)
from pcdiag.figures.gamma import (
    caption_accuracy_vs_gamma,
    plot_accuracy_vs_gamma,
    plot_accuracy_vs_gamma_by_width,
    plot_accuracy_vs_gamma_state_optimizer,
    plot_energy_per_layer,
    plot_energy_ratio_vs_gamma,
    summary_accuracy_vs_gamma,
    summary_by_width,
    summary_energy_per_layer,
    summary_energy_ratio_vs_gamma,
    summary_state_optimizer,
)
from pcdiag.figures.layout import (
    ONE_COLUMN,
    TWO_COLUMNS,
    analysis_caption,
    draw_footnote,
    new_figure,
    one_panel,
)
from pcdiag.figures.make import (
    Written,
    captions,
    estimate,
    make_figures,
    save_figure,
    summarise,
)
from pcdiag.figures.profiles import (
    CONV_PROFILES,
    DEEP_PROFILES,
    GAMMAS,
    PROFILES,
    REMEDY_PROFILES,
    WEIGHT_LR,
    WEIGHT_OPTIMIZERS,
    ConvProfile,
    DeepProfile,
    Profile,
    RemedyProfile,
    conv_profile,
    deep_profile,
    get_profile,
    layer_sizes_of,
    remedy_profile,
)
from pcdiag.figures.registry import FIGURES, Figure, register, resolve

__all__ = [
    "CONV_PROFILES",
    "DEEP_PROFILES",
    "FIGURES",
    "GAMMAS",
    "ONE_COLUMN",
    "PROFILES",
    "REMEDY_PROFILES",
    "WEIGHT_LR",
    "WEIGHT_OPTIMIZERS",
    "ConvProfile",
    "CostModel",
    "DeepProfile",
    "Figure",
    "FigureError",
    "Profile",
    "RemedyProfile",
    "Runner",
    "SweepSpec",
    "TWO_COLUMNS",
    "Written",
    "analysis_caption",
    "bp_spec",
    "broadcast",
    "caption_accuracy_vs_gamma",
    "captions",
    "combine",
    "config_of",
    "configure_parser",
    "conform",
    "conv",
    "conv_profile",
    "deep_profile",
    "depth",
    "draw_footnote",
    "estimate",
    "gamma",
    "get_profile",
    "layer_sizes_of",
    "main",
    "make_figures",
    "new_figure",
    "one_panel",
    "optimizers",
    "pc_spec",
    "plot_accuracy_vs_gamma",
    "plot_accuracy_vs_gamma_by_width",
    "plot_accuracy_vs_gamma_state_optimizer",
    "plot_energy_per_layer",
    "plot_energy_ratio_vs_gamma",
    "register",
    "remedies",
    "remedy_profile",
    "resolve",
    "run_cli",
    "save_figure",
    "select",
    "summarise",
    "summary_accuracy_vs_gamma",
    "summary_by_width",
    "summary_energy_per_layer",
    "summary_energy_ratio_vs_gamma",
    "summary_state_optimizer",
    "trim",
    "with_weight_lr",
]
