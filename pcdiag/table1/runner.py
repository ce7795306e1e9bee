"""`run(recipes, seeds, out)`: each recipe as one vectorised sweep over the seeds (resumable:
a sweep store with per-epoch checkpoints per recipe), then the table, the Dataset and the
paired comparisons.

The score is the recipe's task's (pcdiag.tasks: ``Task.score``): test accuracy for
classification, test MSE (lower is better) for generation. A run of both kinds writes one
table per score: accuracy's under the names above, another's with its name as a suffix
(``table-mse.md``, ``comparisons-mse.md``, ``benchmark-mse.nc``)."""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import xarray as xr

import pcdiag
from pcdiag.dataset import VOLATILE_ATTRS
from pcdiag.engine.checkpoint import read_meta
from pcdiag.errors import BadInputError
from pcdiag.table1 import stats, table
from pcdiag.table1.recipe import Recipe, available, load_recipe
from pcdiag.table1.score_table import epoch_mean as _epoch_mean
from pcdiag.table1.score_table import report_score, score_of


@dataclass
class Result:
    """What a benchmark run produced (also written under `out`)."""

    out: Path
    recipes: list[Recipe]
    summaries: dict[str, stats.Summary]
    seconds_per_seed: dict[str, float]
    comparisons: list[stats.Comparison]
    dataset: xr.Dataset
    runs: dict[str, xr.Dataset] = field(repr=False, default_factory=dict)
    markdown: str = ""
    latex: str = ""
    score: str = "accuracy"
    #: a run of recipes with different scores: the other scores' tables
    others: list[Result] = field(default_factory=list)


def by_score(recipes: list[Recipe]) -> dict[str, list[Recipe]]:
    """The recipes grouped by score name, accuracy first (one table each)."""
    groups: dict[str, list[Recipe]] = {}
    for r in recipes:
        groups.setdefault(score_of(r).name, []).append(r)
    return dict(sorted(groups.items(), key=lambda kv: kv[0] != "accuracy"))


def estimate_seconds(recipe: Recipe, seeds: int) -> float:
    """Predicted seconds on the 2-core reference machine (pcdiag.figures.cost's MLP model:
    measured per run-epoch by width, scaled by depth, T and algorithm; batch 64 there)."""
    from pcdiag.figures.cost import MLP

    return MLP.program_seconds(recipe.config, seeds)


def resolve(recipes, directory=None, **overrides) -> list[Recipe]:
    if recipes is None:
        recipes = available(directory)
    if isinstance(recipes, str):
        recipes = [r.strip() for r in recipes.split(",") if r.strip()]
    return [r if isinstance(r, Recipe) else load_recipe(r, directory, **overrides)
            for r in recipes]


def pairs(recipes: list[Recipe]) -> list[tuple[Recipe, Recipe]]:
    """(PC recipe, BP recipe) on the same model and data: BP with the same output loss if
    there is one, else every BP recipe of that model."""
    out = []
    for pc in (r for r in recipes if not r.is_bp):
        bps = [b for b in recipes if b.is_bp and b.model_key() == pc.model_key()]
        same = [b for b in bps if b.config.output_energy == pc.config.output_energy]
        out += [(pc, bp) for bp in (same or bps)]
    return out


