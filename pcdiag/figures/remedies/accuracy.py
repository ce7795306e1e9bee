"""``remedies_vs_depth``: the remedies at their own published recipes.

Test accuracy after one pass over MNIST against depth, in two panels: left, the muPC recipe
(jpc's examples/mupc.ipynb: ReLU residual MLP, Adam 0.1) with standard PC, muPC and BP;
right, the ePC recipe (jpc's examples/epc.ipynb, with the ePC paper code's weight step) with
standard PC, ePC and BP. PC in each panel is the recipe with only the remedy removed, so the
gap between the PC and remedy lines is the remedy's. PC and the remedy are each drawn at the
state step chosen on a validation split (per line and depth, from the profile's grid; solid)
and at the recipe's step (dashed); the remedy's differences to PC and to BP carry paired seed
intervals (`difference`, pcdiag.table1.stats.compare). Under each depth the plot states how
many of PC's layers stalled (pcdiag.measures.stalled_layers: they learn at no logged step),
the diagnosis of why PC fails; each line's optimizer settings are coordinates along
(recipe, variant), so the measure reads each line's own learning rate, decay and optimizer."""

from __future__ import annotations

import json
import math

import numpy as np
import xarray as xr
from matplotlib.figure import Figure as MplFigure

import pcdiag.plot as pplot
from pcdiag import measures
from pcdiag import status as pcdiag_status
from pcdiag.data.registry import info
from pcdiag.figures.errors import FigureError
from pcdiag.figures.experiments import (
    combine,
    conform,
    coords_along,
    paired_differences,
    trim,
    with_step_grid,
)
from pcdiag.figures.layout import TWO_COLUMNS, name_panels, new_figure, short_number
from pcdiag.figures.profiles import RECIPE_CONVENTION, RECIPE_GAMMA
from pcdiag.figures.registry import Figure
from pcdiag.figures.remedies import profile as remedy
from pcdiag.plot.sensitivity import (
    accuracy_line,
    add_counts,
    chance_level,
    failure_legend,
    mark_failures,
    seed_points,
)
from pcdiag.plot.styling import (
    PANEL_LETTERS,
    colours_for,
    convention_long,
    decorate,
    markers_for,
    range_text,
    style,
)
from pcdiag.selection import at_best_gamma

#: The recipes' names (the summary's) and legend texts, by recipe.
RECIPE_TITLE = {"mupc": "μPC recipe (jpc mupc.ipynb)", "epc": "ePC recipe (jpc epc.ipynb)"}
#: The panels' names in the image (the caption says the rest).
RECIPE_PANEL = {"mupc": "μPC recipe", "epc": "ePC recipe"}
LEGEND = {
    "mupc": {"pc": "PC (standard param.)", "remedy": "μPC", "bp": "BP"},
    "epc": {"pc": "PC (states)", "remedy": "ePC (errors)", "bp": "BP"},
}
#: Config fields attached along (recipe, variant) as coordinates: the Dataset's `config` attr
#: holds only the first line's, and pcdiag.measures.setting reads a coordinate first.
SETTING_FIELDS = ("algorithm", "parameterization", "weight_lr", "weight_optimizer",
                  "weight_decay", "momentum", "lr_schedule", "lr_peak_factor")


def with_settings(ds: xr.Dataset) -> xr.Dataset:
    """`ds` with each line's config fields (SETTING_FIELDS) as coordinates along (recipe,
    variant), read from its `recipe_configs` attr (those already there are kept)."""
    missing = [n for n in SETTING_FIELDS if n not in ds.coords]
    if not missing:
        return ds
    configs = json.loads(ds.attrs.get("recipe_configs", "{}"))
    recipes = [str(r) for r in ds["recipe"].values]
    variants = [str(v) for v in ds["variant"].values]
    if not all(f"{rc}/{v}" in configs for rc in recipes for v in variants):
        raise FigureError("remedies_vs_depth: the Dataset's recipe_configs attr does not "
                          f"name every line (recipe/variant); cannot read {missing} per line")
    return coords_along(ds, ("recipe", "variant"), {
        n: [[configs[f"{rc}/{v}"][n] for v in variants] for rc in recipes] for n in missing},
        "line")


