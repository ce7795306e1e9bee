"""The figure registry: each figure is an experiment (sweeps + a selection) and a plot.

A `Figure` names the sweeps it needs (`sweeps(profile) -> {key: SweepSpec}`), how to turn
their Datasets into exactly the data it plots (`data(profile, results) -> Dataset`, saved
as NAME.nc), and how to draw that data (`plot(ds) -> matplotlib Figure`). Experiments never
plot and plots never train: `make_figures(..., from_data=True)` redraws from the .nc files
alone. Equal `SweepSpec`s run once per `make_figures` call, so figures can share a sweep.

To add a figure, write its three functions and register it::

    register(Figure(
        name="accuracy_adamw",                      # also the file name
        description="what it shows",
        sweeps=lambda p: {"pc-adamw": pc_spec(p, "adamw")},  # shared with other figures
        data=lambda p, r: trim(select(r["pc-adamw"], width=p.width), keep_t=False),
        plot=plot_accuracy_vs_gamma,                # Dataset -> matplotlib Figure
        summary=summary_accuracy_vs_gamma,          # Dataset -> text, for the README
    ))

Profiles (`PROFILES`) set the data size, epochs, gammas, seeds and widths; `estimate()` turns
a profile into a predicted run time from per-run costs measured on the reference machine.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import inspect
import json
import math
import sys
import textwrap
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jax
import numpy as np
import xarray as xr
from matplotlib.figure import Figure as MplFigure

import pcdiag
import pcdiag.plot as pplot
from pcdiag.config import TRAIN_SIZE, VECTORISABLE, Config
from pcdiag.dataset import PER_T
from pcdiag.plot._style import convention_long, style
from pcdiag.progress import progress_bar


class FigureError(ValueError):
    """A bad figure request (unknown name or profile, missing data); says what is known."""


# --------------------------------------------------------------------------- profiles


@dataclass(frozen=True)
class Profile:
    """How big the experiments behind the figures are."""

    name: str
    description: str
    train_limit: int | None  # None: the full training set
    test_limit: int | None
    epochs: int
    gammas: tuple[float, ...]
    seeds: tuple[int, ...]
    width: int  # the analysis width (energy and single-width figures)
    widths: tuple[int, ...]  # accuracy_vs_gamma_by_width; must contain `width`
    log_every: int = 1
    energy_gamma: float = 0.1  # the run shown by energy_per_layer (nearest swept gamma)

    def base(self) -> Config:
        """The analysis model: [784, W, W, 10], hard_tanh, CE output, forward init, T = 8."""
        return Config(
            depth=3, width=self.width, activation="hard_tanh", output_energy="ce",
            algorithm="pc", inference_steps=8, gamma_convention="per_sample",
            state_optimizer="sgd", train_limit=self.train_limit, test_limit=self.test_limit,
            epochs=self.epochs, log_every=self.log_every, batch_size=64,
        )


GAMMAS = (1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3, 1.0)
#: Weight learning rate per weight optimizer (momentum 0.9 and weight decay 1e-4 for both).
WEIGHT_LR = {"momentum": 1e-2, "adamw": 1e-3}
WEIGHT_OPTIMIZERS = ("momentum", "adamw")

PROFILES = {
    "quick": Profile(
        name="quick",
        description="3000 training / 1000 test images, 1 epoch, 4 gammas, 1 seed, "
                    "widths 32 and 128 (a smoke test: about 2 minutes on a 2-core CPU)",
        train_limit=3000, test_limit=1000, epochs=1, gammas=(1e-3, 1e-2, 0.1, 1.0),
        seeds=(0,), width=128, widths=(32, 128), log_every=1,
    ),
    "default": Profile(
        name="default",
        description="full Fashion-MNIST, 1 epoch, 7 gammas, 3 seeds, widths 32 to 512 "
                    "(about 20 minutes on a 2-core CPU)",
        train_limit=None, test_limit=None, epochs=1, gammas=GAMMAS, seeds=(0, 1, 2),
        width=128, widths=(32, 128, 256, 512), log_every=10,
    ),
    "paper": Profile(
        name="paper",
        description="full Fashion-MNIST, 8 epochs, 7 gammas, 3 seeds, widths 64 to 4096 "
                    "(for a GPU)",
        train_limit=None, test_limit=None, epochs=8, gammas=GAMMAS, seeds=(0, 1, 2),
        width=128, widths=(64, 128, 256, 512, 1024, 2048, 4096), log_every=20,
    ),
}


def get_profile(profile: str | Profile) -> Profile:
    if isinstance(profile, Profile):
        return profile
    if profile not in PROFILES:
        raise FigureError(f"unknown profile {profile!r}; known profiles: {', '.join(PROFILES)}")
    return PROFILES[profile]


# --------------------------------------------------------------------------- sweeps


@dataclass(frozen=True)
class SweepSpec:
    """One `pcdiag.sweep(config, **axes)` call; equal specs are run once and shared."""

    name: str
    config: Config
    axes: tuple[tuple[str, tuple], ...]

    @classmethod
    def make(cls, name: str, config: Config, **axes: Iterable) -> SweepSpec:
        return cls(name, config, tuple((k, tuple(v)) for k, v in axes.items()))

    @property
    def key(self) -> str:
        """A folder name: the spec's name and a hash of its config and axes."""
        text = self.config.to_json() + json.dumps(self.axes)
        return f"{self.name}-{hashlib.sha256(text.encode()).hexdigest()[:10]}"

    @property
    def programs(self) -> int:
        return math.prod(len(v) for k, v in self.axes if k not in VECTORISABLE)

    def run(self, *, progress: bool = False, store: Path | None = None) -> xr.Dataset:
        kwargs: dict[str, Any] = dict(self.axes)
        if store is not None and _sweep_takes_store():
            kwargs["store"] = store / self.key
        return pcdiag.sweep(self.config, progress=progress, **kwargs)


