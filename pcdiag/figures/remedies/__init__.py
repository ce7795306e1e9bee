"""The remedies at their own published recipes: ``remedies_vs_depth`` (accuracy); the
recipes, sizes per profile and sweeps are in `profile`."""

from pcdiag.figures.remedies.accuracy import FIGURE

FIGURES_HERE = (FIGURE,)
FIGURE_NAMES = tuple(figure.name for figure in FIGURES_HERE)