def stalled_layers(ds: xr.Dataset) -> xr.DataArray:
    """Per run: pcdiag.measures.stalled_layers with each line's own settings (with_settings):
    how many layers learn at no logged step; NaN for a diverged run (no count, never 0)."""
    return measures.stalled_layers(with_settings(ds))


#: The comparisons `difference` holds: the remedy against PC and against BP, both at their
#: validated steps, paired by seed.
COMPARISONS = {"remedy-pc": ("remedy", "pc"), "remedy-bp": ("remedy", "bp")}


def validated(ds: xr.Dataset) -> tuple[xr.Dataset, float, bool]:
    """A line's runs at one depth at the state step its validation accuracy picks, the step,
    and whether some step had every seed ok (pcdiag.selection.at_best_gamma: the final epoch,
    median over seeds, only steps at which every seed's run_status is ok; else over the seeds
    that have a score; the recipe's step where no run has one). BP (no gamma axis) is
    returned as it is, with step NaN."""
    return at_best_gamma(ds, RECIPE_GAMMA)


def differences(acc: xr.DataArray) -> xr.Dataset:
    """Per recipe, COMPARISONS entry and depth: the paired seed difference of final test
    accuracies and its 95% interval (pcdiag.figures.experiments.paired_differences)."""
    return paired_differences(acc, "variant", COMPARISONS, "the remedy and PC each at its "
                              "validated step").transpose("recipe", "comparison", "depth")


def _data(profile, results) -> xr.Dataset:
    r = remedy.remedy_profile(profile)
    panels, chosen, all_ok, grid, at_recipe, recipe_status = {}, {}, {}, {}, {}, {}
    for recipe in remedy.RECIPES:
        lines = {}
        for variant in remedy.RECIPE_VARIANTS:
            parts = {}
            for d in r.depths:
                full = trim(results[f"{recipe}/{variant}/{d}"], keep_t=False)
                parts[d], chosen[recipe, variant, d], all_ok[recipe, variant, d] = (
                    validated(full))
                has_grid = "gamma" in full.dims
                grid[recipe, variant, d] = (full["validation_accuracy"].isel(epoch=-1, drop=True)
                                            if has_grid else None)
                at_recipe[recipe, variant, d] = (
                    full["test_accuracy"].isel(epoch=-1, drop=True).sel(
                        gamma=RECIPE_GAMMA, drop=True) if has_grid else None)
                recipe_status[recipe, variant, d] = (
                    full["run_status"].sel(gamma=RECIPE_GAMMA, drop=True) if has_grid
                    else None)
            lines[variant] = combine(parts, "depth")
        panels[recipe] = combine(lines, "variant")
    ds = combine(panels, "recipe")
    recipes, variants = remedy.RECIPES, remedy.RECIPE_VARIANTS
    configs = {(rc, v): r.config(rc, v, r.depths[0]) for rc in recipes for v in variants}
    coords = {
        "description": [[LEGEND[rc][v] for v in variants] for rc in recipes],
        **{name: [[getattr(configs[rc, v], name) for v in variants] for rc in recipes]
           for name in SETTING_FIELDS},
    }
    ds = coords_along(ds, ("recipe", "variant"), coords, "line")
    ds = ds.assign_coords(inference_steps=("depth", list(r.depths)))
    ds["inference_steps"].attrs = {"long_name": "inference steps T", "units": "1",
                                   "comment": "T = depth in every recipe"}
    ds["depth"].attrs = {"long_name": "depth L (weight layers)", "units": "1",
                         "comment": "config field 'depth'; one program per depth"}
    ds["recipe"].attrs = {"long_name": "recipe (panel)", "units": "1",
                          "comment": "mupc: jpc examples/mupc.ipynb; epc: jpc "
                                     "examples/epc.ipynb with the ePC paper's weight step"}
    ds["variant"].attrs = {"long_name": "line", "units": "1",
                           "comment": "pc: the recipe without its remedy; remedy: muPC or "
                                      "ePC; bp: backprop on the recipe's network"}
    ds.attrs["remedy_profile"] = r.to_json()
    ds.attrs["recipe_configs"] = json.dumps(
        {f"{rc}/{v}": json.loads(c.to_json()) for (rc, v), c in configs.items()})
    ds["stalled_layers"] = stalled_layers(ds)
    keys = [(rc, v, d) for rc in recipes for v in variants for d in r.depths]
    shape = (len(recipes), len(variants), len(r.depths))
    line_dims = ("recipe", "variant", "depth")
    ds["selected_gamma"] = (line_dims, np.reshape([chosen[k] for k in keys], shape), {
        "long_name": "selected state step γ", "units": "1",
        "comment": f"per line and depth, the step of the grid {list(r.gammas)} ("
                   f"{RECIPE_CONVENTION} convention) whose final validation accuracy, median "
                   "over seeds, is highest among the steps at which every seed's run_status "
                   "is ok (pcdiag.selection.best_setting); NaN for BP (no state step)"})
    ds = with_step_grid(ds, line_dims, all_ok, grid, r.gammas, r.validation_size, "line",
                        RECIPE_CONVENTION)
    seeds = ds["test_accuracy"]["seed"].values
    nan_seeds = np.full(len(seeds), np.nan)
    ds["recipe_test_accuracy"] = (
        (*line_dims, "seed"),
        np.reshape([nan_seeds if at_recipe[k] is None else
                    at_recipe[k].transpose("seed").values for k in keys], (*shape, len(seeds))),
        {"long_name": "test accuracy at the recipe's step", "units": "1",
         "comment": f"final test accuracy at the recipe's own γ = {RECIPE_GAMMA:g} "
                    f"({RECIPE_CONVENTION}); NaN for BP"})
    ds["recipe_run_status"] = (
        (*line_dims, "seed"),
        np.reshape([nan_seeds if recipe_status[k] is None else
                    recipe_status[k].transpose("seed").values.astype(float) for k in keys],
                   (*shape, len(seeds))),
        {"long_name": "run_status at the recipe's step", "units": "1",
         "comment": f"run_status (its codes: {status_codes()}) of the runs at the recipe's own "
                    f"γ = {RECIPE_GAMMA:g}, the dashed lines; NaN for BP"})
    ds = ds.merge(differences(ds["test_accuracy"].isel(epoch=-1, drop=True)))
    ds.attrs["validation"] = (f"the last {r.validation_size} images of the MNIST training "
                              "file, held out of training")
    return conform(ds)


