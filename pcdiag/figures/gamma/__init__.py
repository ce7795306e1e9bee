"""The analysis figures of the [784, W, W, 10] network against the state learning rate gamma:
energy (energy_per_layer, energy_ratio_vs_gamma), accuracy (accuracy_vs_gamma, _by_width,
_state_optimizer, _pcx), mechanism, learning_curves; the network, settings and sweeps in
`profile`. FIGURES_HERE is this family's part of the registry, in order."""

from pcdiag.figures.gamma.accuracy import (
    ACCURACY_VS_GAMMA,
    ACCURACY_VS_GAMMA_PCX,
    BY_WIDTH,
    STATE_OPTIMIZER,
)
from pcdiag.figures.gamma.energy import ENERGY_PER_LAYER, ENERGY_RATIO_VS_GAMMA
from pcdiag.figures.gamma.learning_curves import LEARNING_CURVES
from pcdiag.figures.gamma.mechanism import MECHANISM

FIGURES_HERE = (ENERGY_PER_LAYER, ACCURACY_VS_GAMMA, ENERGY_RATIO_VS_GAMMA, BY_WIDTH,
                STATE_OPTIMIZER, MECHANISM, LEARNING_CURVES, ACCURACY_VS_GAMMA_PCX)
FIGURE_NAMES = tuple(figure.name for figure in FIGURES_HERE)