def run(recipes=None, seeds=7, out: str | os.PathLike = "benchmark-results", *,
        directory=None, progress: bool = True, log=print, **overrides) -> Result:
    """Run `recipes` (names, paths or Recipe objects; default: every shipped recipe) over
    `seeds` (a count: seeds 0..n-1, or a list) and write, under `out`:

    - ``table.md`` / ``table.tex``: best and last epoch mean +- std, top-5 of 7, s / seed;
    - ``comparisons.md``: PC vs BP on the same model, paired over seeds;
    - ``benchmark.nc``: per recipe, seed and epoch: test and train accuracy, and the energy
      diagnostics (epoch means of per-layer energies at t = 0 and t = T, median energy ratio
      at t = T, weight gradient norms), best and last epoch, seconds;
    - ``runs/NAME.nc``: each recipe's full sweep Dataset (every logged step, seed and t);
    - ``store/NAME/``: the sweep store with per-epoch checkpoints (resume; load_params).

    A rerun with the same `out` skips finished recipes and resumes an interrupted one from
    its last finished epoch. `overrides` change Config fields of every recipe."""
    out = Path(out)
    recipes = resolve(recipes, directory, **overrides)
    seed_list = list(range(seeds)) if isinstance(seeds, int) else list(seeds)
    (out / "runs").mkdir(parents=True, exist_ok=True)
    total = sum(estimate_seconds(r, len(seed_list)) for r in recipes)
    log(f"benchmark: {len(recipes)} recipe(s) x {len(seed_list)} seeds; estimate "
        f"{_duration(total)} on the 2-core reference CPU (cost model of pcdiag.figures.cost)")
    for r in recipes:
        log(f"  {r.name:24s} {r.cell:36s} ~{_duration(estimate_seconds(r, len(seed_list)))}")
    runs, seconds = {}, {}
    data_cache: dict[tuple, object] = {}
    for recipe in recipes:
        cfg = recipe.config
        key = (cfg.dataset, cfg.data_dir, cfg.train_limit, cfg.test_limit, cfg.normalisation)
        if key not in data_cache:
            data_cache[key] = pcdiag.load_device_data(cfg)
        store = out / "store" / recipe.name
        start = time.perf_counter()
        log(f"{recipe.name}: training {len(seed_list)} seeds (store {store})")
        ds = pcdiag.sweep(cfg, seed=seed_list, store=store, checkpoints=True,
                          data=data_cache[key], progress=progress)
        pcdiag.save(ds, out / "runs" / f"{recipe.name}.nc")
        seconds[recipe.name] = _recipe_seconds(store, time.perf_counter() - start) / len(
            seed_list)
        runs[recipe.name] = ds
    groups = list(by_score(recipes).values())
    results = [report(group, runs, seconds, out, log=log) for group in groups]
    results[0].others = results[1:]
    return results[0]


def _recipe_seconds(store: Path, measured: float) -> float:
    """Wall seconds of the recipe's training: the checkpoint's running total (compile and
    evaluation included, summed over resumed sessions), else this session's time."""
    metas = [read_meta(p) for p in sorted(store.glob("*.ckpt"))]
    total = sum(m.get("elapsed_s", 0.0) for m in metas if m)
    return total if total > 0 else measured


def _duration(seconds: float) -> str:
    return f"{seconds / 60:.1f} min" if seconds >= 90 else f"{seconds:.0f} s"


def report(recipes: list[Recipe], runs: dict[str, xr.Dataset], seconds: dict[str, float],
           out: Path, log=print) -> Result:
    """The table, comparisons and Dataset of `recipes` (all of one score) under `out`."""
    scores = {score_of(r) for r in recipes}
    if len(scores) != 1:
        names = ", ".join(f"{r.name} ({score_of(r).name})" for r in recipes)
        raise BadInputError(f"report: recipes of different scores in one table ({names}); "
                            "one table takes one score: group them with by_score and report "
                            "each group (run does)")
    score = scores.pop()
    if score.name != "accuracy":
        made = report_score(score, recipes, runs, seconds, out, log=log)
        return Result(out, recipes, made.summaries, seconds, made.comparisons, made.dataset,
                      runs, made.markdown, made.latex, score.name)
    seed_count = len(next(iter(runs.values())).seed)
    summaries, entries = {}, []
    for r in recipes:
        ds = runs[r.name]
        summaries[r.name] = stats.summarise(ds.test_accuracy.transpose("seed", "epoch").values,
                                            ds.diverged_at.values)
        entries.append((r.cell, summaries[r.name], seconds.get(r.name, math.nan),
                        str(r.meta.get("paper", "")) or "-"))
    comparisons = []
    for pc, bp in pairs(recipes):
        a = stats.best_per_seed(runs[pc.name].test_accuracy.transpose("seed", "epoch").values)
        b = stats.best_per_seed(runs[bp.name].test_accuracy.transpose("seed", "epoch").values)
        if len(a) == len(b):
            comparisons.append(stats.compare(pc.name, a, bp.name, b))
    md, tex = table.markdown(entries, seed_count), table.latex(entries, seed_count)
    (out / "table.md").write_text(md)
    (out / "table.tex").write_text(tex)
    (out / "comparisons.md").write_text(table.comparisons_markdown(comparisons))
    ds = combined(recipes, runs, seconds)
    pcdiag.save(ds, out / "benchmark.nc")
    log(md)
    if comparisons:
        log(table.comparisons_markdown(comparisons))
    return Result(out, recipes, summaries, seconds, comparisons, ds, runs, md, tex)