def status_codes() -> str:
    """'0 ok, 1 diverged, ...': pcdiag.status's flags."""
    return ", ".join(f"{code} {name}" for code, name in pcdiag_status.NAMES.items())


def recipe_failures(part: xr.Dataset, variant: str) -> xr.Dataset:
    """Per depth, how many of a line's runs at the recipe's step failed, by run_status name
    (mark_failures' counts), where the recipe's step is not the selected one (elsewhere the
    solid line marks them already)."""
    flags = part["recipe_run_status"].sel(variant=variant)
    other = part["selected_gamma"].sel(variant=variant) != RECIPE_GAMMA
    return xr.Dataset({name: ((flags == code) & other).sum("seed")
                       for code, name in pcdiag_status.NAMES.items() if code})


def stalled_text(counts: xr.DataArray, lower_bound: bool = False) -> str:
    """One depth's stalled-layer count over seeds: '53', or '52–54' where seeds differ (a
    diverged seed, NaN, gives no count; 'n/a' if none has one); '≥ 53' where the count is
    only a lower bound (no per-t energies: Adam's layers fed by rounding count as learning)."""
    text = range_text(counts.values) or "n/a"
    return f"≥ {text}" if lower_bound and text != "n/a" else text


def lower_bound(ds: xr.Dataset) -> xr.DataArray:
    """Per line (recipe, variant): whether its stalled count is only a lower bound
    (pcdiag.measures.stalled_lower_bound with each line's own settings)."""
    bound = measures.stalled_lower_bound(with_settings(ds))
    return bound.any([d for d in bound.dims if d not in ("recipe", "variant")])