def _sweep_takes_store() -> bool:
    try:
        return "store" in inspect.signature(pcdiag.sweep).parameters
    except (TypeError, ValueError):
        return False


class Runner:
    """Runs sweep specs, each at most once (results are kept for the figures sharing it)."""

    def __init__(self, *, progress: bool = False, store: Path | None = None):
        self.progress = progress
        self.store = store
        self.results: dict[SweepSpec, xr.Dataset] = {}
        self.seconds: dict[SweepSpec, float] = {}

    def __call__(self, specs: Mapping[str, SweepSpec]) -> dict[str, xr.Dataset]:
        out = {}
        for key, spec in specs.items():
            if spec not in self.results:
                start = time.perf_counter()
                self.results[spec] = spec.run(progress=self.progress, store=self.store)
                self.seconds[spec] = time.perf_counter() - start
            out[key] = self.results[spec]
        return out


def pc_spec(profile: Profile, weight_optimizer: str, state_optimizer: str = "sgd",
            widths: tuple[int, ...] | None = None) -> SweepSpec:
    """PC at the profile's widths x gammas x seeds with one weight optimizer (and its lr)."""
    config = profile.base().replace(weight_optimizer=weight_optimizer,
                                    weight_lr=WEIGHT_LR[weight_optimizer],
                                    state_optimizer=state_optimizer)
    widths = profile.widths if widths is None else widths
    return SweepSpec.make(f"pc-{weight_optimizer}-{state_optimizer}", config, width=widths,
                          gamma=profile.gammas, seed=profile.seeds)


def bp_spec(profile: Profile, weight_optimizer: str) -> SweepSpec:
    """BP at the profile's widths x seeds (gamma is unused by bp, so it is not swept)."""
    config = profile.base().replace(algorithm="bp", weight_optimizer=weight_optimizer,
                                    weight_lr=WEIGHT_LR[weight_optimizer])
    return SweepSpec.make(f"bp-{weight_optimizer}", config, width=profile.widths,
                          seed=profile.seeds)


# --------------------------------------------------------------------------- Dataset helpers


def _fix(ds: xr.Dataset, config: Config | None = None, **attrs) -> xr.Dataset:
    """Make attrs['sweep'] and the variables' dim order agree with the sweep dims present."""
    leading = [d for d in ds.dims if d not in ("step", "t", "layer", "epoch")]
    order = json.loads(ds.attrs.get("sweep", "{}"))
    leading.sort(key=lambda d: list(order).index(d) if d in order else -1)
    ds = ds.transpose(*leading, ...)
    sweep = {d: [_plain(v) for v in ds[d].values] for d in leading}
    ds.attrs = dict(ds.attrs, sweep=json.dumps(sweep), **attrs)
    if config is not None:
        ds.attrs["config"] = config.to_json()
    return ds


def _plain(value):
    return value.item() if isinstance(value, np.generic) else value


def _config(ds: xr.Dataset) -> Config:
    return Config.from_json(ds.attrs["config"])


