"""remedies_vs_depth: the recipes, the data the plot needs, what it draws, the diagnosis.

The fast pipeline test trains a tiny profile (depth 3, width 8, 128 real MNIST images, two
vmapped seeds: six programs) and checks the data and the drawing against each other; the
quick profile's full run (about 2 minutes) is in the slow tier (pytest --slow). The committed
default figure's data (figures/remedies_vs_depth.nc) is held against its summary.
"""

import json
import os
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

import pcdiag
from pcdiag.figures import FIGURES, FigureError, Runner
from pcdiag.figures.layout import short_number
from pcdiag.figures.remedies import accuracy as rem
from pcdiag.figures.remedies.profile import (
    EPC_WEIGHT_UPDATE,
    REMEDY_PROFILES,
    RemedyProfile,
    remedy_profile,
)

DATA = Path(
    os.environ.get("PCDIAG_DATA") or Path(__file__).resolve().parents[2] / "shared" / "data"
)
COMMITTED = Path(__file__).resolve().parents[1] / "figures" / "remedies_vs_depth.nc"
TINY = RemedyProfile(name="tiny", description="test", train_limit=128, test_limit=200,
                     seeds=(0, 1), depths=(3,), mupc_width=8, epc_width=8, log_every=1,
                     gammas=(0.5, 4.0), validation_size=200)


# ------------------------------------------------------------------------------ recipes


def differences(a, b) -> dict:
    da, db = a.to_dict(), b.to_dict()
    return {k: (da[k], db[k]) for k in da if da[k] != db[k]}


def test_pc_is_each_recipe_without_its_remedy():
    """The PC line differs from the remedy line in the remedy's own field(s) only, so the gap
    between them is the remedy's; the recipes' published values are the configs'."""
    p = REMEDY_PROFILES["default"]
    for depth in p.depths:
        mupc, pc = p.config("mupc", "remedy", depth), p.config("mupc", "pc", depth)
        assert differences(mupc, pc) == {"parameterization": ("mupc", "sp")}
        epc, pc = p.config("epc", "remedy", depth), p.config("epc", "pc", depth)
        assert differences(epc, pc) == {"algorithm": ("epc", "pc"),
                                        "epc_weight_update": (EPC_WEIGHT_UPDATE, "local")}
        for cfg in (mupc, epc):  # jpc's notebooks: T = depth, 0.5 on the batch-mean energy
            assert (cfg.inference_steps, cfg.gamma, cfg.gamma_convention, cfg.batch_size,
                    cfg.activation, cfg.output_energy, cfg.weight_decay) == (
                depth, 0.5, "batch_mean", 64, "relu", "se", 0.0)
        assert (mupc.skip, mupc.weight_lr, epc.skip, epc.weight_lr) == (True, 0.1, False, 1e-3)
        bp = p.config("mupc", "bp", depth)
        assert (bp.algorithm, bp.parameterization, bp.skip) == ("bp", "mupc", True)


def test_rejected_profiles_and_inputs_say_why():
    with pytest.raises(ValueError, match=r"depths=\(2, 4\) must be increasing and >= 3"):
        RemedyProfile("bad", "", 640, None, (0,), (2, 4), 8, 8, 1)
    with pytest.raises(ValueError, match=r"depths=\(8, 4\) must be increasing"):
        RemedyProfile("bad", "", 640, None, (0,), (8, 4), 8, 8, 1)
    with pytest.raises(ValueError, match=r"depths=\(\) and seeds=\(0,\) must each name"):
        RemedyProfile("bad", "", 640, None, (0,), (), 8, 8, 1)
    with pytest.raises(ValueError, match=r"log_every=20 is more than the 10 steps of one "
                                         r"epoch; lower log_every"):
        RemedyProfile("bad", "", 640, None, (0,), (4,), 8, 8, 20)
    with pytest.raises(ValueError, match=r"recipe='ipc', variant='pc': recipe must be one of "
                                         r"mupc, epc and variant one of pc, remedy, bp"):
        TINY.config("ipc", "pc", 3)
    with pytest.raises(FigureError, match=r"expected a profile name, Profile or "
                                          r"RemedyProfile, got int"):
        remedy_profile(3)
    with pytest.raises(FigureError, match=r"unknown profile 'huge'"):
        remedy_profile("huge")
    with pytest.raises(FigureError, match=r"needs dims recipe, variant, depth and the "
                                          r"variable stalled_layers \(missing: "
                                          r"\['recipe'\]\)"):
        rem.plot_remedies_vs_depth(xr.Dataset(coords={"variant": ["pc"], "depth": [3]}))


