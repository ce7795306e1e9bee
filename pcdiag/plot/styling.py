"""Shared styling and labelling for pcdiag plots; nothing here touches global state.

`style()` is a context manager (seaborn's "ticks" style and "paper" context, colour-blind
palette) that restores the rcParams it set when it exits. Labels come from each variable's
`long_name` and `units` attrs, as xarray's `label_from_attrs` does (units "1" are left out).

One visual language for every figure: a fixed colour and marker per algorithm
(`ALGORITHM_STYLE`, `algorithm_style`; the data's names go through `algorithm_key`),
optimizers by line style and marker fill (`OPTIMIZER_STYLE`), layers by LAYER_CMAP sampled by
index (`layer_colours`), other ordered values by SEQUENTIAL, other categories by
OTHER_COLOURS; no encoding reuses an algorithm's colour (tests/test_visual_language.py).
Panels are labelled a, b, c (`panel_labels`); titles and the gamma convention live in the
captions, outside the image.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Iterator, Sequence

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import seaborn as sns
import xarray as xr
from matplotlib.axes import Axes
from matplotlib.colors import to_hex

from pcdiag.dataset import config_of, sweep_dims

#: Font sizes in points, absolute so nothing falls under 7 pt at a paper's column width
#: (pcdiag.figures.layout: ONE_COLUMN, TWO_COLUMNS); code passes no relative sizes.
PAPER_FONTS = {
    "font.size": 8, "axes.labelsize": 8, "axes.titlesize": 8, "figure.titlesize": 9,
    "xtick.labelsize": 7, "ytick.labelsize": 7, "legend.fontsize": 7,
    "legend.title_fontsize": 7, "lines.linewidth": 1.2, "lines.markersize": 3.5,
    "axes.linewidth": 0.6, "xtick.major.width": 0.6, "ytick.major.width": 0.6,
    "xtick.major.size": 2.5, "ytick.major.size": 2.5, "xtick.minor.size": 1.5,
    "ytick.minor.size": 1.5, "legend.handlelength": 1.6, "legend.borderaxespad": 0.3,
}
#: The qualitative palette the colours below come from; colour-blind safe.
PALETTE = "colorblind"
#: One colour and marker per algorithm, the same in every figure (seaborn's colour-blind
#: palette; BP, the reference, in black). Keys are the names the data use (the `algorithm`
#: dim; `variant` / `recipe` values go through `algorithm_key`).
ALGORITHM_STYLE = {
    "pc": {"color": "#0173b2", "marker": "o", "label": "PC"},
    "ipc": {"color": "#029e73", "marker": "P", "label": "iPC"},
    "epc": {"color": "#d55e00", "marker": "^", "label": "ePC"},
    "mupc": {"color": "#cc78bc", "marker": "h", "label": "μPC"},
    "bp": {"color": "#000000", "marker": "*", "label": "BP"},
    "precision": {"color": "#de8f05", "marker": "p", "label": "precision-weighted PC"},
}
#: Other names the data give an algorithm: variants of a run and the Config's fields.
ALGORITHM_ALIASES = {
    "pc_more_steps": "pc", "layer_precision": "precision", "precision_pc": "precision",
    "μpc": "mupc", "incremental": "ipc",
}
#: Optimizers are told apart by line style and marker fill (never by an algorithm's colour);
#: their legend keys are drawn in NEUTRAL.
OPTIMIZER_STYLE = {
    "momentum": {"linestyle": "-", "label": "SGD with momentum"},
    "sgd": {"linestyle": "-", "label": "SGD"},
    "adamw": {"linestyle": "--", "markerfacecolor": "white", "label": "AdamW"},
    "adam": {"linestyle": "--", "markerfacecolor": "white", "label": "Adam"},
}
#: The colour of keys and marks that belong to no algorithm (optimizers, failures, guides).
NEUTRAL = "#4d4d4d"
#: Layers: a sequential colormap sampled by layer index, layer 1 (nearest the input) darkest.
LAYER_CMAP = "viridis"
#: Other ordered values (widths, depths, gammas): a second sequential colormap.
SEQUENTIAL = "cividis"
#: Categories that are none of the above: colour-blind colours no algorithm uses.
OTHER_COLOURS = ("#56b4e9", "#ca9161", "#949494", "#fbafe4", "#ece133")
LINESTYLES = ("-", "--", ":", "-.")
#: Panel labels, drawn bold at the top left of each panel.
PANEL_LETTERS = "abcdefghijklmnopqrstuvwxyz"
GAMMA_CONVENTION_TEXT = {
    "per_sample": "γ per sample: each sample's states follow its own energy's gradient",
    "batch_mean": "γ batch-mean: states follow the batch-mean energy's gradient (step γ/B)",
}


@contextlib.contextmanager
def style(context: str = "paper", font_scale: float = 1.1) -> Iterator[None]:
    """Apply pcdiag's look inside a `with` block only; the keys it sets are restored on exit.

    Example::

        with pcdiag.plot.style():
            ax = pcdiag.plot.energy_per_layer(ds)

    Unlike ``matplotlib.rc_context`` it restores only the keys it changed: rc_context would
    also roll back ``interactive``, which pyplot switches on when the first figure is made in
    Jupyter, and inline figures would stop showing after the block.
    """
    rc = style_rc(context, font_scale)
    saved = {key: matplotlib.rcParams[key] for key in rc}
    try:
        matplotlib.rcParams.update(rc)
        yield
    finally:
        matplotlib.rcParams.update(saved)


def style_rc(context: str = "paper", font_scale: float = 1.1) -> dict:
    """The rcParams pcdiag's style sets: seaborn "ticks" and `context`, colour-blind palette."""
    rc = {}
    rc.update(sns.axes_style("ticks"))
    rc.update(sns.plotting_context(context, font_scale=font_scale))
    rc.update({
        "axes.prop_cycle": plt.cycler(color=list(OTHER_COLOURS)),
        "axes.spines.top": False,
        "axes.spines.right": False,
        "legend.frameon": False,
        "savefig.bbox": "tight",
        "savefig.dpi": 150,
    })
    rc.update(PAPER_FONTS)
    return rc


