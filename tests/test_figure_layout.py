"""Publication layout of the registered figures, drawn from the committed figures/*.nc.

Every figure is one column (3.3 in) or two columns (7 in) wide and no text in it is under
7 pt at that size; captions live outside the image (in NAME.nc's attrs, `--captions`) and
are drawn only on request.
"""

import functools
import shutil
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.text import Text  # noqa: E402

import pcdiag  # noqa: E402
import pcdiag.plot as pplot  # noqa: E402
from pcdiag import figures  # noqa: E402
from pcdiag.figures import make  # noqa: E402
from pcdiag.plot.styling import style  # noqa: E402

COMMITTED = Path(__file__).resolve().parents[1] / "figures"
NAMES = [name for name, f in figures.FIGURES.items() if (COMMITTED / f"{f.file}.nc").is_file()]

pytestmark = pytest.mark.usefixtures("clean_plot_state")  # tests/conftest.py


@functools.cache
def plotted(name: str):
    """(data, figure) for a registered figure, drawn from its committed data (once)."""
    ds = pcdiag.open_dataset(COMMITTED / f"{figures.FIGURES[name].file}.nc")
    return ds, figures.FIGURES[name].plot(ds)


def visible_texts(fig) -> list[Text]:
    """The visible Text artists, tick labels included (made inside the style, as when
    make_figures saves; no draw needed: a layout pass does not change font sizes)."""
    with style():
        return [t for t in fig.findobj(Text) if t.get_visible()]


def test_every_registered_figure_has_committed_data():
    assert NAMES == list(figures.FIGURES)


@pytest.mark.parametrize("name", NAMES)
def test_paper_width_and_no_text_under_7pt(name):
    ds, fig = plotted(name)
    assert fig.get_figwidth() in (figures.ONE_COLUMN, figures.TWO_COLUMNS)
    texts = visible_texts(fig)
    assert len([t for t in texts if t.get_text().strip()]) > 5
    small = [(t.get_text()[:40], t.get_fontsize()) for t in texts if t.get_fontsize() < 7]
    assert not small, f"{name}: text under 7 pt: {small}"
    # the caption is not in the image, and says what the footnote used to
    caption = figures.FIGURES[name].caption(ds)
    assert "convention" in caption.splitlines()[0] or "γ" in caption.splitlines()[0]
    assert not any(caption.splitlines()[0][:30] in t.get_text() for t in texts)


#: The figures the layout rules below apply to: every registered one but the generative
#: family's (checked by its own tests).
TITLED = [n for n in NAMES
          if not figures.FIGURES[n].plot.__module__.startswith("pcdiag.figures.generative")]


@pytest.mark.parametrize("name", TITLED)
def test_panel_labels_inside_the_image_everything_else_in_the_caption(name):
    """No suptitle, no figure text, and no Axes title beyond a panel label: the bold letter
    and a short panel name of at most PANEL_NAME_CHARS characters ('PC, T = 64', 'AdamW');
    the γ convention and what the titles used to say are in the caption."""
    from pcdiag.figures.layout import PANEL_NAME_CHARS
    from pcdiag.plot.styling import panel_title

    ds, fig = plotted(name)
    assert fig._suptitle is None or not fig._suptitle.get_text(), f"{name}: a suptitle"
    assert not [t.get_text() for t in fig.texts if t.get_text().strip()], f"{name}: fig text"
    for ax in fig.axes:
        for loc in ("center", "right"):
            assert not ax.get_title(loc=loc), f"{name}: a {loc} title {ax.get_title(loc=loc)!r}"
        name_left = panel_title(ax).strip()
        assert "\n" not in name_left and len(name_left) <= PANEL_NAME_CHARS, \
            f"{name}: panel title {name_left!r} is more than a panel label"
    drawn = " ".join(t.get_text() for t in visible_texts(fig))
    assert "convention" not in drawn, f"{name}: the γ convention is drawn"
    caption = figures.FIGURES[name].caption(ds)
    assert "γ per sample" in caption or "γ batch-mean" in caption or "convention" in caption


def test_panel_names_are_short():
    fig, axes = figures.layout.new_figure(2)
    with pytest.raises(ValueError, match="caption"):
        figures.layout.name_panels(axes, ["PC", "PC with a long description"])


#: What savefig(bbox_inches="tight") may add to the figure's width: its pad (0.1 in each side)
#: and tick labels centred on an axis end (half a label, up to ~0.15 in at 7-8 pt).
SAVED_SLACK_IN = 0.2 + 0.15