# ------------------------------------------------------------------------------ diagnosis


def recipe_dataset(update: np.ndarray, configs: dict) -> xr.Dataset:
    """Two lines (recipe mupc: variants pc, bp), one depth-3 run each over two steps: weight
    norms 1, the relative updates given, `recipe_configs` as the figure stores them."""
    dims = ("recipe", "variant", "step", "layer")
    ds = xr.Dataset({"update_norm": (dims, update), "weight_norm": (dims, np.ones_like(update))},
                    coords={"recipe": ["mupc"], "variant": ["pc", "bp"], "step": [0, 1],
                            "layer": [1, 2, 3]})
    ds.attrs["recipe_configs"] = json.dumps(configs)
    ds.attrs["config"] = json.dumps(configs["mupc/pc"])  # the first line's only
    return ds


def test_stalled_layers_reads_each_lines_own_decay_and_optimizer():
    """Both lines' layers 1-2 move by 1e-4 of their size per step. The PC line runs SGD with
    weight decay lr x wd = 1e-4: that is decay alone, so its layers 1-2 stalled; the BP line
    (no decay) learns there. Read from the Dataset's config attr (the PC line's) both would
    count 2: the per-line settings are what make the BP count right."""
    pc = {"weight_lr": 0.1, "weight_decay": 1e-3, "weight_optimizer": "sgd", "momentum": 0.0,
          "algorithm": "pc", "parameterization": "sp", "lr_schedule": "constant",
          "lr_peak_factor": 1.0}
    bp = pc | {"weight_decay": 0.0, "algorithm": "bp"}
    decay = 1e-4 / (1 - 1e-4)  # lr wd, relative to the norm after the step
    update = np.array([[[[decay, decay, 1e-2]] * 2, [[decay, decay, 1e-2]] * 2]])
    ds = recipe_dataset(update, {"mupc/pc": pc, "mupc/bp": bp})
    counts = rem.stalled_layers(ds)
    assert counts.sel(recipe="mupc", variant="pc") == 2
    assert counts.sel(recipe="mupc", variant="bp") == 0
    with_coords = rem.with_settings(ds)
    assert with_coords["weight_decay"].sel(variant="bp") == 0.0
    assert list(with_coords["algorithm"].sel(recipe="mupc").values) == ["pc", "bp"]


def test_stalled_layers_of_a_diverged_run_is_no_count():
    pc = {"weight_lr": 1e-3, "weight_decay": 0.0, "weight_optimizer": "adamw",
          "momentum": 0.9, "algorithm": "pc", "parameterization": "sp",
          "lr_schedule": "constant", "lr_peak_factor": 1.0}
    update = np.array([[[[0.0, 1e-3, 1e-3], [np.nan, np.nan, np.nan]],
                        [[0.0, 1e-3, 1e-3], [0.0, 1e-3, 1e-3]]]])
    counts = rem.stalled_layers(recipe_dataset(update, {"mupc/pc": pc, "mupc/bp": pc}))
    assert np.isnan(counts.sel(variant="pc")), "diverged: NaN, never 0"
    assert counts.sel(variant="bp") == 1
    assert rem.stalled_text(xr.DataArray([53, 53, 53])) == "53"
    assert rem.stalled_text(xr.DataArray([45, 43, np.nan]), lower_bound=True) == "≥ 43–45"
    assert rem.stalled_text(xr.DataArray([np.nan, np.nan])) == "n/a"