def palette(n: int, kind: str = "qualitative") -> list[str]:
    """n colours as hex strings: qualitative (categories that are not algorithms, never an
    algorithm's colour), sequential (ordered values: widths, depths, gammas) or "layer"."""
    if kind == "layer":
        return layer_colours(n)
    if kind == "qualitative":
        return [OTHER_COLOURS[i % len(OTHER_COLOURS)] for i in range(n)]
    cmap = matplotlib.colormaps[SEQUENTIAL]
    return [to_hex(cmap(x)) for x in np.linspace(0.0, 0.8, max(n, 1))][:n]


def layer_colours(n: int) -> list[str]:
    """The colours of layers 1..n (LAYER_CMAP sampled by index; layer 1, nearest the input,
    darkest; the pale yellow end is left out)."""
    cmap = matplotlib.colormaps[LAYER_CMAP]
    return [to_hex(cmap(x)) for x in np.linspace(0.0, 0.85, max(n, 1))][:n]


def algorithm_key(name: str, recipe: str | None = None) -> str | None:
    """The ALGORITHM_STYLE key of an algorithm as the data name it ('PC', 'pc_more_steps',
    'layer_precision'); a remedies_vs_depth 'remedy' is its `recipe`; None if not one."""
    key = str(name).strip().lower()
    if key == "remedy" and recipe is not None:
        key = str(recipe).lower()
    key = ALGORITHM_ALIASES.get(key, key)
    return key if key in ALGORITHM_STYLE else None


def algorithm_style(name: str, recipe: str | None = None) -> dict:
    """{'color', 'marker', 'label'} of an algorithm (`algorithm_key`); a KeyError names the
    algorithms there are."""
    key = algorithm_key(name, recipe)
    if key is None:
        raise KeyError(f"{name!r} is not an algorithm pcdiag styles; known: "
                       f"{', '.join(ALGORITHM_STYLE)}")
    return dict(ALGORITHM_STYLE[key])


def config_algorithm(cfg) -> str:
    """The ALGORITHM_STYLE key of a Config: muPC (parameterization "mupc") and
    precision-weighted PC (a `layer_precision`) are PC's inference under another name."""
    if getattr(cfg, "parameterization", "sp") == "mupc":
        return "mupc"
    if getattr(cfg, "layer_precision", None):
        return "precision"
    return algorithm_key(cfg.algorithm) or "pc"