def select(ds: xr.Dataset, method: str | None = None, **indexers) -> xr.Dataset:
    """`ds.sel(**indexers)` that keeps the Dataset contract: a scalar selection removes the
    sweep dim and writes its value into attrs['config']; the value stays a scalar coord."""
    ds = ds.sel(indexers, method=method)
    scalars = {k: _plain(ds[k].values[()]) for k in indexers if ds[k].ndim == 0}
    return _fix(ds, _config(ds).replace(**scalars))


def combine(parts: Mapping[Any, xr.Dataset], dim: str) -> xr.Dataset:
    """Stack Datasets along a new sweep dim `dim` (a config field) with the given values.

    Scalar coords that not every part has are dropped; the first part's attrs are kept.
    """
    values = list(parts)
    datasets = list(parts.values())
    shared = set.intersection(*(set(d.coords) for d in datasets))
    stacked = []
    for value, part in zip(values, datasets):
        drop = [c for c in part.coords if c not in shared and part[c].ndim == 0]
        stacked.append(part.drop_vars(drop).expand_dims({dim: [value]}))
    ds = xr.concat(stacked, dim=dim, coords="different", compat="equals",
                   combine_attrs="override")
    ds[dim].attrs = {"long_name": dim.replace("_", " "), "units": "1",
                     "comment": f"swept config field {dim!r}"}
    order = {dim: values} | json.loads(datasets[0].attrs.get("sweep", "{}"))
    ds.attrs["sweep"] = json.dumps(order)
    return _fix(ds)


def broadcast(ds: xr.Dataset, dim: str, like: xr.Dataset) -> xr.Dataset:
    """Repeat `ds` along `like`'s sweep dim `dim` (for a setting the runs do not use)."""
    ds = ds.expand_dims({dim: like[dim].values}).assign_coords({dim: like[dim]})
    sweep = json.loads(like.attrs["sweep"])
    ds.attrs["sweep"] = json.dumps({k: v for k, v in sweep.items() if k in ds.dims})
    return _fix(ds)


def trim(ds: xr.Dataset, keep_t: bool) -> xr.Dataset:
    """Drop the per-iteration variables (and the t dim) when a figure does not draw them."""
    if keep_t or "t" not in ds.dims:
        return ds
    return ds.drop_vars([v for v in PER_T if v in ds] + ["t"])


def with_weight_lr(ds: xr.Dataset) -> xr.Dataset:
    """Add the coordinate weight_lr(weight_optimizer) and the settings as an attr."""
    opts = [str(v) for v in ds["weight_optimizer"].values]
    ds = ds.assign_coords(weight_lr=("weight_optimizer", [WEIGHT_LR[o] for o in opts]))
    ds["weight_lr"].attrs = {"long_name": "weight learning rate", "units": "1",
                             "comment": "weight_lr used with each weight optimizer"}
    config = _config(ds)
    ds.attrs["weight_optimizer_settings"] = json.dumps({
        o: {"weight_lr": WEIGHT_LR[o], "weight_decay": config.weight_decay,
            **({"momentum": config.momentum} if o == "momentum" else {})} for o in opts
    })
    return ds


def optimizers(profile: Profile, results: Mapping[str, xr.Dataset], prefix: str = "pc",
               **sel) -> xr.Dataset:
    """The per-optimizer sweeps `results[f'{prefix}-{opt}']` stacked on weight_optimizer."""
    parts = {o: select(results[f"{prefix}-{o}"], **sel) if sel else results[f"{prefix}-{o}"]
             for o in WEIGHT_OPTIMIZERS}
    return with_weight_lr(combine(parts, "weight_optimizer"))


# --------------------------------------------------------------------------- the figures


@dataclass(frozen=True)
class Figure:
    """A registered figure: what to run, what to keep, how to draw it, what it says."""

    name: str
    description: str
    sweeps: Callable[[Profile], dict[str, SweepSpec]]
    data: Callable[[Profile, Mapping[str, xr.Dataset]], xr.Dataset]
    plot: Callable[[xr.Dataset], MplFigure]
    summary: Callable[[xr.Dataset], str] = field(default=lambda ds: "")

    def experiment(self, profile: str | Profile, runner: Runner | None = None) -> xr.Dataset:
        """Run (or reuse) the sweeps and return exactly the data the figure plots."""
        profile = get_profile(profile)
        runner = runner or Runner()
        return self.data(profile, runner(self.sweeps(profile)))


