"""PCX's generative benchmark (the linear decoder of section 4.2) as pcdiag.table1 recipes:
each recipe is its PCX YAML's defaults, the score is the task's test MSE (lower is better),
and a tiny run writes a table whose numbers are the Datasets' and paired comparisons in the
right direction, beside an untouched accuracy table when the run mixes both."""

import math
import re
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from scipy import stats as scipy_stats

from pcdiag.errors import BadInputError
from pcdiag.table1 import load_recipe, run
from pcdiag.table1.runner import by_score, report
from pcdiag.table1.score_table import all_pairs, score_of
from pcdiag.table1.stats import compare, summarise
from pcdiag.tasks import build_net
from tests._tiny import DATA

BASE = ("https://github.com/liukidar/pcx/blob/v0.6.1/examples/s4_2_generative_mode/"
        "autoencoders/linear/")
#: The `default` of each hyperparameter in configs/NAME at liukidar/pcx v0.6.1 (hp/act_fn,
#: hp/optim/x/lr, hp/optim/x/momentum, hp/optim/w/lr, hp/optim/w/wd), hard-coded so that the
#: test needs no copy of PCX. BP's act_fn is the YAML's but bp_decoder.py never applies it.
PCX = {
    "ae-fmnist-pc": ("pc_fashionmnist_adamw_hypertune.yaml", "fashion-mnist", "hard_tanh",
                     0.011910178174048628, 0.45, 0.0005149979608369072, 7.382135878282121e-05),
    "ae-fmnist-ipc": ("pc_ipc_fashionmnist_adamw_hypertune.yaml", "fashion-mnist", "gelu",
                      0.8817404084814103, 0.6, 5.5069228142951346e-05, 0.001899184326397372),
    "ae-fmnist-bp": ("bp_fashionmnist_adamw_hypertune.yaml", "fashion-mnist", "hard_tanh",
                     None, None, 0.0002966954107001767, 2.4774328846774532e-05),
    "ae-mnist-pc": ("pc_mnist_adamw_hypertune.yaml", "mnist", "hard_tanh",
                    0.019849750737164974, 0.15, 0.0003401383559476183, 1.2514685116492747e-05),
    "ae-mnist-ipc": ("pc_ipc_mnist_adamw_hypertune.yaml", "mnist", "hard_tanh",
                     0.1713068244354728, 0.05, 3.049212906900055e-05, 0.04476666954718263),
    "ae-mnist-bp": ("bp_mnist_adamw_hypertune.yaml", "mnist", "leaky_relu",
                    None, None, 0.00018427564772813813, 0.0007539917180560006),
}
#: PCX's activation names in pcdiag's: jax.nn.gelu's default is the tanh approximation.
ACTIVATION = {"gelu": "gelu_tanh", "hard_tanh": "hard_tanh", "leaky_relu": "leaky_relu"}


@pytest.mark.parametrize("name", sorted(PCX))
def test_each_recipe_is_its_pcx_yaml_defaults(name):
    yaml, dataset, act, x_lr, x_momentum, w_lr, w_wd = PCX[name]
    recipe = load_recipe(name)
    c, algorithm = recipe.config, name.rsplit("-", 1)[1]
    assert recipe.meta["source"] == BASE + "configs/" + yaml
    script = "bp" if algorithm == "bp" else "pc"
    assert recipe.meta["script"] == f"{BASE}{script}_decoder.py"
    assert recipe.meta["evaluation"] == f"{BASE}{script}_hypertune.py"
    assert recipe.meta["pcx_epochs"] == 30
    assert any("seeds 0..6" in note and "lowest test MSE" in note for note in recipe.meta["notes"])
    # layer_dims [64, 128, 128, 784], batch 200, 30 epochs, pixels x / 255, linear output
    assert (c.task, c.dataset, c.net, c.latent_size, c.depth, c.width) == (
        "generation", dataset, "mlp", 64, 3, 128)
    assert (c.batch_size, c.epochs, c.normalisation, c.output_energy) == (200, 30, "unit", "se")
    assert (c.algorithm, c.weight_optimizer, c.weight_lr, c.weight_decay) == (
        algorithm, "adamw", w_lr, w_wd)
    assert score_of(recipe).name == "mse" and not score_of(recipe).higher_is_better
    net = build_net(c)
    if algorithm == "bp":  # BPDecoder: Linear layers over 784-128-128-64-128-128-784, no act_fn
        assert c.activation == "linear"
        assert any(f"YAML default {act}" in note and "392" not in note
                   for note in recipe.meta["notes"])
        assert any("392" in note for note in recipe.meta["notes"])
        sizes = tuple(net.encoder.sizes) + tuple(net.decoder.sizes[1:])
        assert sizes == (784, 128, 128, 64, 128, 128, 784)
        return
    assert c.activation == ACTIVATION[act]
    assert tuple(net.sizes) == (64, 128, 128, 784)
    # T = 20 steps of optax.sgd(lr, momentum) on each sample's energy (scale_by_batch_size)
    assert (c.inference_steps, c.gamma, c.state_momentum) == (20, x_lr, x_momentum)
    assert (c.state_optimizer, c.gamma_convention) == ("momentum", "per_sample")


