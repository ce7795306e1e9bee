"""Experiments: sweep specs (run once, shared), and the Dataset helpers that turn sweep
results into exactly the data a figure plots, keeping the Dataset contract (attrs['sweep']
and attrs['config'] agree with the dims present)."""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

import pcdiag
from pcdiag.config import Config, vectorisable
from pcdiag.dataset import LEFT_OUT, sweep_dims, task_name
from pcdiag.figures.cost import MLP, CostModel
from pcdiag.measures import LATE_FRACTION
from pcdiag.records import PER_T, RECORDS
from pcdiag.table1.stats import paired_interval

# --------------------------------------------------------------------------- sweeps


@dataclass(frozen=True)
class SweepSpec:
    """One `pcdiag.sweep(config, **axes)` call; equal specs are run once and shared.

    `cost` is the model of its run time (not part of its identity): see pcdiag.figures.cost.
    """

    name: str
    config: Config
    axes: tuple[tuple[str, tuple], ...]
    cost: CostModel = field(default=MLP, compare=False)

    @classmethod
    def make(cls, name: str, config: Config, *, cost: CostModel = MLP,
             **axes: Iterable) -> SweepSpec:
        return cls(name, config, tuple((k, tuple(v)) for k, v in axes.items()), cost)

    @property
    def key(self) -> str:
        """A folder name: the spec's name and a hash of its config and axes."""
        text = self.config.to_json() + json.dumps(self.axes)
        return f"{self.name}-{hashlib.sha256(text.encode()).hexdigest()[:10]}"

    @property
    def programs(self) -> int:
        """Compiled programs: one per combination of the non-vectorisable axes."""
        return math.prod(len(v) for k, v in self.axes if not vectorisable(k))

    @property
    def runs(self) -> int:
        """Runs vmapped into each program: the product of the vectorisable axes."""
        return math.prod(len(v) for k, v in self.axes if vectorisable(k))

    def program_configs(self) -> Iterator[Config]:
        """The config each program runs (vectorisable axes left at the spec's config)."""
        axes = [(k, v) for k, v in self.axes if not vectorisable(k)]
        names = [k for k, _ in axes]
        for values in itertools.product(*(v for _, v in axes)):
            yield self.config.replace(**dict(zip(names, values))) if names else self.config

    @property
    def seconds(self) -> float:
        """Predicted seconds on the reference machine (`self.cost` over every program)."""
        return sum(self.cost.program_seconds(config, self.runs)
                   for config in self.program_configs())

    def run(self, *, progress: bool = False, store: Path | None = None,
            executor=None) -> xr.Dataset:
        """The sweep's Dataset; with `store`, kept in store/<key>; `executor` (a name or an
        Executor: see pcdiag.engine.executors) runs its units, default in this process."""
        kwargs: dict[str, Any] = dict(self.axes)
        if store is not None:
            kwargs["store"] = store / self.key
        if executor is not None:
            kwargs["executor"] = executor
        return pcdiag.sweep(self.config, progress=progress, **kwargs)


class Runner:
    """Runs sweep specs, each at most once (results are kept for the figures sharing it)."""

    def __init__(self, *, progress: bool = False, store: Path | None = None, executor=None):
        self.progress = progress
        self.store = store
        self.executor = executor
        self.results: dict[SweepSpec, xr.Dataset] = {}
        self.seconds: dict[SweepSpec, float] = {}

    def __call__(self, specs: Mapping[str, SweepSpec]) -> dict[str, xr.Dataset]:
        out = {}
        for key, spec in specs.items():
            if spec not in self.results:
                start = time.perf_counter()
                self.results[spec] = spec.run(progress=self.progress, store=self.store,
                                              executor=self.executor)
                self.seconds[spec] = time.perf_counter() - start
            out[key] = self.results[spec]
        return out


# --------------------------------------------------------------------------- Dataset helpers


def config_of(ds: xr.Dataset) -> Config:
    """The Config a Dataset was made with (attrs['config']; for a sweep: its base config)."""
    return Config.from_json(ds.attrs["config"])


def conform(ds: xr.Dataset, config: Config | None = None, **attrs) -> xr.Dataset:
    """Make attrs['sweep'] and the variables' dim order agree with the sweep dims present
    (and set attrs['config'] to `config`, other attrs from `attrs`, where given)."""
    leading = sweep_dims(ds)
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


def coords_along(ds: xr.Dataset, dims: str | tuple[str, ...], coords: Mapping[str, Any],
                 each: str) -> xr.Dataset:
    """`ds` with `coords` (name -> values along `dims`) as labelled coordinates: the config
    field of each `each` (a line, variant, network), or its legend text ("description")."""
    ds = ds.assign_coords({name: (dims, values) for name, values in coords.items()})
    for name in coords:
        ds[name].attrs = {"long_name": name.replace("_", " "), "units": "1",
                          "comment": f"config field {name!r} of each {each}"
                          if name != "description" else f"legend text of each {each}"}
    return ds