FIGURES: dict[str, Figure] = {}


def register(figure: Figure) -> Figure:
    """Add a figure to the registry (its name is its file name)."""
    if figure.name in FIGURES:
        raise FigureError(f"a figure named {figure.name!r} is already registered")
    FIGURES[figure.name] = figure
    return figure


def _footnote(fig: MplFigure, ds: xr.Dataset, extra: str = "") -> None:
    cfg = _config(ds)
    sizes = [784] + [cfg.width] * (cfg.depth - 1) + [10]
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


def _new_figure(ncols: int, width: float, height: float = 3.4):
    fig = MplFigure(figsize=(width, height), layout="constrained")
    axes = fig.subplots(1, ncols, squeeze=False)[0]
    return fig, axes


def one_panel(ds: xr.Dataset, draw: Callable, title: str, note: str,
              size: tuple[float, float] = (5.5, 3.8), footnote: Callable | None = None
              ) -> MplFigure:
    """A styled one-Axes figure: `draw(ds, ax)`, a title, and a footnote ending in `note`."""
    with style():
        fig, (ax,) = _new_figure(1, *size)
        draw(ds, ax)
        fig.suptitle(title, fontsize="large")
        (footnote or _footnote)(fig, ds, note)
    return fig


def plot_energy_per_layer(ds: xr.Dataset) -> MplFigure:
    with style():
        fig, (left, right) = _new_figure(2, 9.5)
        pplot.energy_per_layer(ds, left, over="step").get_legend().remove()
        pplot.energy_per_layer(ds, right, over="t")
        cfg = _config(ds)
        fig.suptitle(f"Energy per layer: PC, width {cfg.width}, γ = {cfg.gamma:g}, "
                     f"weights {cfg.weight_optimizer}", fontsize="large")
        _footnote(fig, ds, "Hidden-layer energies are exactly 0 at t = 0 (forward "
                           "initialisation) and are not drawn on the log axis; "
                           f"mean over {ds.sizes.get('seed', 1)} seed(s).")
    return fig


def plot_accuracy_vs_gamma(ds: xr.Dataset) -> MplFigure:
    return one_panel(
        ds, lambda d, ax: pplot.accuracy_vs_gamma(d, ax, hue="weight_optimizer"),
        "Test accuracy vs state learning rate γ (PC)",
        "'SGD vs Adam' here varies the weight optimizer, as the released experiment code "
        "does; states use plain SGD.",
    )


def plot_energy_ratio_vs_gamma(ds: xr.Dataset) -> MplFigure:
    return one_panel(
        ds, pplot.energy_ratio_vs_gamma, "Energy imbalance E_l / E_l+1 vs γ (PC)",
        "Line: median over the final 10% of logged steps and the seeds; band: interquartile "
        "range. Grey lines at 1e-2, 1 and 1e2.",
    )


def plot_accuracy_vs_gamma_by_width(ds: xr.Dataset) -> MplFigure:
    with style():
        fig, axes = _new_figure(3, 13, 3.8)
        for ax in axes[1:]:
            ax.sharey(axes[0])
        pplot.accuracy_vs_gamma_by_width(ds, axes)
        fig.suptitle("Test accuracy vs γ by width: PC (two weight optimizers) and BP",
                     fontsize="large")
        _footnote(fig, ds, "BP does not use γ: it ran once per width, optimizer and seed "
                           "(flat lines).")
    return fig


def plot_accuracy_vs_gamma_state_optimizer(ds: xr.Dataset) -> MplFigure:
    return one_panel(
        ds, lambda d, ax: pplot.accuracy_vs_gamma(d, ax, hue="state_optimizer"),
        "Test accuracy vs γ: state optimizer SGD vs Adam (PC)",
        "Here the state optimizer varies (γ is its learning rate); the weights use AdamW in "
        "both.",
    )


# summaries: the figures' numbers as text (for figures/README.md)


def _fmt(x: float) -> str:
    return "nan" if not np.isfinite(x) else f"{x:.3g}"


def _acc_lines(ds: xr.Dataset, hue: str) -> str:
    summary = pplot.accuracy_summary(ds)
    lines = []
    for value in ds[hue].values if hue in ds.dims else [None]:
        s = summary.sel({hue: value}) if value is not None else summary
        cells = [f"{g:g}: {_fmt(float(m))}" + (f" ({int(d)}/{int(r)} diverged)" if d else "")
                 for g, m, d, r in zip(ds["gamma"].values, s["mean"].values,
                                       s["diverged"].values, s["runs"].values)]
        best = int(np.nanargmax(s["mean"].values)) if np.isfinite(s["mean"]).any() else 0
        name = f"{hue}={value}" if value is not None else "all runs"
        lines.append(f"  {name}: test accuracy by gamma {{{', '.join(cells)}}}; best "
                     f"gamma {float(ds['gamma'][best]):g}")
    return "\n".join(lines)


