"""A sweep's Dataset from its finished units' records: each run put at its point of the
sweep dims, padded with NaN to the widest run (a depth or inference_steps sweep), the points
not finished yet NaN (diverged_at -1)."""

from __future__ import annotations

import numpy as np
import xarray as xr

from pcdiag.config import Config
from pcdiag.dataset import build
from pcdiag.engine.plan import Plan
from pcdiag.records import VARIABLES, RunRecords, energy_total


def assemble(plan: Plan, found: dict[int, RunRecords]) -> xr.Dataset:
    """The Dataset of the finished units' runs (missing points NaN)."""
    results: dict[tuple, RunRecords] = {}
    for unit in sorted(found):
        for index, r in plan.points(unit):
            results[index] = found[unit].run(r)
    widest = plan.widest
    return build(stack(results, plan.axes, widest), widest, plan.axes)


def stack(results: dict[tuple, RunRecords], axes: dict[str, list],
          widest: Config) -> RunRecords:
    """Per-run records -> arrays with the sweep dims in front, NaN-padded to the widest run
    (`widest`: the config with the sweep's largest depth and inference_steps).

    Adds `energy_total`, each run's sum over its own layers: summing after padding would
    make every shallower run of a depth sweep NaN.
    """
    shape = tuple(len(v) for v in axes.values())
    sizes = {"layer": widest.layers, "t": widest.inference_steps + 1}
    first = next(iter(results.values()))
    values = {}
    names = dict.fromkeys(name for record in results.values() for name in record)
    for name in names:  # a record some units lack (e.g. bp_cosine) is NaN for their runs
        values[name] = _pad(name, {i: r[name] for i, r in results.items() if name in r},
                            shape, sizes)
    if "energy" in names:
        values["energy_total"] = _pad(
            "energy_total",
            {i: energy_total(r["energy"]) for i, r in results.items() if "energy" in r},
            shape, sizes)
    return RunRecords(first.step, first.epoch_of_step, values)


def _pad(name: str, arrays: dict[tuple, np.ndarray], shape: tuple,
         sizes: dict[str, int]) -> np.ndarray:
    """One variable of every run; missing runs and the layers or t beyond a run's own are
    NaN (diverged_at: -1). A `layer` or `t` dim has at least its size in `sizes` (so a
    partly finished sweep has the whole sweep's dims)."""
    widest = np.max([a.shape for a in arrays.values()], axis=0)
    dims = VARIABLES[name].dims if name in VARIABLES else ()
    if len(dims) == len(widest):
        widest = [max(int(n), sizes.get(dim, 0)) for dim, n in zip(dims, widest)]
    fill = -1 if name == "diverged_at" else np.nan
    dtype = np.int64 if name == "diverged_at" else np.result_type(*arrays.values())
    out = np.full(shape + tuple(widest), fill, dtype)
    for index, array in arrays.items():
        out[index + tuple(slice(0, n) for n in array.shape)] = array
    return out
