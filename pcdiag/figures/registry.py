"""The figure registry: a `Figure` is an experiment (its sweeps and the data it keeps) and a
plot; `register` adds one to `FIGURES` (in order), `resolve` looks names up."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

import xarray as xr
from matplotlib.figure import Figure as MplFigure

from pcdiag.figures.errors import FigureError
from pcdiag.figures.experiments import Runner, SweepSpec
from pcdiag.figures.profiles import Profile, get_profile

__all__ = ["FIGURES", "Figure", "FigureError", "register", "resolve"]


@dataclass(frozen=True)
class Figure:
    """A registered figure: what to run, what to keep, how to draw it, what it says.

    `caption(ds)` is the figure's caption (settings and reading notes), kept outside the
    image: make_figures stores it in NAME.nc's attrs and draws it only with footnote=True."""

    name: str
    description: str
    sweeps: Callable[[Profile], dict[str, SweepSpec]]
    data: Callable[[Profile, Mapping[str, xr.Dataset]], xr.Dataset]
    plot: Callable[[xr.Dataset], MplFigure]
    summary: Callable[[xr.Dataset], str] = field(default=lambda ds: "")
    caption: Callable[[xr.Dataset], str] = field(default=lambda ds: "")
    #: The figure whose NAME.nc holds this one's data ("": its own): two figures that draw the
    #: same runs share one file, written as the other figure's (its data, caption and title).
    data_from: str = ""
    #: Sweeps that depend on `sweeps`' results (a second stage: the other seeds at the
    #: setting a first seed chose), run after them; called with results None for the estimate.
    followups: Callable[[Profile, Mapping[str, xr.Dataset] | None],
                        dict[str, SweepSpec]] | None = None

    @property
    def file(self) -> str:
        """The stem of the .nc file holding this figure's data."""
        return self.data_from or self.name

    def experiment(self, profile: str | Profile, runner: Runner | None = None) -> xr.Dataset:
        """Run (or reuse) the sweeps and return exactly the data the figure plots."""
        profile = get_profile(profile)
        runner = runner or Runner()
        results = runner(self.sweeps(profile))
        return self.data(profile, {**results, **runner(self.chosen_followups(profile, runner))})

    def chosen_followups(self, profile: Profile, runner: Runner) -> dict[str, SweepSpec]:
        """`followups` at what `sweeps`' results (run, or read back, by `runner`) choose;
        {} without followups."""
        if self.followups is None:
            return {}
        return self.followups(profile, runner(self.sweeps(profile)))

    def all_sweeps(self, profile: Profile) -> dict[str, SweepSpec]:
        """`sweeps` and, as the estimate sees them (results None), `followups`."""
        later = self.followups(profile, None) if self.followups is not None else {}
        return {**self.sweeps(profile), **later}


FIGURES: dict[str, Figure] = {}


def register(figure: Figure) -> Figure:
    """Add a figure to the registry (its name is its file name)."""
    if figure.name in FIGURES:
        raise FigureError(f"a figure named {figure.name!r} is already registered")
    if figure.data_from and figure.data_from not in FIGURES:
        raise FigureError(f"{figure.name}: data_from={figure.data_from!r} must name a figure "
                          "registered before it")
    FIGURES[figure.name] = figure
    return figure


def resolve(only: str | Iterable[str] | None) -> list[Figure]:
    """The registered figures named in `only` (comma-separated or a list); None: all."""
    if only is None:
        return list(FIGURES.values())
    names = [n.strip() for n in (only.split(",") if isinstance(only, str) else only)]
    names = [n for n in names if n]
    unknown = [n for n in names if n not in FIGURES]
    if unknown or not names:
        raise FigureError(
            f"unknown figure name(s) {', '.join(map(repr, unknown)) or '(none given)'}; "
            f"known figures: {', '.join(FIGURES)}"
        )
    return [FIGURES[n] for n in dict.fromkeys(names)]
