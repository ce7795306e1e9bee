"""pcdiag table1 (formerly pcdiag benchmark): the recipes are PCX's and ship inside pcdiag, the
statistics are PCX's (best epoch, ddof-0 std, top 5 of 7) plus a paired comparison, and a tiny
CLI run writes the table, the Dataset and resumes from its store."""

import os
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

import pcdiag
from pcdiag.cli import main
from pcdiag.table1 import RECIPES_DIR, RecipeError, available, load_recipe
from pcdiag.table1 import recipe as recipe_module
from pcdiag.table1.runner import pairs
from pcdiag.table1.stats import compare, summarise

DATA = Path(
    os.environ.get("PCDIAG_DATA") or Path(__file__).resolve().parents[2] / "shared" / "data"
)
CELLS = ("pc-se", "pc-ce", "pc-pn", "pc-nn", "pc-cn", "ipc", "bp-se", "bp-ce")


def test_every_mlp_cell_has_a_recipe_that_cites_its_pcx_file():
    names = available()
    for data in ("fmnist", "mnist"):
        for cell in CELLS:
            assert f"mlp-{data}-{cell}" in names
    for name in (n for n in names if n.startswith("mlp-")):  # ae-*: test_benchmark_generative
        recipe = load_recipe(name)
        assert recipe.name == name
        for key in ("source", "script"):
            assert recipe.meta[key].startswith("https://github.com/liukidar/pcx/blob/")
        assert "/examples/s4_1_discriminative_mode/" in recipe.meta["source"]
        c = recipe.config
        assert (c.depth, c.width, c.batch_size, c.epochs, c.normalisation) == (
            4, 128, 128, 25, "pcx")
        assert c.lr_schedule == "warmup_cosine"
        per_step = c.inference_steps if c.algorithm == "ipc" else 1
        assert (c.lr_warmup_steps, c.lr_decay_steps) == (1170 * per_step, 11700 * per_step)


def test_the_recipes_are_package_data_read_through_importlib_resources():
    assert RECIPES_DIR == Path(pcdiag.__file__).parent / "table1" / "recipes"
    assert available() == sorted(p.stem for p in RECIPES_DIR.glob("*.toml"))


def test_list_prints_every_recipe_under_the_new_and_the_old_name(capsys):
    assert main(["table1", "--list"]) == 0
    listed = capsys.readouterr()
    assert listed.out.split() == available() and listed.err == ""
    assert main(["benchmark", "--list"]) == 0  # the old name, kept for one release
    old = capsys.readouterr()
    assert old.out == listed.out
    assert old.err.strip() == ("pcdiag: note: 'pcdiag benchmark' is now 'pcdiag table1'; the old "
                               "name goes in pcdiag 0.2")