def summary_energy_per_layer(ds: xr.Dataset) -> str:
    energy = ds["energy"].mean("seed") if "seed" in ds.dims else ds["energy"]
    last = pplot._style.final_fraction(energy.to_dataset(name="e"), 0.1)["e"].isel(t=-1)
    mean = last.mean("step")
    share = mean / mean.sum("layer")
    cells = ", ".join(f"E{int(layer)} = {_fmt(float(mean.sel(layer=layer)))} "
                      f"({float(share.sel(layer=layer)):.1%})" for layer in ds["layer"].values)
    return f"  at t = T over the last 10% of steps: {cells}"


def summary_accuracy_vs_gamma(ds: xr.Dataset) -> str:
    return _acc_lines(ds, "weight_optimizer")


def summary_energy_ratio_vs_gamma(ds: xr.Dataset) -> str:
    ratio = pplot.median_ratio(ds)
    gammas = ds["gamma"].values
    lines = []
    for opt in ds["weight_optimizer"].values if "weight_optimizer" in ds.dims else [None]:
        r = ratio.sel(weight_optimizer=opt) if opt is not None else ratio
        cells = []
        for layer in r["layer"].values:
            lo = float(r.sel(layer=layer, gamma=gammas[0]))
            hi = float(r.sel(layer=layer, gamma=gammas[-1]))
            cells.append(f"E{int(layer)}/E{int(layer) + 1}: {_fmt(lo)} at gamma {gammas[0]:g}, "
                         f"{_fmt(hi)} at gamma {gammas[-1]:g}")
        lines.append(f"  weight_optimizer={opt}: median " + "; ".join(cells))
    return "\n".join(lines)


def summary_by_width(ds: xr.Dataset) -> str:
    summary = pplot.accuracy_summary(ds)
    lines = []
    for alg in ds["algorithm"].values:
        for opt in ds["weight_optimizer"].values:
            s = summary.sel(algorithm=alg, weight_optimizer=opt)
            cells = []
            for width in ds["width"].values:
                m = s["mean"].sel(width=width).values
                if alg == "bp":
                    cells.append(f"width {width}: {_fmt(float(m[0]))}")
                    continue
                best = int(np.nanargmax(m)) if np.isfinite(m).any() else 0
                cells.append(f"width {width}: best {_fmt(float(m[best]))} at gamma "
                             f"{float(ds['gamma'][best]):g}")
            lines.append(f"  {alg}, {opt}: " + "; ".join(cells))
    return "\n".join(lines)


def summary_state_optimizer(ds: xr.Dataset) -> str:
    return _acc_lines(ds, "state_optimizer")


def _main_specs(profile: Profile) -> dict[str, SweepSpec]:
    return {f"pc-{o}": pc_spec(profile, o) for o in WEIGHT_OPTIMIZERS}


def _energy_data(profile: Profile, results) -> xr.Dataset:
    run = select(results["pc-adamw"], width=profile.width)
    return select(run, method="nearest", gamma=profile.energy_gamma)


def _width_specs(profile: Profile) -> dict[str, SweepSpec]:
    return _main_specs(profile) | {f"bp-{o}": bp_spec(profile, o) for o in WEIGHT_OPTIMIZERS}


def _width_data(profile: Profile, results) -> xr.Dataset:
    pc = trim(optimizers(profile, results, "pc"), keep_t=False)
    bp = trim(optimizers(profile, results, "bp"), keep_t=False)
    bp = broadcast(bp, "gamma", pc)
    return combine({"pc": pc, "bp": bp}, "algorithm")


def _state_specs(profile: Profile) -> dict[str, SweepSpec]:
    return {"pc-adamw": pc_spec(profile, "adamw"),
            "adam-states": pc_spec(profile, "adamw", "adam", widths=(profile.width,))}


def _state_data(profile: Profile, results) -> xr.Dataset:
    sgd = select(results["pc-adamw"], width=profile.width)
    adam = select(results["adam-states"], width=profile.width)
    return trim(combine({"sgd": sgd, "adam": adam}, "state_optimizer"), keep_t=False)