# ------------------------------------------------------------------------------ pipeline


def run_profile(profile) -> xr.Dataset:
    figure = FIGURES["remedies_vs_depth"]
    runner = Runner()
    results = runner({k: s for k, s in figure.sweeps(profile).items()})
    return figure.data(profile, results)


@pytest.fixture(scope="module")
def tiny(monkeypatch_module):
    return run_profile(TINY)


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PCDIAG_DATA", str(DATA))
        yield mp


def check_data_and_drawing(ds: xr.Dataset, profile: RemedyProfile) -> None:
    assert dict(ds.sizes)["recipe"] == 2 and list(ds["variant"].values) == ["pc", "remedy", "bp"]
    assert list(ds["depth"].values) == list(profile.depths)
    assert list(ds["inference_steps"].values) == list(profile.depths)  # T = depth
    assert json.loads(ds.attrs["remedy_profile"])["depths"] == list(profile.depths)
    assert set(json.loads(ds.attrs["sweep"])) == {"recipe", "variant", "depth", "seed"}
    assert list(ds["gamma_grid"].values) == list(profile.gammas)
    check_selection(ds)
    assert ds["description"].sel(recipe="mupc", variant="remedy").item() == "μPC"
    assert ds["stalled_layers"].dims == ("recipe", "variant", "depth", "seed")
    assert int(ds["stalled_layers"].max()) <= max(profile.depths)
    for name in rem.SETTING_FIELDS:  # each line's own settings, for pcdiag.measures
        assert ds[name].dims == ("recipe", "variant")
    fig = rem.plot_remedies_vs_depth(ds)
    for ax, recipe in zip(fig.axes, ds["recipe"].values):
        mean = ds["test_accuracy"].isel(epoch=-1).sel(recipe=recipe).mean("seed")
        lines = [ln for ln in ax.get_lines() if not ln.get_label().startswith("_")]
        part = ds.sel(recipe=recipe)
        dashed = [v for v in ("pc", "remedy")
                  if np.isfinite(part["recipe_test_accuracy"].sel(variant=v)).any()]
        assert [ln.get_label() for ln in lines] == list(part["description"].values) + [
            rem.recipe_label(part, v) for v in dashed]
        for line, variant in zip(lines, ds["variant"].values):  # the mean line is the data's
            np.testing.assert_allclose(line.get_ydata(), mean.sel(variant=variant).values,
                                       rtol=1e-6)
        for line, variant in zip(lines[3:], dashed):  # the recipe's step, dashed
            assert line.get_linestyle() == "--"
            np.testing.assert_allclose(
                line.get_ydata(), part["recipe_test_accuracy"].sel(variant=variant).mean(
                    "seed").values, rtol=1e-6)
        counts = ds["stalled_layers"].sel(recipe=recipe, variant="pc")
        low = bool(rem.lower_bound(ds).sel(recipe=recipe, variant="pc"))
        ticks = [t.get_text() for t in ax.get_xticklabels()]
        assert ticks == [f"{int(d)}\n{rem.stalled_text(counts.sel(depth=d), low)}"
                         for d in ds["depth"].values]