def test_pairs_are_pc_bp_ipc_bp_pc_ipc_and_one_table_takes_one_score():
    recipes = [load_recipe(n) for n in sorted(PCX)]
    found = [(a.name, b.name) for a, b in all_pairs(recipes)]
    assert found == [("ae-fmnist-pc", "ae-fmnist-bp"), ("ae-mnist-pc", "ae-mnist-bp"),
                     ("ae-fmnist-ipc", "ae-fmnist-bp"), ("ae-mnist-ipc", "ae-mnist-bp"),
                     ("ae-fmnist-pc", "ae-fmnist-ipc"), ("ae-mnist-pc", "ae-mnist-ipc")]
    mixed = [load_recipe("mlp-fmnist-pc-se"), recipes[0]]
    with pytest.raises(BadInputError, match=r"recipes of different scores in one table "
                       r"\(mlp-fmnist-pc-se \(accuracy\), ae-fmnist-bp \(mse\)\); one table "
                       r"takes one score: group them with by_score"):
        report(mixed, {}, {}, None)


def test_lower_is_better_statistics_follow_pcx_hypertune():
    mse = np.array([[0.05, 0.02, 0.03], [0.04, 0.03, 0.025], [0.09, 0.08, 0.07],
                    [0.03, np.nan, np.nan], [0.021, 0.022, 0.02], [0.06, 0.05, 0.055],
                    [0.024, 0.023, 0.026]])
    s = summarise(mse, np.array([-1, -1, -1, 1, -1, -1, -1]), higher_is_better=False)
    best = np.array([0.02, 0.025, 0.07, 0.03, 0.02, 0.05, 0.023])  # min over finite epochs
    assert s.best_mean == pytest.approx(best.mean()) and s.best_std == pytest.approx(best.std())
    assert s.top5_mean == pytest.approx(np.sort(best)[:5].mean())  # PCX's avg5: five lowest
    assert s.diverged == 1 and math.isnan(s.last_mean)
    pc = np.array([0.0150, 0.0152, 0.0149, 0.0151, 0.0153])
    lower = compare("pc", pc, "bp", pc + 0.001 + np.array([0, 1, -1, 0, 1]) * 1e-5,
                    higher_is_better=False, labels=("PC", "BP"))
    assert lower.ci_high < 0 and lower.verdict == "PC better (lower)"
    higher = compare("ipc", pc + 0.001 + np.array([1, 0, 0, -1, 0]) * 1e-5, "bp", pc,
                     higher_is_better=False, labels=("iPC", "BP"))
    assert higher.verdict == "BP better (lower)"
    noise = compare("pc", pc, "ipc", pc[::-1], higher_is_better=False, labels=("PC", "iPC"))
    assert noise.ci_low < 0 < noise.ci_high and noise.verdict == "within seed noise"


def _pm(values: np.ndarray) -> str:
    return f"{1000 * values.mean():.2f} ± {1000 * values.std():.2f}"


