"""One visual language across the figures (pcdiag.plot.styling): every registered figure,
redrawn from its committed .nc, draws each algorithm in its own colour, never gives an
algorithm's colour to an optimizer or a layer, and has colour bars that span their data."""

import functools
import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.colors import to_hex  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402

import pcdiag  # noqa: E402
from pcdiag import figures  # noqa: E402
from pcdiag.plot import styling  # noqa: E402
from pcdiag.plot.styling import ALGORITHM_STYLE, algorithm_in_label, algorithm_style  # noqa: E402

COMMITTED = Path(__file__).resolve().parents[1] / "figures"
NAMES = [name for name, f in figures.FIGURES.items()
         if (COMMITTED / f"{getattr(f, 'file', name)}.nc").is_file()]
ALGORITHM_COLOURS = {s["color"] for s in ALGORITHM_STYLE.values()}
OPTIMIZER = re.compile(r"\b(momentum|adamw?|sgd)\b", re.IGNORECASE)
LAYER = re.compile(r"^(layer \d|\$E_\{\d)")

pytestmark = pytest.mark.usefixtures("clean_plot_state")  # tests/conftest.py


@functools.cache
def drawn(name: str):
    figure = figures.FIGURES[name]
    ds = pcdiag.open_dataset(COMMITTED / f"{getattr(figure, 'file', name)}.nc")
    return figure.plot(ds)


def colour_of(handle) -> str | None:
    if isinstance(handle, tuple):  # a (band, line) key: the line's colour
        handle = handle[-1]
    if isinstance(handle, Line2D):
        return to_hex(handle.get_color()) if handle.get_color() != "none" else None
    if isinstance(handle, Patch):
        return to_hex(handle.get_facecolor())
    return None


def labelled(fig) -> list[tuple[str, str]]:
    """(label, colour) of every labelled line and every legend key of the figure."""
    out = []
    for ax in fig.axes:
        for line in ax.get_lines():
            text = str(line.get_label())
            if not text.startswith("_") and colour_of(line):
                out.append((text, colour_of(line)))
    legends = list(fig.legends) + [ax.get_legend() for ax in fig.axes if ax.get_legend()]
    for legend in legends:
        for handle, text in zip(legend.legend_handles, legend.get_texts()):
            colour = colour_of(handle)
            if colour:
                out.append((text.get_text(), colour))
    return out


def test_every_registered_figure_is_checked():
    assert NAMES == list(figures.FIGURES)


@pytest.mark.parametrize("name", NAMES)
def test_algorithms_have_their_colour_optimizers_and_layers_none(name):
    fig = drawn(name)
    for text, colour in labelled(fig):
        algorithm = algorithm_in_label(text)
        if LAYER.match(text) or OPTIMIZER.search(text) and algorithm is None:
            assert colour not in ALGORITHM_COLOURS, f"{name}: {text!r} in an algorithm's colour"
        elif algorithm is not None:
            assert colour == ALGORITHM_STYLE[algorithm]["color"], \
                f"{name}: {text!r} is {colour}, not {algorithm}'s colour"


@pytest.mark.parametrize("name", NAMES)
def test_colour_bars_span_their_data(name):
    fig = drawn(name)
    mappables = [m for ax in fig.axes for m in ax.collections + ax.images
                 if m.get_array() is not None]
    for bar in [m for m in mappables if getattr(m, "colorbar", None) is not None]:
        vmin, vmax = bar.get_clim()
        # the data on this scale: every panel drawn with the same colormap and limits
        shared = [m for m in mappables
                  if m.get_clim() == (vmin, vmax) and m.get_cmap().name == bar.get_cmap().name]
        values = np.concatenate([np.ma.filled(np.ma.asarray(m.get_array(), float), np.nan)
                                 .ravel() for m in shared])
        values = values[np.isfinite(values)]
        slack = 1e-6 * max(1.0, abs(vmax))
        assert values.min() - slack <= vmin < vmax <= values.max() + slack, \
            f"{name}: colour scale {vmin:g}-{vmax:g}, data {values.min():g}-{values.max():g}"


def test_one_style_per_algorithm_and_names_the_data_use():
    colours = [s["color"] for s in ALGORITHM_STYLE.values()]
    markers = [s["marker"] for s in ALGORITHM_STYLE.values()]
    assert len(set(colours)) == len(colours) and len(set(markers)) == len(markers)
    assert set(ALGORITHM_STYLE) == {"pc", "ipc", "epc", "mupc", "bp", "precision"}
    assert algorithm_style("pc_more_steps") == algorithm_style("PC")
    assert algorithm_style("remedy", recipe="mupc")["label"] == "μPC"
    assert algorithm_style("layer_precision")["color"] == ALGORITHM_STYLE["precision"]["color"]
    with pytest.raises(KeyError, match="known"):
        algorithm_style("adamw")
    assert algorithm_in_label("PC + precision geometric 0.5") == "precision"
    assert algorithm_in_label("ePC (errors)") == "epc"
    assert algorithm_in_label("PC test accuracy") == "pc"
    assert algorithm_in_label("PC vs BP") is None


def test_layers_optimizers_and_other_categories_never_take_an_algorithm_colour():
    for n in (1, 3, 16, 64):
        assert not set(styling.layer_colours(n)) & ALGORITHM_COLOURS
        assert not set(styling.palette(n)) & ALGORITHM_COLOURS
        assert not set(styling.palette(n, "sequential")) & ALGORITHM_COLOURS
    layers = styling.layer_colours(4)
    assert len(set(layers)) == 4 and layers[0] == to_hex(matplotlib.colormaps["viridis"](0.0))
    styles = {styling.optimizer_style(o)["linestyle"] for o in ("momentum", "adamw")}
    assert len(styles) == 2