@pytest.mark.parametrize("name", NAMES)
def test_the_saved_image_keeps_the_paper_width(name):
    """A legend or label wider than the figure would widen the saved image beyond its column."""
    import io

    from PIL import Image

    _, fig = plotted(name)
    buffer = io.BytesIO()
    with style():
        fig.savefig(buffer, format="png", dpi=150, bbox_inches="tight")  # as make_figures
    width = Image.open(buffer).size[0] / 150
    assert width <= fig.get_figwidth() + SAVED_SLACK_IN, f"{name}: saved {width:.2f} in wide"


def test_captions_are_stored_not_drawn_unless_asked(tmp_path, monkeypatch):
    name = "accuracy_vs_gamma"
    shutil.copy(COMMITTED / f"{name}.nc", tmp_path)
    drawn = []
    monkeypatch.setattr(make, "save_figure", lambda fig, out, n: (drawn.append(fig), (0, 0))[1])
    for footnote in (False, True):
        (written,) = make.make_figures(only=name, out=tmp_path, from_data=True,
                                       progress=False, footnote=footnote)
        first = written.caption.splitlines()[0]
        assert first.startswith("γ per sample")
        texts = [t.get_text() for t in drawn[-1].findobj(Text)]
        assert any(first[:40] in text for text in texts) is footnote
    assert make.captions(tmp_path).startswith(f"## {name}\n\n{first}")
    # a drawn footnote is 7 pt too, wrapped to the figure's width
    footnote = drawn[-1].texts[-1]
    assert footnote.get_fontsize() == 7
    assert max(map(len, footnote.get_text().splitlines())) <= 3.3 * 72 / 3.5


def test_batch_mean_axis_is_gamma_times_batch():
    ds, fig = plotted("accuracy_vs_gamma")
    (ax,) = fig.axes[:1]
    (top,) = ax.child_axes
    batch = figures.config_of(ds).batch_size
    assert str(batch) in top.get_xlabel()
    with style():
        fig.draw_without_rendering()
    # the top axis's limits are the bottom one's times B
    np.testing.assert_allclose(top.get_xlim(), np.array(ax.get_xlim()) * batch, rtol=1e-9)


def test_heatmap_scale_is_clipped_to_eight_decades():
    ds, fig = plotted("energy_propagation")
    values = [pplot.heatmap.log_energy_range(ds.sel(variant=v)) for v in ds["variant"].values]
    top = max(hi for _, hi in values)
    assert top - min(lo for lo, _ in values) > 8  # the data span more than the scale shows
    mesh = fig.axes[0].collections[-1]
    vmin, vmax = mesh.get_clim()
    assert vmax == pytest.approx(top) and vmin == np.ceil(top - pplot.heatmap.HEATMAP_DECADES)
    assert mesh.get_cmap().get_under()[:3] == pytest.approx(
        matplotlib.colors.to_rgb(pplot.heatmap.UNDER))
    bar = fig.axes[-1]
    assert f"10^{{{vmin:.0f}}}" in bar.get_ylabel()


def test_captions_say_how_many_training_steps_the_numbers_are_read_after():
    """A caption states the budget (issue 20): epochs and the training steps they make,
    validation images held out of the steps."""
    from pcdiag.figures.captions import epochs_text

    assert epochs_text(pcdiag.Config(train_limit=6400, batch_size=64, epochs=3)) == (
        "3 epochs (300 training steps)")
    assert epochs_text(pcdiag.Config(batch_size=64, validation_size=10_000)) == (
        "1 epoch (781 training steps)")  # 50,000 images // 64
    caption = pcdiag.open_dataset(COMMITTED / "accuracy_vs_gamma.nc").attrs["caption"]
    assert "60000 fashion-mnist training images, 1 epoch (937 training steps)" in caption


def test_an_accuracy_axis_with_every_mean_below_chance_is_left_as_it_is():
    """A run of a few steps can end below chance (0.08 on 10 classes): no healthy run to fit
    the y axis to, so its limits stay matplotlib's, and nothing fails."""
    import xarray as xr
    from matplotlib.figure import Figure

    from pcdiag.plot.sensitivity import fit_accuracy_axes

    ax = Figure().subplots()
    ax.plot([0.01, 1.0], [0.08, 0.09])
    before = ax.get_ylim()
    summary = xr.Dataset({k: ("gamma", [0.08, 0.09]) for k in ("mean", "min", "max")},
                         coords={"gamma": [0.01, 1.0]})
    assert fit_accuracy_axes([ax], "gamma", [summary], chance=0.1) == before