@pytest.mark.slow
def test_a_mixed_run_writes_an_mse_table_of_the_datasets_numbers_and_an_accuracy_table(
        tmp_path):
    out = tmp_path / "bench"
    names = ["mlp-fmnist-pc-se", "ae-fmnist-pc", "ae-fmnist-bp"]
    result = run(names, seeds=2, out=out, progress=False, log=lambda *a: None,
                 data_dir=str(DATA), train_limit=400, test_limit=200, epochs=2)
    assert result.score == "accuracy" and [r.name for r in result.recipes] == [names[0]]
    (mse_result,) = result.others
    assert mse_result.score == "mse"
    table = (out / "table-mse.md").read_text()
    assert table.startswith("**Test MSE (x10^-3, lower is better) after 2 epochs (PCX: 30), "
                            "2 seeds**")
    best = {}
    for name in names[1:]:
        ds = xr.open_dataset(out / "runs" / f"{name}.nc", engine="h5netcdf").load()
        mse = ds.test_mse.transpose("seed", "epoch").values.astype(np.float64)
        best[name] = mse.min(axis=1)
        chance = float(ds.mean_image_mse[0])
        # the mean image's MSE is below the pooled pixel variance of Fashion-MNIST (std 0.353)
        assert 0.05 < chance < 0.353 ** 2
        cell = load_recipe(name).cell
        seconds = f"{mse_result.seconds_per_seed[name]:.0f}"
        row = (f"| {cell} | {_pm(best[name])} | {_pm(mse[:, -1])} | n/a | "
               f"{1000 * chance:.2f} | {seconds} |")
        assert row in table.splitlines()
    diff = best["ae-fmnist-pc"] - best["ae-fmnist-bp"]
    ci = scipy_stats.ttest_rel(best["ae-fmnist-pc"], best["ae-fmnist-bp"]).confidence_interval()
    verdict = ("within seed noise" if ci.low <= 0 <= ci.high else
               "PC better (lower)" if diff.mean() < 0 else "BP better (lower)")
    row = (f"| ae-fmnist-pc | ae-fmnist-bp | {1000 * diff.mean():+.3f} | "
           f"[{1000 * ci.low:+.3f}, {1000 * ci.high:+.3f}] |")
    compared = (out / "comparisons-mse.md").read_text()
    assert row in compared and compared.splitlines()[2].endswith(f"| {verdict} |")
    ds = xr.open_dataset(out / "benchmark-mse.nc", engine="h5netcdf").load()
    np.testing.assert_array_equal(ds.best_test_mse, ds.test_mse.min("epoch"))
    assert (ds.attrs["score"], ds.attrs["epochs"], ds.attrs["pcx_epochs"]) == (
        "test_mse", "2", "30")
    assert list(ds.layer.values) == [1, 2, 3, 4, 5, 6]  # bp's autoencoder: encoder, decoder
    assert np.isfinite(ds.energy_tT.sel(recipe="ae-fmnist-pc", layer=[1, 2, 3])).all()
    assert "test_accuracy" not in ds and "Linear decoder" not in (out / "table.md").read_text()
    # the accuracy table is the one a run of its recipe alone writes
    alone = tmp_path / "alone"
    alone.mkdir()
    runs = {names[0]: result.runs[names[0]]}
    report(result.recipes, runs, result.seconds_per_seed, alone, log=lambda *a: None)
    for file in ("table.md", "table.tex", "comparisons.md"):
        assert (alone / file).read_text() == (out / file).read_text()
    assert list(xr.open_dataset(out / "benchmark.nc", engine="h5netcdf").recipe.values) == [
        names[0]]
    assert by_score(result.recipes + mse_result.recipes).keys() == {
        "accuracy", "mse"}


def test_the_committed_generative_results_are_what_dev_table1_readme_says():
    """dev/table1/README.md's generative table, recomputed from the committed
    dev/table1/generative/benchmark-mse.nc (no training)."""


    root = Path(__file__).resolve().parents[1] / "dev" / "table1"
    ds = xr.open_dataset(root / "generative" / "benchmark-mse.nc").load()
    text = (root / "README.md").read_text().split("## Generative cells", 1)[1]
    names = {"Fashion-MNIST": "fmnist", "MNIST": "mnist"}
    rows = re.findall(r"\| (Fashion-MNIST|MNIST) / (PC|iPC|BP) \| ([\d.]+) ± ([\d.]+) \| "
                      r"([\d.]+) \|", text)
    assert len(rows) == 6
    for data, variant, mean, std, trivial in rows:
        recipe = f"ae-{names[data]}-{variant.lower()}"
        last = ds["last_test_mse"].sel(recipe=recipe).values * 1e3
        assert f"{last.mean():.2f}" == mean and f"{last.std():.2f}" == std, recipe
        assert f"{ds['mean_image_mse'].sel(recipe=recipe).values[0] * 1e3:.2f}" == trivial
        best = ds["best_epoch"].sel(recipe=recipe).values
        assert (best == 10).all() and int(ds.attrs["epochs"]) == 10  # "last = best epoch"
    first = ds["test_mse"].sel(recipe="ae-fmnist-ipc").isel(epoch=0).values
    assert f"{first.min():.0f}-{first.max():.0f}" == "714-3173"
    seed0 = ds["test_mse"].sel(recipe="ae-fmnist-pc", seed=0).values * 1e3
    assert f"{seed0[-2]:.2f} -> {seed0[-1]:.2f}" in text