def data_algorithm(ds: xr.Dataset) -> str:
    """The algorithm a Dataset without an `algorithm` dim ran (its config attrs)."""
    try:
        return config_algorithm(config_of(ds))
    except (KeyError, ValueError, TypeError):
        return "pc"


#: Words in a label that name an algorithm, most specific first (algorithm_in_label).
_LABEL_WORDS = (("precision", "precision"), ("μPC", "mupc"), ("muPC", "mupc"),
                ("iPC", "ipc"), ("ePC", "epc"), ("BP", "bp"), ("PC", "pc"))


def algorithm_in_label(text: str) -> str | None:
    """The one algorithm a legend label names ('PC (recipe)' -> 'pc'); None when it names
    none or several."""
    found, rest = set(), str(text)
    for word, key in _LABEL_WORDS:
        pattern = rf"(?<![A-Za-zμ]){re.escape(word)}(?![A-Za-z])"
        if re.search(pattern, rest):
            found.add(key)
            rest = re.sub(pattern, " ", rest)
    if "precision" in found:  # "PC + precision ...": precision-weighted PC
        found.discard("pc")
    return found.pop() if len(found) == 1 else None


def colours_for(dim: str | None, values, recipe: str | None = None) -> list[str]:
    """One colour per value of a sweep dim, in the one visual language: algorithms their
    ALGORITHM_STYLE colour, layers LAYER_CMAP, other ordered values SEQUENTIAL, anything
    else OTHER_COLOURS."""
    values = list(values)
    if values and all(algorithm_key(v, recipe) for v in values):
        return [ALGORITHM_STYLE[algorithm_key(v, recipe)]["color"] for v in values]
    if dim == "layer":
        return layer_colours(len(values))
    if values and all(isinstance(v, (int, float, np.number)) for v in values):
        return palette(len(values), "sequential")
    return palette(len(values))


def markers_for(values, recipe: str | None = None) -> list[str]:
    """One marker per value: an algorithm's ALGORITHM_STYLE marker, 'o' otherwise."""
    return [ALGORITHM_STYLE[algorithm_key(v, recipe)]["marker"] if algorithm_key(v, recipe)
            else "o" for v in values]


def optimizer_style(name: str) -> dict:
    """{'linestyle', 'label'} (and 'markerfacecolor' for hollow markers) of an optimizer
    (OPTIMIZER_STYLE; others: dash-dot)."""
    return dict(OPTIMIZER_STYLE.get(str(name).lower(), {"linestyle": "-.", "label": str(name)}))


def panel_labels(axes, start: int = 0) -> None:
    """Bold letters a, b, c... at the start of each Axes' left title (the title's first line;
    `panel_title` reads the title without it)."""
    for i, ax in enumerate(axes):
        old = ax.get_title(loc="left")
        letter = rf"$\mathbf{{{PANEL_LETTERS[start + i]}}}$"
        ax.set_title(f"{letter}  {old}" if old else letter, loc="left")


def panel_title(ax: Axes) -> str:
    """An Axes' left title without the panel label panel_labels put before it."""
    return re.sub(r"^\$\\mathbf\{[a-z]\}\$ ?\s?", "", ax.get_title(loc="left"))


#: Plain-text names in long_name attrs and the mathtext drawn for them.
MATHTEXT = {"E_l / E_l+1": r"$E_\ell/E_{\ell+1}$"}


def label(da: xr.DataArray, fallback: str | None = None) -> str:
    """'long_name [units]' from attrs (MATHTEXT for formulas); units '1' are not shown."""
    name = da.attrs.get("long_name") or fallback or str(da.name)
    for plain, math in MATHTEXT.items():
        name = name.replace(plain, math)
    units = da.attrs.get("units")
    if units in (None, "", "1"):
        return str(name)
    return f"{name} [{units}]"


def range_text(values) -> str:
    """The finite values' range as text: '53', or '52–54' where they differ; '' if none."""
    values = np.asarray(values, float).ravel()
    values = values[np.isfinite(values)]
    if not values.size:
        return ""
    lo, hi = int(values.min()), int(values.max())
    return str(lo) if lo == hi else f"{lo}–{hi}"


