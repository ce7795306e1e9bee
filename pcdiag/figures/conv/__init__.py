"""Conv PCNs (VGG, ResNet): accuracy (accuracy_vs_depth_conv), energy
(energy_propagation_conv), ratio (energy_ratio_vs_gamma_conv); the networks, sizes and sweeps
in `profile`. FIGURES_HERE is this family's part of the registry, in order."""

from pcdiag.figures.conv.accuracy import ACCURACY_VS_DEPTH_CONV
from pcdiag.figures.conv.energy import ENERGY_PROPAGATION_CONV
from pcdiag.figures.conv.ratio import ENERGY_RATIO_VS_GAMMA_CONV

FIGURES_HERE = (ACCURACY_VS_DEPTH_CONV, ENERGY_PROPAGATION_CONV, ENERGY_RATIO_VS_GAMMA_CONV)
FIGURE_NAMES = tuple(figure.name for figure in FIGURES_HERE)
