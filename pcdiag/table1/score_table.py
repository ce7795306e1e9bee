"""The table of a score other than accuracy (generation's test MSE, lower is better:
pcdiag.tasks.base.Score): best and last epoch mean +- std over seeds, top-5 of 7, the
mean-image MSE for scale, and every pair of algorithms on the same model compared over
paired seeds (pcdiag.table1.stats, in the score's direction)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import NamedTuple

import numpy as np
import xarray as xr

import pcdiag
from pcdiag.dataset import VOLATILE_ATTRS
from pcdiag.table1 import stats, table
from pcdiag.table1.recipe import Recipe

_LABELS = {"pc": "PC", "ipc": "iPC", "bp": "BP"}


def score_of(recipe: Recipe):
    """The recipe's score (pcdiag.tasks.base.Score): its task's."""
    from pcdiag.tasks import TASKS

    return TASKS[recipe.config.task].score


def epoch_mean(da: xr.DataArray, how: str = "mean") -> xr.DataArray:
    """Per epoch, the mean (or median) over the logged steps."""
    grouped = da.groupby("epoch_of_step")
    reduced = grouped.median("step") if how == "median" else grouped.mean("step")
    return reduced.rename(epoch_of_step="epoch")


#: Order of the two recipes of a comparison where lower is better: PC, iPC, then BP.
_ALGORITHM_ORDER = {"ipc": 1, "bp": 2}


def all_pairs(recipes: list[Recipe]) -> list[tuple[Recipe, Recipe]]:
    """Every two recipes of different algorithms on the same model and data (PC vs BP,
    iPC vs BP, PC vs iPC), each ordered PC, iPC, BP."""
    out = []
    ordered = sorted(recipes, key=lambda r: _ALGORITHM_ORDER.get(r.config.algorithm, 0))
    for i, a in enumerate(ordered):
        for b in ordered[i + 1:]:
            if a.config.algorithm != b.config.algorithm and a.model_key() == b.model_key():
                out.append((a, b))
    return sorted(out, key=lambda ab: (-_ALGORITHM_ORDER.get(ab[1].config.algorithm, 0),
                                       _ALGORITHM_ORDER.get(ab[0].config.algorithm, 0)))


class ScoreTable(NamedTuple):
    """What report_score wrote (pcdiag.table1.runner.Result takes it)."""

    summaries: dict[str, stats.Summary]
    comparisons: list[stats.Comparison]
    dataset: xr.Dataset
    markdown: str
    latex: str


def _label(recipe: Recipe) -> str:
    return _LABELS.get(recipe.config.algorithm, recipe.config.algorithm)


def _epochs_text(recipes: list[Recipe]) -> tuple[str, str]:
    """("N", "P"): the epochs trained and PCX's (the recipe's ``pcx_epochs``, else its
    config's), each a comma list where recipes differ."""
    ran = sorted({r.config.epochs for r in recipes})
    pcx = sorted({int(r.meta.get("pcx_epochs", r.config.epochs)) for r in recipes})
    return ", ".join(map(str, ran)), ", ".join(map(str, pcx))


def report_score(score, recipes: list[Recipe], runs: dict[str, xr.Dataset],
                 seconds: dict[str, float], out: Path, log=print) -> ScoreTable:
    """Write ``table-NAME.md``/``.tex``, ``comparisons-NAME.md`` and ``benchmark-NAME.nc``
    (NAME the score's) under `out`."""
    var, up = f"test_{score.name}", score.higher_is_better
    seed_count = len(next(iter(runs.values())).seed)
    summaries, entries = {}, []
    for r in recipes:
        ds = runs[r.name]
        summaries[r.name] = stats.summarise(ds[var].transpose("seed", "epoch").values,
                                            ds.diverged_at.values, higher_is_better=up)
        chance = float(ds.mean_image_mse.values.flat[0]) if "mean_image_mse" in ds else math.nan
        entries.append((r.cell, summaries[r.name], seconds.get(r.name, math.nan), chance))
    comparisons = []
    for a, b in all_pairs(recipes):
        first, second = (stats.best_per_seed(runs[r.name][var].transpose("seed", "epoch").values,
                                             up) for r in (a, b))
        if len(first) == len(second):
            comparisons.append(stats.compare(a.name, first, b.name, second, higher_is_better=up,
                                             labels=(_label(a), _label(b))))
    epochs, pcx = _epochs_text(recipes)
    md = table.mse_markdown(entries, seed_count, epochs, pcx)
    tex = table.mse_latex(entries, seed_count, epochs, pcx)
    compared = table.mse_comparisons_markdown(comparisons)
    (out / f"table-{score.name}.md").write_text(md)
    (out / f"table-{score.name}.tex").write_text(tex)
    (out / f"comparisons-{score.name}.md").write_text(compared)
    ds = combined(score, recipes, runs, seconds)
    pcdiag.save(ds, out / f"benchmark-{score.name}.nc")
    log(md)
    if comparisons:
        log(compared)
    return ScoreTable(summaries, comparisons, ds, md, tex)


