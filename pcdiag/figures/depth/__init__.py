"""Deep residual MLPs: how the error signal decays with depth, and the remedies: accuracy
(accuracy_vs_depth), energy (energy_propagation), updates (update_decay, depth_gamma,
bp_alignment: one sweep); the networks, sizes and sweeps in `profile`. Every count and
profile is pcdiag.measures'. FIGURES_HERE is this family's part of the registry, in order."""

from pcdiag.figures.depth.accuracy import ACCURACY_VS_DEPTH
from pcdiag.figures.depth.energy import ENERGY_PROPAGATION
from pcdiag.figures.depth.updates import BP_ALIGNMENT, DEPTH_GAMMA, UPDATE_DECAY

FIGURES_HERE = (ACCURACY_VS_DEPTH, ENERGY_PROPAGATION, UPDATE_DECAY, DEPTH_GAMMA, BP_ALIGNMENT)
FIGURE_NAMES = tuple(figure.name for figure in FIGURES_HERE)
