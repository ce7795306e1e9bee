"""Shared styling and labelling for pcdiag plots; nothing here touches global state.

`style()` is a context manager (seaborn's "ticks" style and "paper" context, colour-blind
palette) that restores the rcParams it set when it exits. Labels come from each variable's
`long_name` and `units` attrs, as xarray's `label_from_attrs` does (units "1" are left out).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator, Sequence

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import seaborn as sns
import xarray as xr
from matplotlib.axes import Axes
from matplotlib.colors import to_hex

from pcdiag.dataset import sweep_dims

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
#: The qualitative palette for categories (optimizers, layers); colour-blind safe.
PALETTE = "colorblind"
#: The sequential palette for ordered values (widths).
SEQUENTIAL = "viridis"
LINESTYLES = ("-", "--", ":", "-.")
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
        "axes.prop_cycle": plt.cycler(color=[to_hex(c) for c in sns.color_palette(PALETTE)]),
        "axes.spines.top": False,
        "axes.spines.right": False,
        "legend.frameon": False,
        "savefig.bbox": "tight",
        "savefig.dpi": 150,
    })
    rc.update(PAPER_FONTS)
    return rc


def palette(n: int, kind: str = "qualitative") -> list[str]:
    """n colours as hex strings: qualitative (categories) or sequential (ordered values)."""
    name = PALETTE if kind == "qualitative" else SEQUENTIAL
    if kind == "qualitative":
        return [to_hex(c) for c in sns.color_palette(name, max(n, 1))][:n]
    return [to_hex(c) for c in sns.color_palette(name, n + 1)][:n]  # skip the palest end


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
    """A left-aligned title: what is drawn, then the gamma convention on a second line."""
    ax.set_title(f"{text}\n{convention(ds)}", loc="left")


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