def combined(score, recipes: list[Recipe], runs: dict[str, xr.Dataset],
             seconds: dict[str, float]) -> xr.Dataset:
    """One Dataset over (recipe, seed, epoch[, layer]): the score per epoch, each seed's best
    and last epoch, the mean-image MSE, and the per-epoch energy diagnostics (NaN where a
    recipe has none; bp's layers are its autoencoder's, 1..2 x depth)."""
    var, up = f"test_{score.name}", score.higher_is_better
    fill = -np.inf if up else np.inf
    parts = []
    for r in recipes:
        ds = runs[r.name]
        values = ds[var].transpose("seed", "epoch")
        filled = values.fillna(fill)
        part = xr.Dataset({
            var: values,
            f"best_{var}": filled.max("epoch") if up else filled.min("epoch"),
            "best_epoch": (filled.argmax("epoch") if up else filled.argmin("epoch")) + 1,
            f"last_{var}": values.isel(epoch=-1, drop=True),
            "diverged_at": ds.diverged_at,
            "seconds_per_seed": xr.DataArray(seconds.get(r.name, np.nan)),
            "weight_grad_norm": epoch_mean(ds.weight_grad_norm),
        })
        if "mean_image_mse" in ds:
            part["mean_image_mse"] = ds.mean_image_mse
        if "energy" in ds and "t" in ds.dims:
            part["energy_t0"] = epoch_mean(ds.energy.isel(t=0, drop=True))
            part["energy_tT"] = epoch_mean(ds.energy.isel(t=-1, drop=True))
        if "latent_grad_norm" in ds:
            part["latent_grad_norm_tT"] = epoch_mean(ds.latent_grad_norm.isel(t=-1, drop=True))
        parts.append(part.expand_dims(recipe=[r.name]))
    ds = xr.concat(parts, dim="recipe", join="outer", coords="minimal", compat="override")
    which = "highest" if up else "lowest"
    comments = {
        var: f"{score.long_name} on the test set after each epoch",
        f"best_{var}": f"the seed's best ({which}) epoch (PCX's hypertune --test-seed keeps it)",
        "best_epoch": f"1-based epoch of best_{var}",
        f"last_{var}": f"{score.long_name} after the last epoch",
        "diverged_at": "first step with a non-finite energy or loss, -1 if none",
        "seconds_per_seed": "wall seconds of the recipe's vectorised sweep / seeds",
        "weight_grad_norm": "epoch mean over logged steps of the weight-gradient norm",
        "mean_image_mse": "test MSE of the mean training image predicted for every image",
        "energy_t0": "epoch mean over logged steps of E_l at t = 0",
        "energy_tT": "epoch mean over logged steps of E_l at t = T (what the weights read)",
        "latent_grad_norm_tT": "epoch mean over logged steps of the latent's gradient norm "
                               "at t = T",
    }
    units = {"seconds_per_seed": "s"}
    for name in ds.data_vars:
        ds[name].attrs = {"long_name": name.replace("_", " "), "units": units.get(name, "1"),
                          "comment": comments.get(name, "")}
    ds["recipe"].attrs = {"long_name": "recipe", "units": "1",
                          "comment": "pcdiag/table1/recipes/NAME.toml"}
    epochs, pcx = _epochs_text(recipes)
    ds.attrs = {
        "title": f"pcdiag benchmark: PCX's recipes scored by {score.long_name}",
        "pcdiag_version": pcdiag.__version__,
        "score": var,
        "higher_is_better": int(up),
        "epochs": epochs,
        "pcx_epochs": pcx,
        "recipes": json.dumps({r.name: {"cell": r.cell, "meta": r.meta,
                                        "config": r.config.to_dict()} for r in recipes},
                              sort_keys=True, default=str),
    }
    for name in VOLATILE_ATTRS:
        ds.attrs.pop(name, None)
    return ds