def accuracy_panel(ax, part: xr.Dataset, recipe: str) -> dict:
    """One panel: every seed a dot, the mean a line, the min-max band, run_status failures
    marked (pcdiag.plot.sensitivity's primitives), on a fixed 0-1 axis (here runs at chance
    are the finding, not outliers to fit around). Returns the failure counts."""
    summary = pplot.accuracy_summary(part)
    depth = part["depth"].values
    variants = list(part["variant"].values)
    colours = colours_for("variant", variants, recipe)  # the remedy: its recipe's colour
    markers = markers_for(variants, recipe)
    acc = part["test_accuracy"].isel(epoch=-1)
    failed: dict[str, int] = {}
    chance = chance_level(part)
    ax.axhline(chance, color="0.6", linestyle=":", linewidth=0.8, zorder=0)
    for colour, marker, variant in zip(colours, markers, variants):
        add_counts(failed, accuracy_line(
            ax, depth, summary.sel(variant=variant), colour, band=part.sizes.get("seed", 1) > 1,
            markersize=4, marker=marker, chance=chance,
            label=str(part["description"].sel(variant=variant).item())))
        seed_points(ax, depth, acc.sel(variant=variant), "depth", colour)
    for colour, variant in zip(colours, variants):  # the recipe's own step, where it differs
        if "recipe_test_accuracy" not in part:
            break
        at_recipe = part["recipe_test_accuracy"].sel(variant=variant).mean("seed")
        if bool(np.isfinite(at_recipe).any()):
            ax.plot(depth, at_recipe.values, color=colour, linestyle="--", linewidth=0.9,
                    label=recipe_label(part, variant))
            if "recipe_run_status" in part:
                add_counts(failed, mark_failures(ax, depth, recipe_failures(part, variant).assign(
                    mean=at_recipe), colour, chance))
    ax.set_xscale("log", base=2)
    ax.minorticks_off()
    ax.set_ylim(0, 1)
    return failed


def drawn_runs(part: xr.Dataset) -> int:
    """The runs one panel draws: every line's at its selected step, and the runs at the
    recipe's step where that is another (the dashed lines)."""
    runs = int(part["test_accuracy"].isel(epoch=-1).size)
    if "recipe_run_status" in part:
        other = (part["selected_gamma"] != RECIPE_GAMMA) & part["selected_gamma"].notnull()
        runs += int((part["recipe_run_status"].notnull() & other).sum())
    return runs


def recipe_label(part: xr.Dataset, variant: str) -> str:
    """The legend text of a line at the recipe's own step."""
    return f"{part['description'].sel(variant=variant).item()}, recipe γ {RECIPE_GAMMA:g}"


def selected_text(ds: xr.Dataset, recipe: str, variant: str) -> str:
    """A line's selected steps over depth, e.g. '2 / 2 / 8 / 8' ('*' where no step had
    every seed ok)."""
    line = ds.sel(recipe=recipe, variant=variant)
    return " / ".join(f"{short_number(float(g))}" + ("" if ok else "*") for g, ok in zip(
        line["selected_gamma"].values, line["selection_all_ok"].values))


def plot_remedies_vs_depth(ds: xr.Dataset) -> MplFigure:
    missing = [d for d in ("recipe", "variant", "depth") if d not in ds.dims]
    if missing or "stalled_layers" not in ds:
        raise FigureError(f"remedies_vs_depth needs dims recipe, variant, depth and the "
                          f"variable stalled_layers (missing: {missing or 'the variable'}"
                          "); make the data with `pcdiag figures --only remedies_vs_depth`")
    depths = [int(d) for d in ds["depth"].values]
    bound = lower_bound(ds)
    with style():
        fig, axes = new_figure(ds.sizes["recipe"], TWO_COLUMNS, 3.0)
        for ax, recipe in zip(axes, ds["recipe"].values):
            part = ds.sel(recipe=recipe)
            failed = accuracy_panel(ax, part, str(recipe))
            counts = part["stalled_layers"].sel(variant="pc")
            low = bool(bound.sel(recipe=recipe, variant="pc"))
            ax.set_xticks(depths, [f"{d}\n{stalled_text(counts.sel(depth=d), low)}"
                                   for d in depths])
            ax.set_xlabel("depth L  (2nd row: PC's stalled layers, seeds' range)")
            handles, labels = ax.get_legend_handles_labels()
            failure_legend(handles, labels, failed, drawn_runs(part))
            ax.legend(handles, labels, loc="lower right", bbox_to_anchor=(1.0, 0.2))
            decorate(ax)
        axes[0].set_ylabel("test accuracy")
        name_panels(axes, [RECIPE_PANEL.get(str(r), str(r)) for r in ds["recipe"].values])
    return fig