def select(ds: xr.Dataset, method: str | None = None, **indexers) -> xr.Dataset:
    """`ds.sel(**indexers)` that keeps the Dataset contract: a scalar selection removes the
    sweep dim and writes its value into attrs['config']; the value stays a scalar coord."""
    ds = ds.sel(indexers, method=method)
    scalars = {k: _plain(ds[k].values[()]) for k in indexers if ds[k].ndim == 0}
    return conform(ds, config_of(ds).replace(**scalars))


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
    # join="outer" (xarray's default until now, said explicitly): parts padded along layer
    ds = xr.concat(stacked, dim=dim, coords="different", compat="equals", join="outer",
                   combine_attrs="override")
    ds[dim].attrs = {"long_name": dim.replace("_", " "), "units": "1",
                     "comment": f"swept config field {dim!r}"}
    order = {dim: values} | json.loads(datasets[0].attrs.get("sweep", "{}"))
    ds.attrs["sweep"] = json.dumps(order)
    return conform(ds)


def broadcast(ds: xr.Dataset, dim: str, like: xr.Dataset) -> xr.Dataset:
    """Repeat `ds` along `like`'s sweep dim `dim` (for a setting the runs do not use)."""
    ds = ds.expand_dims({dim: like[dim].values}).assign_coords({dim: like[dim]})
    sweep = json.loads(like.attrs["sweep"])
    ds.attrs["sweep"] = json.dumps({k: v for k, v in sweep.items() if k in ds.dims})
    return conform(ds)


def trim(ds: xr.Dataset, keep_t: bool) -> xr.Dataset:
    """Drop the per-iteration variables (and the t dim) when a figure does not draw them."""
    if keep_t or "t" not in ds.dims:
        return ds
    return ds.drop_vars([v for v in PER_T if v in ds] + ["t"])


#: Kept by every figure's .nc, whatever it draws: each run's status (pcdiag.status).
STATUS_VARS = ("run_status", "run_status_step", "diverged_at")


def keep(ds: xr.Dataset, *names: str) -> xr.Dataset:
    """Only the data variables `names` and STATUS_VARS: a figure's .nc holds what it draws and
    what figures/README.md cites. The required records left out are named in
    attrs['records_left_out'] (pcdiag.dataset.LEFT_OUT), which validate() accepts."""
    drop = [v for v in ds.data_vars if v not in names and v not in STATUS_VARS]
    ds = ds.drop_vars(drop)
    task = task_name(ds)
    left = set(str(ds.attrs.get(LEFT_OUT, "")).split()) | {
        v.name for v in RECORDS if v.required_for(task) and v.name not in ds}
    ds.attrs[LEFT_OUT] = " ".join(sorted(left))
    return ds


def bp_runs(ds: xr.Dataset) -> xr.Dataset | None:
    """BP's runs stored beside PC's as bp_<variable> (BP has no state step, so a figure keeps
    them once), under their own names; None without them."""
    names = {str(v): str(v)[3:] for v in ds.data_vars if str(v).startswith("bp_")}
    return ds[list(names)].rename(names) if names else None


def late_per_t(ds: xr.Dataset, names: Iterable[str] = ("energy",)) -> xr.Dataset:
    """The per-t records `names` at every t only over the late steps (pcdiag.measures.late:
    the last LATE_FRACTION of the logged steps, which the heatmaps' final 10% and the late
    profiles read); at the earlier steps only at t = 0 and at each run's own T (the rounding
    floor and `holds_error` read those at every step); NaN elsewhere, which compresses to
    nothing. `energy_total` stays whole: pcdiag.status and at_last_t read it at every t."""
    n = ds.sizes["step"]
    late = xr.DataArray(np.arange(n) >= n - max(1, int(round(n * LATE_FRACTION))),
                        dims="step", coords={"step": ds["step"]})
    t = xr.DataArray(np.arange(ds.sizes["t"]), dims="t", coords={"t": ds["t"]})
    own_t = (ds["energy_total"].notnull().any("step") * t).max("t")
    cells = late | (t == 0) | (t == own_t)
    ds = ds.copy()
    for name in names:
        ds[name] = ds[name].where(cells).transpose(*ds[name].dims)
    return ds


