"""Figure layout shared by the figure families: paper sizes (one or two columns), a
constrained-layout figure with a row of Axes, the one-panel figure, a legend under the
figure, the caption drawn under the figure on request (`draw_footnote`), and the gamma axes
in the other convention's units."""

from __future__ import annotations

import textwrap
from collections.abc import Callable

import numpy as np
import xarray as xr
from matplotlib.axes import Axes
from matplotlib.figure import Figure as MplFigure

from pcdiag.figures.experiments import config_of
from pcdiag.plot.styling import panel_labels, style

#: Figure widths in inches: one column and two columns of a two-column paper.
ONE_COLUMN = 3.3
TWO_COLUMNS = 7.0
#: Font size (points) of a footnote drawn into the image (`draw_footnote`).
FOOTNOTE_PT = 7
#: The most characters a panel's title holds besides its letter (`name_panels`): a short
#: panel name; titles and the gamma convention are in the caption (tests/test_figure_layout.py).
PANEL_NAME_CHARS = 12
#: Short panel names of the weight optimizers (figures with one panel per optimizer).
OPTIMIZER_PANEL = {"momentum": "momentum", "adamw": "AdamW", "sgd": "SGD", "adam": "Adam"}


def short_number(x: float, digits: int = 3) -> str:
    """A number for a figure's summary text: `digits` significant digits, 'nan' if not finite."""
    return "nan" if not np.isfinite(x) else f"{x:.{digits}g}"


def new_figure(ncols: int, width: float = TWO_COLUMNS, height: float = 2.6):
    """A constrained-layout figure (not pyplot's) and its row of `ncols` Axes."""
    fig = MplFigure(figsize=(width, height), layout="constrained")
    axes = fig.subplots(1, ncols, squeeze=False)[0]
    return fig, axes


def draw_footnote(fig: MplFigure, caption: str) -> None:
    """Draw `caption` (lines separated by newlines) under the figure, wrapped to its width."""
    chars = int(fig.get_figwidth() * 72 / (0.5 * FOOTNOTE_PT))  # ~0.5 em per character
    text = "\n".join(textwrap.fill(line, chars, subsequent_indent="  ")
                     for line in caption.splitlines() if line)
    # Lay the figure out once and freeze it: a figure legend sits on the figure's edge, and
    # the tight crop that takes in the footnote would otherwise move it down onto the text.
    with style():
        fig.draw_without_rendering()
    for legend in fig.legends:
        box = legend.get_window_extent().transformed(fig.transFigure.inverted())
        legend.set_bbox_to_anchor(box, transform=fig.transFigure)
    fig.set_layout_engine("none")
    fig.text(0.01, -0.01, text, ha="left", va="top", fontsize=FOOTNOTE_PT, color="0.35")


def one_panel(ds: xr.Dataset, draw: Callable, title: str,
              size: tuple[float, float] = (ONE_COLUMN, 3.4)) -> MplFigure:
    """A styled one-Axes figure: `draw(ds, ax)` and its legend under the Axes. The `title`
    is the figure's label (`fig.get_label()`), not drawn: the caption says what is drawn."""
    with style():
        fig, (ax,) = new_figure(1, *size)
        draw(ds, ax)
        legend_below(fig, ax)
        fig.set_label(title)
    return fig


def name_panels(axes, names) -> None:
    """Label each Axes with its bold letter (a, b, ...) and a short name ('PC', 'AdamW'; ''
    for none) as its left title, replacing whatever title it had: the caption says the rest.
    A name longer than PANEL_NAME_CHARS is an error."""
    axes, names = list(axes), list(names)
    for ax, name in zip(axes, names, strict=True):
        if len(name) > PANEL_NAME_CHARS:
            raise ValueError(f"panel name {name!r} is over {PANEL_NAME_CHARS} characters: say "
                             "it in the caption")
        for loc in ("left", "center", "right"):
            ax.set_title("", loc=loc)
        ax.set_title(name, loc="left")
    panel_labels(axes)


def legend_below(fig: MplFigure, ax: Axes, ncols: int = 2) -> None:
    """Move `ax`'s legend under the figure (a narrow figure has no room for it inside)."""
    legend = ax.get_legend()
    if legend is None:
        return
    labels = [t.get_text() for t in legend.get_texts()]
    title = legend.get_title().get_text()
    handles = list(legend.legend_handles)
    legend.remove()
    # as many columns as fit the figure's width (a saved figure must keep its paper width),
    # then long labels wrapped
    width = fig.get_figwidth() * fig.dpi
    for columns, wrap in [(min(ncols, len(labels)), None), (1, None), (1, 48)]:
        texts = labels if wrap is None else [textwrap.fill(t, wrap) for t in labels]
        below = fig.legend(handles, texts, title=title or None, loc="outside lower center",
                           ncols=columns)
        with style():
            fig.draw_without_rendering()
        if below.get_window_extent().width <= width or wrap is not None:
            return
        below.remove()


def batch_mean_axis(ax: Axes, ds: xr.Dataset) -> None:
    """A top x axis giving per-sample gamma in batch-mean units (PCX's: gamma x B, B the
    batch size of the data's config); nothing when the data already use batch-mean gamma."""
    if ds.attrs.get("gamma_convention", "per_sample") != "per_sample":
        return
    batch = config_of(ds).batch_size
    top = ax.secondary_xaxis("top", functions=(lambda g: g * batch, lambda g: g / batch))
    top.set_xlabel(f"batch-mean γ = γ × B (B = {batch})")


def per_sample_axis(ax: Axes, ds: xr.Dataset) -> None:
    """batch_mean_axis's mirror: a top x axis giving batch-mean gamma in per-sample units
    (gamma / B, B the batch size of the data's config); nothing unless the data use
    batch-mean gamma."""
    if ds.attrs.get("gamma_convention") != "batch_mean":
        return
    batch = config_of(ds).batch_size
    top = ax.secondary_xaxis("top", functions=(lambda g: g / batch, lambda g: g * batch))
    top.set_xlabel(f"per-sample γ = γ / B (B = {batch})")
