"""A sweep cut into units, before anything runs: the checked axes and the Plan.

Each swept config field becomes a dimension named after the field. Fields that change no
shape or code path (``pcdiag.config.vectorisable``: gamma, weight_lr, momentum, weight_decay,
seed) are vectorised: all their combinations run as one vmapped batch inside one compiled
program. A *unit* is one combination of the other swept fields (depth, width, optimizer
names, algorithm, ...): one compiled program and its vmapped runs.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from pcdiag.config import Config, affects_results, field_names, sweepable, vectorisable
from pcdiag.engine.store import SPEC, Store, StoreError
from pcdiag.errors import ConfigError


def check_axes(config: Config, axes: dict[str, Sequence[Any]]) -> dict[str, list]:
    """Validate sweep axes: known, sweepable fields with distinct, valid values."""
    checked = {}
    for name, values in axes.items():
        if name not in field_names():
            raise ConfigError(
                f"sweep axis {name!r} is not a config field; known fields: "
                f"{', '.join(field_names())}"
            )
        if not affects_results(name):
            raise ConfigError(
                f"sweep axis {name!r} cannot be swept: it changes no result; set it in the "
                "base config instead"
            )
        if not sweepable(name):
            raise ConfigError(
                f"sweep axis {name!r} cannot be swept: it changes the step axis or the data "
                f"source; run separate sweeps for each {name}"
            )
        values = list(values) if isinstance(values, (list, tuple, np.ndarray)) else [values]
        values = [_plain(v) for v in values]  # numpy scalars (np.arange(3)) -> Python ones
        if not values:
            raise ConfigError(f"sweep axis {name!r} has no values; give at least one")
        if len(set(values)) != len(values):
            raise ConfigError(f"sweep axis {name!r} repeats a value: {values}; list each once")
        for value in values:
            config.replace(**{name: value})  # raises ConfigError naming field and value
        checked[name] = values
    return checked


def _plain(value):
    return value.item() if isinstance(value, np.generic) else value


@dataclass(frozen=True)
class Plan:
    """A sweep cut into units: every combination of the program axes (one compiled program
    each) times every point of the vectorised axes (its vmapped runs). A single run is the
    plan of no axes: one unit of one run."""

    config: Config
    axes: dict[str, list]
    program_axes: list[str]
    vector_axes: list[str]
    combos: list[dict]
    vector_points: list[tuple]

    @classmethod
    def of(cls, config: Config, axes: dict[str, list]) -> Plan:
        vector_axes = [n for n in axes if vectorisable(n)]
        program_axes = [n for n in axes if not vectorisable(n)]
        combos = [dict(zip(program_axes, c))
                  for c in itertools.product(*(axes[n] for n in program_axes))]
        points = list(itertools.product(*(axes[n] for n in vector_axes)))
        return cls(config, axes, program_axes, vector_axes, combos, points)

    @classmethod
    def of_store(cls, store: Store, config: Config | None = None) -> Plan:
        """The plan of the sweep a store holds (with `config`: the sweep's own base config,
        which may differ from the stored one in fields that change no result)."""
        spec = store.spec
        plan = cls.of(config or Config.from_dict(spec["config"], source=SPEC),
                      {name: list(values) for name, values in spec["axes"].items()})
        if plan.combos != [unit["combo"] for unit in spec["units"]]:
            raise StoreError(f"{store.root / SPEC} lists other units than its axes make; "
                             "it was edited by hand: use a new store folder")
        return plan

    @property
    def units(self) -> range:
        return range(len(self.combos))

    @property
    def runs(self) -> int:
        """Runs vmapped in each unit."""
        return len(self.vector_points)

    @property
    def steps(self) -> int:
        """Training steps of each run."""
        return self.config.epochs * self.config.steps_per_epoch

    @property
    def logged(self) -> int:
        """Logged steps of each run."""
        config = self.config
        return config.epochs * -(-config.steps_per_epoch // config.log_every)

    @property
    def widest(self) -> Config:
        """The base config with the largest swept depth / inference_steps (sets layer and t);
        of a swept algorithm, the one with the most layers (generation's bp autoencoder has
        twice the decoder's)."""
        changes = {n: max(self.axes[n]) for n in ("depth", "inference_steps") if n in self.axes}
        config = self.config.replace(**changes)
        if "algorithm" in self.axes:
            candidates = [config]
            for name in self.axes["algorithm"]:
                try:
                    candidates.append(config.replace(algorithm=name))
                except ConfigError:  # a setting only some algorithms take
                    continue
            config = max(candidates, key=lambda c: c.layers)
        return config

    def base(self, unit: int) -> Config:
        return self.config.replace(**self.combos[unit])

    def runs_of(self, unit: int) -> list[Config]:
        """The config of each run of `unit`, in the order they are vmapped."""
        base = self.base(unit)
        return [base.replace(**dict(zip(self.vector_axes, point)))
                for point in self.vector_points]

    def label(self, unit: int) -> str:
        """'depth=3, width=64' (the unit's program axes), or 'sweep' when there are none."""
        return ", ".join(f"{n}={v}" for n, v in self.combos[unit].items()) or "sweep"

    def points(self, unit: int):
        """(index into the sweep dims, run number in the unit) of each run of `unit`."""
        combo = self.combos[unit]
        for r, point in enumerate(self.vector_points):
            named = combo | dict(zip(self.vector_axes, point))
            yield tuple(self.axes[n].index(named[n]) for n in self.axes), r