def test_no_recipes_is_an_error_never_an_empty_list(tmp_path, monkeypatch, capsys):
    assert main(["table1", "--list", "--recipes-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"pcdiag: error: recipes folder {tmp_path} (--recipes-dir): no "
                          "NAME.toml file in it; give a folder of NAME.toml recipes")
    monkeypatch.setattr(recipe_module, "RECIPES_DIR", tmp_path / "gone")
    with pytest.raises(RecipeError, match=r"pcdiag's Table 1 recipes are missing: .*gone: no "
                                          r"such folder .*reinstall pcdiag"):
        available()
    assert main(["table1", "--list"]) == 2
    assert "pcdiag's Table 1 recipes are missing" in capsys.readouterr().err
    with pytest.raises(RecipeError, match=r"recipe 'nope': no file .*nope.toml; known recipes: "
                                          r"ae-fmnist-bp, "):
        load_recipe("nope", RECIPES_DIR)


def test_the_old_module_path_is_the_same_modules():
    with pytest.warns(DeprecationWarning, match="pcdiag.benchmark is now pcdiag.table1"):
        import sys

        sys.modules.pop("pcdiag.benchmark", None)
        import pcdiag.benchmark
    from pcdiag.benchmark.recipes import load_recipe as old_load_recipe
    from pcdiag.benchmark.runner import run

    assert old_load_recipe is load_recipe and pcdiag.benchmark.run is run
    assert pcdiag.benchmark.available() == available()


def test_pc_se_fashion_mnist_recipe_is_pcx_l_pc_se_fmnist():
    c = load_recipe("mlp-fmnist-pc-se").config
    assert (c.algorithm, c.output_energy, c.activation, c.inference_steps) == (
        "pc", "se", "gelu_tanh", 5)
    assert (c.state_optimizer, c.gamma, c.state_momentum, c.gamma_convention) == (
        "momentum", 0.026070879231635192, 0.1, "per_sample")
    assert (c.weight_optimizer, c.weight_lr, c.weight_decay) == (
        "adamw", 0.0002972210629627541, 0.0018383293983087593)
    assert c.nudging == "off"
    nn = load_recipe("mlp-fmnist-pc-nn").config
    assert (nn.nudging, nn.nudge_beta, nn.nudge_beta_step) == ("negative", 0.9, 0.02)


def test_statistics_follow_pcx_seed_py():
    acc = np.array([[0.5, 0.9, 0.8], [0.6, 0.7, 0.95], [0.1, 0.2, 0.3], [0.4, np.nan, np.nan],
                    [0.85, 0.8, 0.8], [0.7, 0.75, 0.72], [0.9, 0.91, 0.9]])
    s = summarise(acc, np.array([-1, -1, -1, 3, -1, -1, -1]))
    best = np.array([0.9, 0.95, 0.3, 0.4, 0.85, 0.75, 0.91])
    assert s.best_mean == pytest.approx(best.mean())
    assert s.best_std == pytest.approx(np.std(best))  # ddof 0, as PCX
    assert s.top5_mean == pytest.approx(np.sort(best)[2:].mean())
    assert s.diverged == 1 and np.isnan(s.last_mean)

    pc = np.array([0.895, 0.893, 0.897, 0.894, 0.896, 0.892, 0.898])
    c = compare("pc", pc, "bp", pc - 0.01 + np.array([0, 1, -1, 0, 1, -1, 0]) * 1e-4)
    assert c.mean_difference == pytest.approx(0.01) and c.ci_low > 0 and c.verdict == "PC higher"
    noise = compare("pc", pc, "bp", pc[::-1])
    assert noise.ci_low < 0 < noise.ci_high and noise.verdict == "within seed noise"


def test_pairs_match_pc_with_bp_of_the_same_loss_and_model():
    recipes = [load_recipe(n) for n in ("mlp-fmnist-pc-se", "mlp-fmnist-pc-ce", "mlp-fmnist-bp-se",
                                        "mlp-fmnist-bp-ce", "mlp-mnist-bp-se")]
    found = {(a.name, b.name) for a, b in pairs(recipes)}
    assert found == {("mlp-fmnist-pc-se", "mlp-fmnist-bp-se"),
                     ("mlp-fmnist-pc-ce", "mlp-fmnist-bp-ce")}


@pytest.mark.slow  # two benchmark runs through the CLI (~15 s)
def test_cli_runs_a_tiny_benchmark_and_resumes(tmp_path, capsys):
    out = tmp_path / "table1"
    argv = ["table1", "--recipes", "mlp-fmnist-pc-se,mlp-fmnist-bp-se", "--seeds", "3",
            "--out", str(out), "--set", "train_limit=384", "--set", "test_limit=300",
            "--set", "epochs=2", "--set", f"data_dir={DATA}"]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "estimate" in text
    table = (out / "table.md").read_text()
    assert "MLP / Fashion-MNIST / PC-SE" in table and "MLP / Fashion-MNIST / BP-SE" in table
    assert "mlp-fmnist-pc-se | mlp-fmnist-bp-se" in (out / "comparisons.md").read_text()
    assert r"\begin{tabular}" in (out / "table.tex").read_text()
    ds = xr.open_dataset(out / "benchmark.nc", engine="h5netcdf").load()
    assert dict(ds.test_accuracy.sizes) == {"recipe": 2, "seed": 3, "epoch": 2}
    np.testing.assert_array_equal(ds.best_test_accuracy, ds.test_accuracy.max("epoch"))
    assert np.isfinite(ds.energy_tT.sel(recipe="mlp-fmnist-pc-se")).all()
    assert np.isnan(ds.energy_tT.sel(recipe="mlp-fmnist-bp-se")).all()
    assert (ds.seconds_per_seed > 0).all()
    before = (out / "table.md").read_text()
    assert main(argv) == 0  # finished recipes come from the store: same table
    assert (out / "table.md").read_text() == before
