"""The one exception of pcdiag.figures (below every other module, so that all can raise it)."""


class FigureError(ValueError):
    """A bad figure request (unknown name or profile, missing data); says what is known."""