def value_text(value) -> str:
    """A coordinate value for a legend: 0.001 -> '1e-03', 'adamw' -> 'adamw'."""
    if isinstance(value, (float, np.floating)):
        return f"{value:g}"
    if isinstance(value, np.generic):
        return str(value.item())
    return str(value)


def convention(ds: xr.Dataset) -> str:
    """Short statement of the gamma convention, from the Dataset's attrs (or its sweep dim)."""
    if "gamma_convention" in ds.dims:
        names = " and ".join(str(v).replace("_", "-") for v in ds["gamma_convention"].values)
        return f"γ convention: {names} (swept)"
    name = ds.attrs.get("gamma_convention")
    if name is None:
        config = json.loads(ds.attrs.get("config", "{}"))
        name = config.get("gamma_convention", "unknown")
    return f"γ convention: {name.replace('_', '-')}"


def convention_long(ds: xr.Dataset) -> str:
    name = ds.attrs.get("gamma_convention", "")
    if "gamma_convention" in ds.dims:
        return convention(ds)
    return GAMMA_CONVENTION_TEXT.get(name, convention(ds))


def set_title(ax: Axes, ds: xr.Dataset, text: str) -> None:
    """What is drawn and the gamma convention, as the Axes' label (`ax.get_label()`): not
    drawn, since a figure's caption says it (pcdiag.figures.captions); a lone Axes a user
    draws may show it with ``ax.set_title(ax.get_label(), loc='left')``."""
    ax.set_label(f"{text}\n{convention(ds)}")


def new_axes(ax: Axes | None, figsize: tuple[float, float] = (4.5, 3.2)) -> Axes:
    """The given Axes, or a new one on a new figure (rliable style)."""
    if ax is not None:
        return ax
    _, ax = plt.subplots(figsize=figsize, layout="constrained")
    return ax


def decorate(ax: Axes) -> None:
    """Open frame, light grid: applied to the Axes itself, not through rcParams."""
    ax.spines["top"].set_visible(False)
    ax.spines["right"].set_visible(False)
    ax.grid(True, which="major", color="0.9", linewidth=0.6)
    ax.set_axisbelow(True)


def require_dims(ds: xr.Dataset, needed: Sequence[str], allowed: Sequence[str], what: str):
    """Raise a ValueError naming missing or unexpected sweep dims and the fix."""
    dims = sweep_dims(ds)
    missing = [d for d in needed if d not in ds.dims]
    if missing:
        raise ValueError(
            f"{what} needs the sweep dim(s) {', '.join(missing)}; the Dataset has sweep dims "
            f"{dims or 'none'}. Make it with pcdiag.sweep(config, {missing[0]}=[...])"
        )
    extra = [d for d in dims if d not in needed and d not in allowed]
    if extra:
        example = ", ".join(f"{d}={ds[d].values[0].item()!r}" for d in extra)
        raise ValueError(
            f"{what} cannot show the sweep dim(s) {', '.join(extra)}; select one value first, "
            f"e.g. ds.sel({example})"
        )


def final_fraction(ds: xr.Dataset, fraction: float) -> xr.Dataset:
    """The last `fraction` of the logged steps (at least one step)."""
    if not 0 < fraction <= 1:
        raise ValueError(f"final={fraction!r} is invalid: must be a fraction in (0, 1]")
    n = ds.sizes["step"]
    keep = max(1, int(round(n * fraction)))
    return ds.isel(step=slice(n - keep, n))


def positive(da: xr.DataArray) -> xr.DataArray:
    """Values a log axis can show: non-positive and non-finite become NaN."""
    return da.where(np.isfinite(da) & (da > 0))


def describe(ds: xr.Dataset, dim: str, value) -> str:
    """Legend text for `value` of `dim`: the `description` coord when there is one."""
    desc = ds.coords.get("description")
    if desc is not None and desc.dims == (dim,):
        return str(desc.sel({dim: value}).item())
    if dim == "depth":
        return f"L = {value_text(value)}"
    if dim == "gamma":
        return f"γ = {value_text(value)}"
    return value_text(value)