def selection_all_ok_attrs(what: str) -> dict[str, str]:
    """The attrs of with_step_grid's `selection_all_ok`, for lines called `what`."""
    return {"long_name": "a step had every seed ok", "units": "1",
            "comment": f"1 where the {what}'s step was chosen among steps of gamma_grid at "
                       "which every seed's run_status is ok; 0 where no step kept every seed "
                       f"ok: then the {what}'s step of the highest median validation accuracy "
                       "over all runs is shown (pcdiag.selection.at_best_gamma); NaN where no "
                       "step was chosen (no state step, a published one, or a cell not run)"}


def with_step_grid(ds: xr.Dataset, dims: tuple[str, ...], all_ok: Mapping, grid: Mapping,
                   gammas: Iterable[float], validation_size: int, what: str,
                   convention: str = "per sample") -> xr.Dataset:
    """`ds` with what its lines' state steps were chosen from (pcdiag.selection.at_best_gamma),
    per combination of `dims` (`all_ok` and `grid` keyed by its values, one value alone for
    one dim): `selection_all_ok` and `step_validation_accuracy` (seed x `gamma_grid`: the
    final validation accuracy of each step; `grid` None where nothing was chosen, both NaN
    then). `what` names the lines in the comments, `convention` the steps' convention."""
    gammas = list(gammas)
    seeds = ds["seed"].values
    keys = list(itertools.product(*(ds[d].values.tolist() for d in dims)))
    keys = [k[0] if len(dims) == 1 else k for k in keys]
    shape = tuple(ds.sizes[d] for d in dims)
    empty = np.full((len(seeds), len(gammas)), np.nan)
    ds["selection_all_ok"] = (dims, np.reshape(
        [np.nan if grid.get(k) is None else float(all_ok.get(k, True)) for k in keys],
        shape), selection_all_ok_attrs(what))
    ds["step_validation_accuracy"] = ((*dims, "seed", "gamma_grid"), np.reshape(
        [empty if grid.get(k) is None else grid[k].transpose("seed", "gamma").values
         for k in keys], (*shape, len(seeds), len(gammas))), {
        "long_name": "validation accuracy of each step", "units": "1",
        "comment": f"final validation accuracy of every step of the grid on the last "
                   f"{validation_size} images of the training file (held out): what each "
                   f"{what}'s step is chosen from; NaN where it was not chosen"})
    ds = ds.assign_coords(gamma_grid=("gamma_grid", gammas))
    ds["gamma_grid"].attrs = {"long_name": f"state step γ ({convention})", "units": "1",
                              "comment": f"the grid of state steps each {what}'s runs ran"}
    return ds


#: The variables paired_differences writes, and what each holds.
DIFFERENCE_TEXT = {
    "difference": "mean over seeds of the paired difference of final test accuracies",
    "difference_low": "lower end of its 95% paired t interval",
    "difference_high": "upper end of its 95% paired t interval",
    "difference_pairs": "seeds where both runs have a test accuracy (a diverged run has none), "
                        "the pairs the difference is over",
}


def paired_differences(acc: xr.DataArray, hue: str, pairs: Mapping[str, tuple[str, str]],
                       how: str) -> xr.Dataset:
    """Per entry of `pairs` (name -> (first, second), values of dim `hue`) and every
    combination of `acc`'s dims but `hue` and seed: the mean over seeds of the paired
    difference first - second of `acc` and its 95% paired t interval
    (pcdiag.table1.stats.paired_interval), over `comparison`; `how` says where each line
    ran (e.g. "each at its validated step")."""
    names = list(pairs)
    other = [d for d in acc.dims if d not in (hue, "seed")]
    out = {name: [] for name in DIFFERENCE_TEXT}
    for first, second in pairs.values():
        a = acc.sel({hue: first}).transpose(*other, "seed")
        b = acc.sel({hue: second}).transpose(*other, "seed")
        cells = [paired_interval(x, y) for x, y in zip(
            a.values.reshape(-1, a.sizes["seed"]), b.values.reshape(-1, b.sizes["seed"]))]
        shape = tuple(acc.sizes[d] for d in other)
        for i, name in enumerate(DIFFERENCE_TEXT):
            out[name].append(np.reshape([cell[i] for cell in cells], shape))
    example = f"'{names[0]}': {pairs[names[0]][0]} minus {pairs[names[0]][1]}" if names else ""
    coords = {d: acc[d].values for d in other}
    coords["comparison"] = names
    return xr.Dataset({name: xr.DataArray(np.array(values, dtype=float).reshape(
        (len(names), *(acc.sizes[d] for d in other))), coords, ("comparison", *other), attrs={
            "long_name": name.replace("_", " "), "units": "1",
            "comment": f"{DIFFERENCE_TEXT[name]} (comparison {example}, {how}); a line beats "
                       "another only where the interval excludes 0; NaN interval with fewer "
                       "than 2 pairs"})
        for name, values in out.items()})
