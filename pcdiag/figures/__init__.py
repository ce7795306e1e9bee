"""The figure registry: each figure is an experiment (sweeps + a selection) and a plot.

A `Figure` names the sweeps it needs (`sweeps(profile) -> {key: SweepSpec}`), how to turn
their Datasets into exactly the data it plots (`data(profile, results) -> Dataset`, saved
as NAME.nc), and how to draw that data (`plot(ds) -> matplotlib Figure`). Experiments never
plot and plots never train: `make_figures(..., from_data=True)` redraws from the .nc files
alone. Equal `SweepSpec`s run once per `make_figures` call, so figures can share a sweep.

To add a figure, write its three functions and register it (a family's figures are listed in
its package's FIGURES_HERE, which this module registers in order)::

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

# Lowest layer first (each module imports only from those above it): errors, profiles
# (Profile, PROFILES, family_profile: the one resolver), cost, experiments (SweepSpec, Runner,
# Dataset helpers), captions (describe: the one caption describer), registry, layout, make,
# cli; then the families, a package each (gamma, depth, remedies, conv): `profile` (network,
# sizes per profile, sweeps) beside one module per figure or small group of figures.

from pcdiag.figures import conv, depth, gamma, generative, remedies
from pcdiag.figures.cli import configure_parser, run_cli
from pcdiag.figures.errors import FigureError
from pcdiag.figures.experiments import Runner, SweepSpec, config_of, select, trim
from pcdiag.figures.gamma.accuracy import (
    caption_accuracy_vs_gamma,
    plot_accuracy_vs_gamma,
    summary_accuracy_vs_gamma,
    summary_state_optimizer,
)
from pcdiag.figures.gamma.profile import WEIGHT_LR, pc_spec
from pcdiag.figures.layout import ONE_COLUMN, TWO_COLUMNS
from pcdiag.figures.make import captions, estimate, make_figures, summarise
from pcdiag.figures.profiles import PROFILES, Profile
from pcdiag.figures.registry import FIGURES, Figure, register

# The registry's order: the families' figures, family by family.
for _figure in (gamma.FIGURES_HERE + depth.FIGURES_HERE + remedies.FIGURES_HERE
                + conv.FIGURES_HERE + generative.FIGURES_HERE):
    register(_figure)

__all__ = [
    "FIGURES",
    "ONE_COLUMN",
    "PROFILES",
    "TWO_COLUMNS",
    "WEIGHT_LR",
    "Figure",
    "FigureError",
    "Profile",
    "Runner",
    "SweepSpec",
    "caption_accuracy_vs_gamma",
    "captions",
    "config_of",
    "configure_parser",
    "conv",
    "depth",
    "estimate",
    "gamma",
    "generative",
    "make_figures",
    "pc_spec",
    "plot_accuracy_vs_gamma",
    "register",
    "remedies",
    "run_cli",
    "select",
    "summarise",
    "summary_accuracy_vs_gamma",
    "summary_state_optimizer",  # notebook 03 calls it
    "trim",
]