def check_selection(ds: xr.Dataset) -> None:
    """Each inference line's test accuracy is its runs' at the step its median validation
    accuracy picked (among steps with every seed ok), the recipe's step is kept beside it,
    BP has none, and the paired differences are the seeds' own."""
    grid = ds["step_validation_accuracy"]
    acc = ds["test_accuracy"].isel(epoch=-1)
    for recipe in ds["recipe"].values:
        for depth in ds["depth"].values:
            for variant in ("pc", "remedy"):
                at = dict(recipe=recipe, variant=variant, depth=depth)
                chosen = float(ds["selected_gamma"].sel(at))
                assert chosen in ds["gamma_grid"].values
                if ds["selection_all_ok"].sel(at):  # the best median among the kept steps
                    median = grid.sel(at).median("seed")
                    assert float(median.sel(gamma_grid=chosen)) == float(median.max())
                if chosen == rem.RECIPE_GAMMA:  # then the solid and dashed lines coincide
                    np.testing.assert_array_equal(
                        acc.sel(at).values, ds["recipe_test_accuracy"].sel(at).values)
                    np.testing.assert_array_equal(
                        ds["run_status"].sel(at).values, ds["recipe_run_status"].sel(at).values)
            bp = dict(recipe=recipe, variant="bp", depth=depth)
            assert np.isnan(float(ds["selected_gamma"].sel(bp)))
            assert np.isnan(ds["recipe_test_accuracy"].sel(bp).values).all()
            for comparison, (first, second) in rem.COMPARISONS.items():
                diff = (acc.sel(recipe=recipe, variant=first, depth=depth)
                        - acc.sel(recipe=recipe, variant=second, depth=depth))
                got = ds.sel(recipe=recipe, comparison=comparison, depth=depth)
                np.testing.assert_allclose(float(got["difference"]), float(diff.mean()),
                                           rtol=1e-12, atol=1e-12)
                if ds.sizes["seed"] > 1 and float(diff.std()) > 0:
                    assert float(got["difference_low"]) <= float(diff.mean()) <= float(
                        got["difference_high"])


def test_the_recipe_lines_mark_their_own_failed_runs_once():
    """Depth 8: the recipe's step is the selected one (the solid line marks its runs); depth
    16: another step was selected, and 2 of 3 runs at the recipe's step are
    inference_unstable, 1 diverged: the dashed line marks them, and the legend counts them
    among the runs drawn (3 lines x 2 depths x 3 seeds, plus PC's 3 recipe runs at 16)."""
    dims = ("variant", "depth", "seed")
    coords = {"variant": ["pc", "remedy", "bp"], "depth": [8, 16], "seed": [0, 1, 2]}
    flags = np.zeros((3, 2, 3))
    flags[0, 0] = [2, 2, 2]  # at the selected step: not the dashed line's to mark
    flags[0, 1] = [2, 2, 1]
    flags[2] = np.nan  # BP: no recipe step
    part = xr.Dataset({
        "recipe_run_status": (dims, flags),
        "selected_gamma": (("variant", "depth"), [[rem.RECIPE_GAMMA, 2.0],
                                                  [rem.RECIPE_GAMMA, rem.RECIPE_GAMMA],
                                                  [np.nan, np.nan]]),
        "test_accuracy": ((*dims, "epoch"), np.full((3, 2, 3, 1), 0.5))}, coords=coords)
    failed = rem.recipe_failures(part, "pc")
    assert failed["inference_unstable"].values.tolist() == [0, 2]
    assert failed["diverged"].values.tolist() == [0, 1]
    assert failed["collapsed"].values.tolist() == [0, 0]
    assert rem.recipe_failures(part, "remedy")["inference_unstable"].sum() == 0
    assert rem.drawn_runs(part) == 18 + 3


def test_differences_are_paired_t_intervals():
    """Two seeds whose differences are 0.1 and 0.3: mean 0.2, the 95% t interval with one
    degree of freedom 0.2 +- 12.706 * 0.1 (sd of the differences 0.1414 / sqrt 2)."""
    acc = xr.DataArray(
        np.zeros((1, 3, 1, 2)), dims=("recipe", "variant", "depth", "seed"),
        coords={"recipe": ["mupc"], "variant": ["pc", "remedy", "bp"], "depth": [8],
                "seed": [0, 1]})
    acc.loc[dict(variant="remedy")] = [[[0.6, 0.9]]]
    acc.loc[dict(variant="pc")] = [[[0.5, 0.6]]]
    acc.loc[dict(variant="bp")] = [[[0.6, 0.9]]]
    d = rem.differences(acc).sel(recipe="mupc", depth=8)
    np.testing.assert_allclose(float(d["difference"].sel(comparison="remedy-pc")), 0.2)
    half = 12.7062047 * 0.1
    np.testing.assert_allclose(float(d["difference_low"].sel(comparison="remedy-pc")),
                               0.2 - half, rtol=1e-6)
    assert float(d["difference"].sel(comparison="remedy-bp")) == 0  # equal seeds: no interval
    assert np.isnan(float(d["difference_low"].sel(comparison="remedy-bp")))
    assert "within seed noise" in rem.difference_text(d.sel(comparison="remedy-pc"))