def _panel_of(ds: xr.Dataset, recipe: str) -> str:
    """'(a) ' for the recipe drawn in the first panel; '' where the data lack it."""
    recipes = [str(r) for r in ds["recipe"].values] if "recipe" in ds.dims else []
    return f"({PANEL_LETTERS[recipes.index(recipe)]}) " if recipe in recipes else ""


def caption_remedies_vs_depth(ds: xr.Dataset) -> str:
    r = json.loads(ds.attrs.get("remedy_profile", "{}"))
    n_train = r.get("train_limit") or info(remedy.RECIPE_DATASET).n_train
    tests = r.get("test_limit") or info(remedy.RECIPE_DATASET).n_test
    steps = n_train // remedy.RECIPE_BATCH
    gammas = r.get("gammas", [RECIPE_GAMMA])
    depths = "/".join(str(int(d)) for d in ds["depth"].values)
    chosen = "; ".join(
        f"{RECIPE_PANEL.get(str(rc), str(rc))}: " + ", ".join(
            f"{LEGEND[str(rc)][v]} {selected_text(ds, rc, v)}" for v in ("pc", "remedy"))
        for rc in ds["recipe"].values) if "selected_gamma" in ds else "n/a"
    return "\n".join([
        f"{convention_long(ds)}. Every run: MNIST standardised, {n_train} training images "
        f"(one pass, {steps} steps of batch {remedy.RECIPE_BATCH}), {tests} test images, ReLU, "
        f"squared-error output, forward initialisation, states (or errors) plain SGD on the "
        f"batch-mean energy, T = L inference steps, Adam (weight decay 0).",
        f"State step γ: PC and the remedy each at the step of the grid "
        f"{', '.join(f'{g:g}' for g in gammas)} (batch-mean; /{remedy.RECIPE_BATCH} per sample) "
        "that their validation accuracy picks, per line and depth (final epoch, median over "
        "seeds, among the steps at which every seed's run stayed ok; '*': none did, the best "
        f"median of all runs), on {ds.attrs.get('validation', 'a held-out split')}, never on "
        f"the test set (solid lines). Selected γ at depths {depths}: {chosen}. Dashed: the "
        f"same lines at the recipes' own γ = {RECIPE_GAMMA:g} (= "
        f"{RECIPE_GAMMA / remedy.RECIPE_BATCH:g} per sample). BP has no state step; its Adam "
        "learning rate is the one stated below, not tuned on the validation split.",
        f"{_panel_of(ds, 'mupc')}μPC recipe (thebuckleylab/jpc examples/mupc.ipynb: width 128, "
        "Adam lr "
        f"{remedy.MUPC_RECIPE_LR:g}; jpc prints 93.3% after 900 steps at depth 30): residual MLP "
        f"(identity skips around every hidden layer but the first and last), width "
        f"{r.get('mupc_width', '?')}. μPC: N(0, 1) weights, multipliers 1/sqrt(784), "
        "1/sqrt(N L), 1/N (pcdiag's layers keep biases, started at 0; jpc's have none). PC: "
        f"the same with the standard parameterization. BP: the μPC network, Adam lr "
        f"{remedy.BP_MUPC_LR:g} (lr {remedy.MUPC_RECIPE_LR:g} collapsed at depth 64).",
        f"{_panel_of(ds, 'epc')}ePC recipe (jpc examples/epc.ipynb: width 128, Adam lr "
        f"{remedy.EPC_RECIPE_LR:g}; "
        "jpc prints 91.6% after 300 steps at depth 10): plain MLP (no skips), standard "
        f"parameterization U(±1/sqrt(fan-in)), width {r.get('epc_width', '?')}. ePC infers "
        "the errors e_l (x_l = mu_l + e_l, e = 0 at the start); its weight step is "
        f"epc_weight_update = '{remedy.EPC_WEIGHT_UPDATE}', the ePC paper's code (cgoemaere/"
        "error_based_PC, pc_e.py: the local gradient at the inferred states, the loss divided "
        "by min(1, γ_sample T)); jpc's update_epc_params ('chain') differentiates through the "
        f"whole network at fixed errors. PC and BP: the same network, Adam lr "
        f"{remedy.EPC_RECIPE_LR:g}.",
        "Dots: single seeds; line: mean over seeds; band: min-max; y axis 0-1 (chance, "
        "dotted, is the result here, not an outlier). Markers on a line (run_status): x "
        "diverged, hollow diamond inference unstable, hollow square collapsed (counted in "
        "the legend). Second row of x labels: how many of PC's L layers stalled "
        "(pcdiag.measures.stalled_layers, with each line's own lr, decay and optimizer): "
        "their relative weight update exceeds what weight decay alone gives by more than "
        "float32 resolution at no logged step; the seeds' range, a diverged seed giving no "
        "count (not 0). '≥': a lower bound: these data keep no per-t energies, and Adam's "
        "step does not shrink with the gradient, so a layer fed only by float32 rounding "
        "counts as learning. Differences (the summary, `difference`): the remedy minus PC "
        "and minus BP, paired by seed, with 95% t intervals; a line beats another only where "
        "the interval excludes 0.",
    ])


