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
from pcdiag.figures.cost import MLP, CostModel
from pcdiag.figures.profiles import WEIGHT_LR, WEIGHT_OPTIMIZERS, Profile
from pcdiag.records import PER_T

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


def _activation_axis(profile: Profile, analysis_only: bool = False) -> dict:
    """{'activation': ...} when the profile sweeps more than one (else the base's one)."""
    if analysis_only or len(profile.activations) < 2:
        return {}
    return {"activation": profile.activations}


def analysis_run(profile: Profile) -> dict:
    """The selection of the single-width analysis figures: the profile's analysis width (and
    first activation, where the sweep has several)."""
    return {"width": profile.width} | (
        {"activation": profile.activations[0]} if _activation_axis(profile) else {})


def pc_spec(profile: Profile, weight_optimizer: str, state_optimizer: str = "sgd",
            widths: tuple[int, ...] | None = None) -> SweepSpec:
    """PC at the profile's widths (x activations) x gammas x seeds with one weight optimizer
    (and its lr); with `widths` given, at those widths and the first activation only."""
    config = profile.base().replace(weight_optimizer=weight_optimizer,
                                    weight_lr=WEIGHT_LR[weight_optimizer],
                                    state_optimizer=state_optimizer)
    axes = _activation_axis(profile, analysis_only=widths is not None)
    widths = profile.widths if widths is None else widths
    return SweepSpec.make(f"pc-{weight_optimizer}-{state_optimizer}", config, width=widths,
                          **axes, gamma=profile.gammas, seed=profile.seeds)


def bp_spec(profile: Profile, weight_optimizer: str) -> SweepSpec:
    """BP at the profile's widths (x activations) x seeds (gamma is unused by bp, so it is
    not swept)."""
    config = profile.base().replace(algorithm="bp", weight_optimizer=weight_optimizer,
                                    weight_lr=WEIGHT_LR[weight_optimizer])
    return SweepSpec.make(f"bp-{weight_optimizer}", config, width=profile.widths,
                          **_activation_axis(profile), seed=profile.seeds)


# --------------------------------------------------------------------------- Dataset helpers


def config_of(ds: xr.Dataset) -> Config:
    """The Config a Dataset was made with (attrs['config']; for a sweep: its base config)."""
    return Config.from_json(ds.attrs["config"])


def conform(ds: xr.Dataset, config: Config | None = None, **attrs) -> xr.Dataset:
    """Make attrs['sweep'] and the variables' dim order agree with the sweep dims present
    (and set attrs['config'] to `config`, other attrs from `attrs`, where given)."""
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
    ds = xr.concat(stacked, dim=dim, coords="different", compat="equals",
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


def with_weight_lr(ds: xr.Dataset) -> xr.Dataset:
    """Add the coordinate weight_lr(weight_optimizer) and the settings as an attr."""
    opts = [str(v) for v in ds["weight_optimizer"].values]
    ds = ds.assign_coords(weight_lr=("weight_optimizer", [WEIGHT_LR[o] for o in opts]))
    ds["weight_lr"].attrs = {"long_name": "weight learning rate", "units": "1",
                             "comment": "weight_lr used with each weight optimizer"}
    config = config_of(ds)
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