def combined(recipes: list[Recipe], runs: dict[str, xr.Dataset],
             seconds: dict[str, float]) -> xr.Dataset:
    """One Dataset over (recipe, seed, epoch[, layer]): accuracies and per-epoch energy
    diagnostics of every recipe (NaN where a recipe has none, e.g. bp's energies)."""
    parts = []
    for r in recipes:
        ds = runs[r.name]
        acc = ds.test_accuracy.transpose("seed", "epoch")
        best = acc.fillna(-np.inf).max("epoch")
        part = xr.Dataset({
            "test_accuracy": acc,
            "train_accuracy": ds.train_accuracy.transpose("seed", "epoch"),
            "best_test_accuracy": best,
            "best_epoch": acc.fillna(-np.inf).argmax("epoch") + 1,
            "last_test_accuracy": acc.isel(epoch=-1, drop=True),
            "diverged_at": ds.diverged_at,
            "seconds_per_seed": xr.DataArray(seconds.get(r.name, np.nan)),
            "weight_grad_norm": _epoch_mean(ds.weight_grad_norm),
        })
        if "energy" in ds and "t" in ds.dims:
            part["energy_t0"] = _epoch_mean(ds.energy.isel(t=0, drop=True))
            part["energy_tT"] = _epoch_mean(ds.energy.isel(t=-1, drop=True))
            part["energy_ratio_tT"] = _epoch_mean(ds.energy_ratio.isel(t=-1, drop=True),
                                                  "median")
        parts.append(part.expand_dims(recipe=[r.name]))
    ds = xr.concat(parts, dim="recipe", join="outer", coords="minimal", compat="override")
    units = {"test_accuracy": "1", "train_accuracy": "1", "best_test_accuracy": "1",
             "best_epoch": "1", "last_test_accuracy": "1", "diverged_at": "1",
             "seconds_per_seed": "s", "weight_grad_norm": "1", "energy_t0": "1",
             "energy_tT": "1", "energy_ratio_tT": "1"}
    comments = {
        "test_accuracy": "feedforward test accuracy after each epoch",
        "train_accuracy": "feedforward train accuracy after each epoch",
        "best_test_accuracy": "the seed's best epoch (PCX's seed.py keeps it)",
        "best_epoch": "1-based epoch of best_test_accuracy",
        "last_test_accuracy": "test accuracy after the last epoch",
        "diverged_at": "first step with a non-finite energy or loss, -1 if none",
        "seconds_per_seed": "wall seconds of the recipe's vectorised sweep / seeds",
        "weight_grad_norm": "epoch mean over logged steps of the weight-gradient norm",
        "energy_t0": "epoch mean over logged steps of E_l at t = 0 (after forward init)",
        "energy_tT": "epoch mean over logged steps of E_l at t = T (what the weights read)",
        "energy_ratio_tT": "epoch median over logged steps of E_l / E_{l+1} at t = T",
    }
    for name in ds.data_vars:
        ds[name].attrs = {"long_name": name.replace("_", " "), "units": units.get(name, "1"),
                          "comment": comments.get(name, "")}
    ds["recipe"].attrs = {"long_name": "recipe", "units": "1",
                          "comment": "pcdiag/table1/recipes/NAME.toml"}
    ds.attrs = {
        "title": "pcdiag benchmark: PCX's Table 1 recipes",
        "pcdiag_version": pcdiag.__version__,
        "recipes": json.dumps({r.name: {"cell": r.cell, "meta": r.meta,
                                        "config": r.config.to_dict()} for r in recipes},
                              sort_keys=True, default=str),
    }
    for name in VOLATILE_ATTRS:
        ds.attrs.pop(name, None)
    return ds