def summary_remedies_vs_depth(ds: xr.Dataset) -> str:
    seeds = ds.sizes.get("seed", 1)
    lines = [f"  test accuracy, mean [min, max] over {seeds} seed(s); (s: stalled layers, "
             "pcdiag.measures.stalled_layers, seeds' range; '≥': a lower bound)"]
    bound = lower_bound(ds)
    for recipe in ds["recipe"].values:
        part = ds.sel(recipe=recipe)
        summary = pplot.accuracy_summary(part)
        lines.append(f"  {RECIPE_TITLE.get(str(recipe), str(recipe))}:")
        for variant in part["variant"].values:
            cells = []
            for depth in part["depth"].values:
                s = summary.sel(variant=variant, depth=depth)
                z = stalled_text(part["stalled_layers"].sel(variant=variant, depth=depth),
                                 bool(bound.sel(recipe=recipe, variant=variant)))
                cells.append(f"{int(depth)}: {short_number(float(s['mean']))} "
                             f"[{short_number(float(s['min']))}, "
                             f"{short_number(float(s['max']))}]"
                             + pplot.failure_text(s) + f" s {z}/{int(depth)}")
            text = str(part["description"].sel(variant=variant).item())
            lines.append(f"    {text}: " + "; ".join(cells))
            if "selected_gamma" in ds and variant != "bp":
                lines.append(f"      selected γ: {selected_text(ds, recipe, variant)}; at the "
                             f"recipe's γ {RECIPE_GAMMA:g}: " + "; ".join(
                                 f"{int(d)}: {short_number(float(a))}" for d, a in zip(
                                     part["depth"].values, part["recipe_test_accuracy"].sel(
                                         variant=variant).mean("seed").values)))
        if "difference" in ds:
            for comparison in ds["comparison"].values:
                d = ds.sel(recipe=recipe, comparison=comparison)
                lines.append(f"    {comparison} (paired, 95%): " + "; ".join(
                    f"{int(depth)}: {difference_text(d.sel(depth=depth), seeds)}"
                    for depth in d["depth"].values))
    return "\n".join(lines)


def difference_text(d: xr.Dataset, seeds: int | None = None) -> str:
    """'+0.012 [-0.010, +0.034] (within seed noise)' for one paired difference (', 2 pairs'
    where fewer than the `seeds` runs of a line had an accuracy on both sides)."""
    mean, low, high = (float(d[k]) for k in ("difference", "difference_low",
                                              "difference_high"))
    pairs = int(d["difference_pairs"]) if "difference_pairs" in d else seeds
    fewer = "" if seeds is None or pairs == seeds else f", {pairs} pairs"
    if not math.isfinite(mean):
        return "n/a (no seed with both accuracies)"
    if not math.isfinite(low):
        return f"{mean:+.3f} (no interval{fewer})"
    verdict = ("within seed noise" if low <= 0 <= high else
               "higher" if low > 0 else "lower")
    return f"{mean:+.3f} [{low:+.3f}, {high:+.3f}] ({verdict}{fewer})"


FIGURE = Figure(
    name="remedies_vs_depth",
    description="Test accuracy after one pass over MNIST against depth, each remedy at its "
                "own published recipe: PC vs muPC vs BP (jpc's muPC recipe) and PC vs ePC vs "
                "BP (jpc's ePC recipe), PC and the remedies at their validated state steps and "
                "at the recipes'; PC's stalled layers under each depth.",
    sweeps=remedy.specs,
    data=_data,
    plot=plot_remedies_vs_depth,
    caption=caption_remedies_vs_depth,
    summary=summary_remedies_vs_depth,
)
