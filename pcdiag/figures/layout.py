"""Figure layout shared by the figure families: a constrained-layout figure with a row of
Axes, the one-panel figure, and the footnote that states the analysis model's settings."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Callable

import xarray as xr
from matplotlib.figure import Figure as MplFigure

from pcdiag.figures.experiments import config_of
from pcdiag.figures.profiles import layer_sizes_of
from pcdiag.plot._style import convention_long, style


def new_figure(ncols: int, width: float, height: float = 3.4):
    """A constrained-layout figure (not pyplot's) and its row of `ncols` Axes."""
    fig = MplFigure(figsize=(width, height), layout="constrained")
    axes = fig.subplots(1, ncols, squeeze=False)[0]
    return fig, axes


def analysis_footnote(fig: MplFigure, ds: xr.Dataset, extra: str = "") -> None:
    """The analysis model's settings under the figure (convention, model, optimizers)."""
    cfg = config_of(ds)
    sizes = layer_sizes_of(cfg)
    widths = "W" if "width" in ds.dims else str(cfg.width)
    arch = str(sizes).replace(str(cfg.width), widths) if "width" in ds.dims else str(sizes)
    n_train = cfg.n_train
    lines = [
        f"{convention_long(ds)}. Energies at t = T are read after the T-th state update.",
        f"Model {arch}, {cfg.activation}, {cfg.output_energy} output energy, forward "
        f"initialisation, T = {cfg.inference_steps}, state optimizer {cfg.state_optimizer}"
        f" (unless swept), batch {cfg.batch_size}, {n_train} {cfg.dataset} training images, "
        f"{cfg.epochs} epoch{'s' if cfg.epochs > 1 else ''}.",
    ]
    if "weight_optimizer_settings" in ds.attrs:
        settings = json.loads(ds.attrs["weight_optimizer_settings"])
        lines.append("Weight optimizers: " + "; ".join(
            f"{o} " + ", ".join(f"{k} {v:g}" for k, v in s.items()) for o, s in settings.items()
        ) + ".")
    else:
        lines.append(f"Weight optimizer {cfg.weight_optimizer}, lr {cfg.weight_lr:g}, "
                     f"weight decay {cfg.weight_decay:g}.")
    if extra:
        lines.append(extra)
    chars = int(fig.get_figwidth() * 17)
    text = "\n".join(textwrap.fill(line, chars, subsequent_indent="  ") for line in lines)
    fig.text(0.01, -0.01, text, ha="left", va="top", fontsize="x-small", color="0.35")


def one_panel(ds: xr.Dataset, draw: Callable, title: str, note: str,
              size: tuple[float, float] = (5.5, 3.8), footnote: Callable | None = None
              ) -> MplFigure:
    """A styled one-Axes figure: `draw(ds, ax)`, a title, and a footnote ending in `note`
    (`footnote(fig, ds, note)`; default: the analysis model's)."""
    with style():
        fig, (ax,) = new_figure(1, *size)
        draw(ds, ax)
        fig.suptitle(title, fontsize="large")
        (footnote or analysis_footnote)(fig, ds, note)
    return fig