def test_a_grid_without_a_validation_split_is_refused():
    with pytest.raises(ValueError, match=r"validation_size=0 with 2 steps; a step is chosen "
                                         r"on a validation split: set validation_size >= 1"):
        RemedyProfile(name="x", description="x", train_limit=128, test_limit=200, seeds=(0,),
                      depths=(3,), mupc_width=8, epc_width=8, log_every=1, gammas=(0.5, 4.0))
    with pytest.raises(ValueError, match=r"gammas=\(1.0, 4.0\) must contain the recipes' "
                                         r"step 0.5"):
        RemedyProfile(name="x", description="x", train_limit=128, test_limit=200, seeds=(0,),
                      depths=(3,), mupc_width=8, epc_width=8, log_every=1, gammas=(1.0, 4.0),
                      validation_size=100)


@pytest.mark.slow  # trains the tiny remedies profile
def test_tiny_profile_data_and_drawing_agree(tiny):
    check_data_and_drawing(tiny, TINY)
    text = rem.summary_remedies_vs_depth(tiny)
    assert "μPC recipe" in text and "ePC recipe" in text
    caption = rem.caption_remedies_vs_depth(tiny)
    assert "examples/mupc.ipynb" in caption and "local_scaled" in caption


@pytest.mark.slow  # the quick profile trains 12 programs (~2 min)
def test_quick_profile_data_and_drawing_agree(monkeypatch_module):
    check_data_and_drawing(run_profile("quick"), REMEDY_PROFILES["quick"])


@pytest.mark.skipif(not COMMITTED.is_file(), reason="no committed figure data")
def test_committed_recipe_lines_mark_the_failures_the_readme_names():
    ds = pcdiag.open_dataset(COMMITTED)
    part = ds.sel(recipe="epc")
    pc, epc = rem.recipe_failures(part, "pc"), rem.recipe_failures(part, "remedy")
    assert int(pc["collapsed"].sel(depth=8)) == 3 and int(pc["collapsed"].sum()) == 3
    assert int(epc["collapsed"].sel(depth=16)) == 1 and int(epc["collapsed"].sum()) == 1
    assert all(int(f[k].sum()) == 0 for f in (pc, epc) for k in ("diverged", "inference_unstable"))
    mupc = ds.sel(recipe="mupc")
    assert all(int(rem.recipe_failures(mupc, v).to_array().sum()) == 0 for v in ("pc", "remedy"))
    text = (COMMITTED.parent / "README.md").read_text()
    assert "PC's 3 of 3\nruns at L = 8 and ePC's 1 of 3 at L = 16, collapsed" in text


@pytest.mark.skipif(not COMMITTED.is_file(), reason="no committed figure data")
def test_committed_summary_states_the_data():
    """Each summary cell's mean, min and max are the seeds' in the committed .nc."""
    ds = pcdiag.open_dataset(COMMITTED)
    text = rem.summary_remedies_vs_depth(ds)
    acc = ds["test_accuracy"].isel(epoch=-1)
    for recipe in ds["recipe"].values:
        for variant in ds["variant"].values:
            for depth in ds["depth"].values:
                a = acc.sel(recipe=recipe, variant=variant, depth=depth)
                cell = (f"{int(depth)}: {short_number(float(a.mean()))} "
                        f"[{short_number(float(a.min()))}, "
                        f"{short_number(float(a.max()))}]")
                assert cell in text, (cell, text)