for _figure in (
    Figure(
        name="energy_per_layer",
        description="Energy of each layer (log) over training at t = T, and over the "
                    "inference iterations t at the end of training; PC with AdamW weights "
                    "at the analysis width and gamma 0.1.",
        sweeps=lambda p: {"pc-adamw": pc_spec(p, "adamw")},
        data=_energy_data,
        plot=plot_energy_per_layer,
        summary=summary_energy_per_layer,
    ),
    Figure(
        name="accuracy_vs_gamma",
        description="Test accuracy against gamma (log x) at the analysis width, one line per "
                    "weight optimizer (SGD with momentum vs AdamW; states plain SGD), mean and "
                    "min-max over seeds, diverged runs marked x.",
        sweeps=_main_specs,
        data=lambda p, r: trim(optimizers(p, r, "pc", width=p.width), keep_t=False),
        plot=plot_accuracy_vs_gamma,
        summary=summary_accuracy_vs_gamma,
    ),
    Figure(
        name="energy_ratio_vs_gamma",
        description="E_l / E_l+1 at t = T over the final steps against gamma (log-log), one "
                    "line per layer pair, line style per weight optimizer; guides at 1e-2, 1, "
                    "1e2.",
        sweeps=_main_specs,
        data=lambda p, r: optimizers(p, r, "pc", width=p.width),
        plot=plot_energy_ratio_vs_gamma,
        summary=summary_energy_ratio_vs_gamma,
    ),
    Figure(
        name="accuracy_vs_gamma_by_width",
        description="Test accuracy against gamma coloured by width, in panels: PC with SGD "
                    "(momentum) weights, PC with AdamW weights, and BP.",
        sweeps=_width_specs,
        data=_width_data,
        plot=plot_accuracy_vs_gamma_by_width,
        summary=summary_by_width,
    ),
    Figure(
        name="accuracy_vs_gamma_state_optimizer",
        description="Test accuracy against gamma with the state optimizer varied (SGD vs "
                    "Adam), AdamW weights, at the analysis width.",
        sweeps=_state_specs,
        data=_state_data,
        plot=plot_accuracy_vs_gamma_state_optimizer,
        summary=summary_state_optimizer,
    ),
):
    register(_figure)


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


# --------------------------------------------------------------------------- cost estimate

#: CPU seconds per pc run over 60000 images (1 epoch, T = 8, batch 64, AdamW, log_every 10),
#: by width, vmapped 8 runs to a program: measured on the reference machine (2 CPU cores,
#: jax 0.10 CPU), as process CPU time so that other users' load counts less. Costs grow
#: faster than FLOPs past 256 (cache). Widths between are interpolated (log-log), wider ones
#: extrapolated by FLOPs from 512.
RUN_EPOCH_S = {32: 0.45, 64: 0.78, 128: 2.0, 256: 5.1, 512: 14.7}
#: CPU seconds to compile one program (and load its data), measured the same way.
COMPILE_S = 12.0
#: Relative cost of one run. bp: measured 0.48 of pc at width 128 (its per-run eval and
#: bookkeeping are the same); adam states: measured 1.0; ipc: not measured, a guess.
ALGORITHM_FACTOR = {"pc": 1.0, "ipc": 1.3, "bp": 0.5}
STATE_OPTIMIZER_FACTOR = {"sgd": 1.0, "momentum": 1.0, "adam": 1.0}


def _macs(width: int, depth: int = 3) -> int:
    sizes = [784] + [width] * (depth - 1) + [10]
    return sum(a * b for a, b in zip(sizes[:-1], sizes[1:]))


def run_epoch_seconds(width: int) -> float:
    """Predicted CPU seconds of one pc run-epoch (full data) at `width`, depth 3."""
    known = sorted(RUN_EPOCH_S)
    if width in RUN_EPOCH_S:
        return RUN_EPOCH_S[width]
    if width < known[0] or width > known[-1]:
        edge = known[0] if width < known[0] else known[-1]
        return RUN_EPOCH_S[edge] * _macs(width) / _macs(edge)
    hi = next(w for w in known if w > width)
    lo = known[known.index(hi) - 1]
    frac = math.log(width / lo) / math.log(hi / lo)
    return math.exp((1 - frac) * math.log(RUN_EPOCH_S[lo]) + frac * math.log(RUN_EPOCH_S[hi]))


