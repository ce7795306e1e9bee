"""PC as a generative model (PCX's decoder, pcdiag.tasks.generation): ``generative_energy``
(where the energy goes, depths 3-8), ``generative_mse_vs_gamma`` (test reconstruction MSE
against the state step) and ``generative_reconstructions`` (images and their
reconstructions, PC and BP); the sizes per profile, sweeps and cost model are in `profile`."""

from pcdiag.figures.generative.energy import FIGURE as ENERGY
from pcdiag.figures.generative.mse import FIGURE as MSE_VS_GAMMA
from pcdiag.figures.generative.reconstructions import FIGURE as RECONSTRUCTIONS

FIGURES_HERE = (ENERGY, MSE_VS_GAMMA, RECONSTRUCTIONS)
FIGURE_NAMES = tuple(figure.name for figure in FIGURES_HERE)