def spec_seconds(spec: SweepSpec) -> float:
    """Predicted seconds for one sweep spec on the reference machine."""
    axes = dict(spec.axes)
    total = 0.0
    widths = axes.get("width", (spec.config.width,))
    algorithms = axes.get("algorithm", (spec.config.algorithm,))
    states = axes.get("state_optimizer", (spec.config.state_optimizer,))
    vector = math.prod(len(v) for k, v in spec.axes if k in VECTORISABLE)
    other = spec.programs // (len(widths) * len(algorithms) * len(states))
    cfg = spec.config
    epochs = cfg.epochs * cfg.n_train / TRAIN_SIZE[cfg.dataset]
    for width in widths:
        for algorithm in algorithms:
            for state in states:
                run = (run_epoch_seconds(width) * ALGORITHM_FACTOR[algorithm]
                       * STATE_OPTIMIZER_FACTOR[state])
                total += other * (COMPILE_S + vector * epochs * run)
    return total


def estimate(profile: str | Profile, only=None) -> tuple[float, str]:
    """Predicted seconds for make_figures(profile, only) and a table of the sweeps."""
    profile = get_profile(profile)
    specs: dict[SweepSpec, None] = {}
    for figure in resolve(only):
        specs.update(dict.fromkeys(figure.sweeps(profile).values()))
    lines = [f"profile {profile.name!r}: {profile.description}"]
    total = 0.0
    for spec in specs:
        seconds = spec_seconds(spec)
        total += seconds
        axes = ", ".join(f"{k}={list(v)}" for k, v in spec.axes)
        lines.append(f"  {spec.name:<16} {spec.programs:>2} program(s) x "
                     f"{math.prod(len(v) for k, v in spec.axes if k in VECTORISABLE):>2} runs "
                     f"[{axes}]: ~{seconds / 60:.1f} min")
    lines.append(f"  estimated total: ~{total / 60:.1f} min on the reference 2-core CPU "
                 f"(from per-run costs measured there: {RUN_EPOCH_S[128]:g} s per pc "
                 f"run-epoch at width 128, {RUN_EPOCH_S[512]:g} s at 512; {COMPILE_S:g} s per "
                 "compile)")
    backend = jax.default_backend()
    if backend != "cpu":
        lines.append(f"  (jax runs on {backend} here: expect far less than the CPU estimate)")
    return total, "\n".join(lines)


# --------------------------------------------------------------------------- make & summarise


@dataclass
class Written:
    name: str
    png: Path
    pdf: Path
    nc: Path
    seconds: float


def save_figure(fig: MplFigure, out: Path, name: str) -> tuple[Path, Path]:
    png, pdf = out / f"{name}.png", out / f"{name}.pdf"
    fig.savefig(png, dpi=150, bbox_inches="tight", metadata={"Software": None})
    fig.savefig(pdf, bbox_inches="tight", metadata={"CreationDate": None, "Creator": None})
    return png, pdf


def make_figures(
    profile: str | Profile = "default",
    only: str | Iterable[str] | None = None,
    out: str | Path = "figures",
    from_data: bool = False,
    *,
    progress: bool = True,
    store: bool = True,
) -> list[Written]:
    """Run the experiments of the selected figures and write NAME.png, .pdf and .nc to `out`.

    With `from_data=True` nothing is trained: each figure is redrawn from `out/NAME.nc`.
    Sweeps shared by several figures run once. With `store` (and a pcdiag.sweep that
    supports it), sweeps keep their finished runs under `out/.store/` so an interrupted
    call resumes.
    """
    profile = get_profile(profile)
    figures = resolve(only)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if from_data:
        missing = [f.name for f in figures if not (out / f"{f.name}.nc").is_file()]
        if missing:
            raise FigureError(
                f"--from-data: no data for {', '.join(missing)} in {out}; run "
                f"`pcdiag figures --only {','.join(missing)} --out {out}` first"
            )
    runner = Runner(progress=progress, store=out / ".store" if store else None)
    written = []
    with progress_bar(len(figures), "figures", enabled=progress, unit="figure") as bar:
        for figure in figures:
            if bar is not None:
                bar.set_description(f"figure {figure.name}")
            start = time.perf_counter()
            nc = out / f"{figure.name}.nc"
            if from_data:
                ds = pcdiag.open_dataset(nc)
            else:
                ds = _label(figure.experiment(profile, runner), figure, profile)
                pcdiag.save(ds, nc)
            fig = figure.plot(ds)
            png, pdf = save_figure(fig, out, figure.name)
            written.append(Written(figure.name, png, pdf, nc, time.perf_counter() - start))
            if bar is not None:
                bar.update(1)
    if not from_data:
        _write_timings(out, profile, written)
    return written


def _label(ds: xr.Dataset, figure: Figure, profile: Profile) -> xr.Dataset:
    """Global attrs saying which figure and profile the data belong to."""
    now = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    ds.attrs.update(
        title=f"pcdiag figure {figure.name} ({profile.name} profile): {figure.description}",
        figure=figure.name,
        profile=profile.name,
        history=f"{ds.attrs.get('history', '')}\n{now}: pcdiag figures --profile "
                f"{profile.name} --only {figure.name}".strip(),
    )
    return ds


def _write_timings(out: Path, profile: Profile, written: list[Written]) -> None:
    path = out / "timings.json"
    timings = json.loads(path.read_text()) if path.is_file() else {}
    for w in written:
        timings[w.name] = {"profile": profile.name, "seconds": round(w.seconds, 1)}
    path.write_text(json.dumps(timings, indent=1, sort_keys=True) + "\n")


def summarise(out: str | Path = "figures", only=None) -> str:
    """The numeric findings of the figures whose .nc files are in `out`, as text."""
    out = Path(out)
    timings_path = out / "timings.json"
    timings = json.loads(timings_path.read_text()) if timings_path.is_file() else {}
    blocks = []
    for figure in resolve(only):
        path = out / f"{figure.name}.nc"
        if not path.is_file():
            continue
        ds = pcdiag.open_dataset(path)
        head = f"{figure.name} (profile {ds.attrs.get('profile', '?')}"
        if figure.name in timings:
            head += f", {timings[figure.name]['seconds']:g} s"
        head += f", {ds.attrs.get('gamma_convention', '?')} gamma convention)"
        blocks.append(head + "\n" + figure.summary(ds))
    if not blocks:
        return f"no figure data (.nc) in {out}"
    return "\n".join(blocks)


# --------------------------------------------------------------------------- CLI


def configure_parser(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the `pcdiag figures` options to `parser`."""
    parser.add_argument("--profile", choices=list(PROFILES), default="default",
                        help="experiment size: " + "; ".join(
                            f"{p.name}: {p.description}" for p in PROFILES.values()))
    parser.add_argument("--only", metavar="NAME,...", default=None,
                        help="comma-separated figure names; known: " + ", ".join(FIGURES))
    parser.add_argument("--out", metavar="DIR", default="figures",
                        help="output folder for NAME.png, NAME.pdf, NAME.nc (default: figures)")
    parser.add_argument("--from-data", action="store_true",
                        help="redraw from the .nc files in --out without training")
    parser.add_argument("--estimate", action="store_true",
                        help="print the predicted run time and exit")
    parser.add_argument("--summary", action="store_true",
                        help="print the numeric findings from the .nc files in --out and exit")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    return parser


def run_cli(args: argparse.Namespace) -> int:
    """Run `pcdiag figures` with parsed arguments; returns the exit status."""
    try:
        only = getattr(args, "only", None)
        out = getattr(args, "out", "figures")
        if getattr(args, "summary", False):
            print(summarise(out, only))
            return 0
        profile = getattr(args, "profile", "default")
        from_data = getattr(args, "from_data", False)
        if not from_data:
            _, text = estimate(profile, only)
            print(text, file=sys.stderr)
            if getattr(args, "estimate", False):
                return 0
        start = time.perf_counter()
        written = make_figures(profile, only, out, from_data,
                               progress=not getattr(args, "no_progress", False))
    except (FigureError, pcdiag.ConfigError, pcdiag.SchemaError, FileNotFoundError) as error:
        print(f"pcdiag figures: error: {error}", file=sys.stderr)
        return 2
    for w in written:
        print(f"{w.name}: {w.png}, {w.pdf}, {w.nc} ({w.seconds:.1f} s)")
    print(f"{len(written)} figure(s) in {time.perf_counter() - start:.1f} s", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    """`python -m pcdiag.figures ...` (the same options as `pcdiag figures`)."""
    parser = configure_parser(argparse.ArgumentParser(prog="pcdiag figures",
                                                      description=__doc__.splitlines()[0]))
    return run_cli(parser.parse_args(argv))


import pcdiag.figures_deep  # noqa: E402, F401  (registers the four deep-network figures)

if __name__ == "__main__":
    sys.exit(main())
