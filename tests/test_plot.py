"""pcdiag.plot on Datasets with known numbers: what is drawn is what the Dataset says."""

import json
import subprocess
import sys

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import xarray as xr  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

import pcdiag.plot as pplot  # noqa: E402
from pcdiag import Config, status, validate  # noqa: E402
from pcdiag.dataset import build  # noqa: E402
from pcdiag.plot.styling import ALGORITHM_STYLE  # noqa: E402
from pcdiag.records import energy_ratio  # noqa: E402

STEP_DIMS = {
    "energy": ("step", "t", "layer"),
    "state_grad_norm": ("step", "t", "layer"),
    "weight_grad_norm": ("step", "layer"),
    "weight_norm": ("step", "layer"),
    "update_norm": ("step", "layer"),
    "train_loss": ("step",),
    "train_accuracy": ("epoch",),
    "test_accuracy": ("epoch",),
}


def synthetic(config: Config | None = None, rng_seed: int = 0, **axes) -> xr.Dataset:
    """A pcdiag Dataset (through dataset.build) with random but known numbers.

    Energies: hidden layers 0 at t = 0 and growing with t, lower layers orders of magnitude
    below the output layer; accuracies in (0.1, 0.9).
    """
    config = config or Config(train_limit=640, test_limit=100, epochs=2)
    rng = np.random.default_rng(rng_seed)
    lead = tuple(len(v) for v in axes.values())
    n_step, n_t, depth = config.steps_per_epoch * config.epochs, config.inference_steps + 1, \
        config.depth
    sizes = {"step": n_step, "t": n_t, "layer": depth, "epoch": config.epochs}
    records = {}
    for name, dims in STEP_DIMS.items():
        records[name] = rng.uniform(0.1, 0.9, lead + tuple(sizes[d] for d in dims)).astype(
            np.float32)
    scale = 10.0 ** (3 * (np.arange(depth) - depth + 1))  # 1e-6, 1e-3, 1 for depth 3
    energy = records["energy"] * scale
    energy[..., 0, :-1] = 0.0  # forward initialisation: hidden energies 0 at t = 0
    records["energy"] = energy.astype(np.float32)
    if config.hessian_samples:  # the inference-Hessian probe's records (lambda_max in 2-4)
        for name in ("hessian_condition", "hessian_lambda_max"):
            records[name] = rng.uniform(2.0, 4.0, lead + (n_step,)).astype(np.float32)
    records["diverged_at"] = np.full(lead, -1, np.int64)
    records["step"] = np.arange(n_step)
    records["epoch_of_step"] = np.repeat(np.arange(1, config.epochs + 1), config.steps_per_epoch)
    ds = build(records, config, {k: list(v) for k, v in axes.items()})
    # random numbers are no run's history: call every run ok (tests set failures by hand)
    ds["run_status"][...] = status.OK
    ds["run_status_step"][...] = -1
    return ds


pytestmark = pytest.mark.usefixtures("clean_plot_state")  # tests/conftest.py


def axes() -> plt.Axes:
    """An Axes on a Figure pyplot does not track (so nothing can be left open)."""
    return Figure().subplots()


def lines_with_data(ax):
    return [line for line in ax.get_lines() if len(line.get_xdata()) > 1]


def test_energy_per_layer_over_step():
    ds = synthetic(seed=[0, 1])
    ax = pplot.energy_per_layer(ds, axes(), over="step")
    lines = lines_with_data(ax)
    assert len(lines) == 3
    expected = ds["energy"].mean("seed").isel(t=-1)
    for layer, line in zip(ds["layer"].values, lines):
        np.testing.assert_allclose(line.get_xdata(), ds["step"].values)
        np.testing.assert_allclose(line.get_ydata(), expected.sel(layer=layer).values, rtol=1e-6)
    assert ax.get_yscale() == "log"
    assert ax.get_xlabel() == "training step"
    assert ax.get_ylabel() == "layer energy"
    assert "per-sample" in ax.get_label(), "the convention: the Axes label (the caption says it)"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "layer 3 (output)", "layer 2", "layer 1"]


def test_energy_per_layer_over_t_hides_zeros():
    ds = synthetic()
    ax = pplot.energy_per_layer(ds, axes(), over="t", final=0.5)
    lines = lines_with_data(ax)
    n = ds.sizes["step"]
    expected = ds["energy"].isel(step=slice(n - n // 2, n)).mean("step")
    np.testing.assert_allclose(lines[2].get_ydata(), expected.sel(layer=3).values, rtol=1e-6)
    np.testing.assert_allclose(lines[0].get_xdata(), ds["t"].values)
    assert np.isnan(lines[0].get_ydata()[0]), "a zero energy must not be drawn on a log axis"
    np.testing.assert_allclose(lines[0].get_ydata()[1:], expected.sel(layer=1).values[1:],
                               rtol=1e-6)
    assert ax.get_xlabel() == "inference iteration"


def test_labels_come_from_attrs():
    ds = synthetic(gamma=[0.01, 0.1])
    ds["energy"].attrs.update(long_name="free energy of the layer", units="nats")
    ds["test_accuracy"].attrs["long_name"] = "held-out accuracy"
    ds["gamma"].attrs["long_name"] = "state learning rate"
    ax = pplot.energy_per_layer(ds.sel(gamma=0.1), axes())
    assert ax.get_ylabel() == "free energy of the layer [nats]"
    ax = pplot.accuracy_vs_gamma(ds, axes())
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("state learning rate", "held-out accuracy")


def test_energy_ratio_vs_gamma():
    ds = synthetic(weight_optimizer=["momentum", "adamw"], gamma=[1e-3, 1e-2, 0.1],
                   seed=[0, 1])
    ax = pplot.energy_ratio_vs_gamma(ds, axes(), final=0.25)
    assert (ax.get_xscale(), ax.get_yscale()) == ("log", "log")
    guides = sorted(line.get_ydata()[0] for line in ax.get_lines()
                    if len(set(line.get_ydata())) == 1 and len(line.get_xdata()) == 2)
    assert guides == [1e-2, 1.0, 1e2]
    lines = [line for line in lines_with_data(ax) if len(line.get_xdata()) == 3]
    assert len(lines) == 4  # 2 layer pairs x 2 optimizers
    n = ds.sizes["step"]
    final = ds["energy_ratio"].isel(step=slice(n - round(n * 0.25), n), t=-1)
    expected = final.sel(weight_optimizer="momentum", layer=1).median(["seed", "step"])
    np.testing.assert_allclose(lines[0].get_xdata(), ds["gamma"].values)
    np.testing.assert_allclose(lines[0].get_ydata(), expected.values, rtol=1e-5)
    np.testing.assert_allclose(pplot.median_ratio(ds, 0.25).sel(
        weight_optimizer="momentum", layer=1), expected, rtol=1e-5)
    assert ax.get_ylabel() == r"energy ratio $E_\ell/E_{\ell+1}$"
    assert np.all(expected.values < 1e-2), "synthetic lower layers sit far below the upper"
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend[:2] == ["$E_{1}/E_{2}$", "$E_{2}/E_{3}$"]
    assert "weights: AdamW" in legend


def test_accuracy_vs_gamma_mean_spread_and_divergence():
    ds = synthetic(weight_optimizer=["momentum", "adamw"], gamma=[1e-3, 1e-2, 0.1, 1.0],
                   seed=[0, 1, 2])
    # adamw at gamma 1: seed 0 diverged (NaN accuracy), seeds 1 and 2 did not
    ds["diverged_at"].loc[{"weight_optimizer": "adamw", "gamma": 1.0, "seed": 0}] = 3
    ds["test_accuracy"].loc[{"weight_optimizer": "adamw", "gamma": 1.0, "seed": 0}] = np.nan
    ax = pplot.accuracy_vs_gamma(ds, axes())
    assert ax.get_xscale() == "log"
    assert ax.get_ylabel() == "test accuracy" and ax.get_xlabel() == "gamma"
    curves = [line for line in ax.get_lines() if len(line.get_xdata()) == 4]
    assert len(curves) == 2
    final = ds["test_accuracy"].isel(epoch=-1)
    for opt, line in zip(["momentum", "adamw"], curves):
        np.testing.assert_allclose(line.get_ydata(),
                                   final.sel(weight_optimizer=opt).mean("seed").values, rtol=1e-6)
    assert np.isfinite(curves[1].get_ydata()[-1]), "the mean skips the diverged seed"
    markers = [line for line in ax.get_lines() if line.get_marker() == "x"]
    assert len(markers) == 1
    np.testing.assert_allclose(markers[0].get_xdata(), [1.0])
    assert len(ax.collections) == 2  # one min-max band per optimizer
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == ["PC test accuracy", "weights: SGD with momentum", "weights: AdamW",
                      "diverged: 1 of 24 runs"]
    # optimizers by line style, in the algorithm's colour (pcdiag.plot.styling)
    assert [line.get_linestyle() for line in curves] == ["-", "--"]
    assert {line.get_color() for line in curves} == {ALGORITHM_STYLE["pc"]["color"]}


def test_accuracy_vs_gamma_all_seeds_diverged_marked_at_chance():
    ds = synthetic(gamma=[0.1, 1.0], seed=[0, 1])
    ds["diverged_at"].loc[{"gamma": 1.0}] = 0
    ds["test_accuracy"].loc[{"gamma": 1.0}] = np.nan
    ax = pplot.accuracy_vs_gamma(ds, axes())
    marker = next(line for line in ax.get_lines() if line.get_marker() == "x")
    np.testing.assert_allclose(marker.get_ydata(), [0.1])


def by_width() -> xr.Dataset:
    return synthetic(algorithm=["pc", "bp"], weight_optimizer=["momentum", "adamw"],
                     width=[32, 128], gamma=[0.01, 0.1, 1.0], seed=[0])


def test_accuracy_vs_gamma_by_width_panels():
    ds = by_width()
    ax_list = pplot.accuracy_vs_gamma_by_width(ds, Figure().subplots(1, 2))
    assert len(ax_list) == 2
    final = ds["test_accuracy"].isel(epoch=-1, seed=0)
    for ax, (title, sel, _) in zip(ax_list, pplot.WIDTH_PANELS):
        assert ax.get_title(loc="left").startswith(title)
        assert ax.get_xscale() == "log"
        curves = [line for line in ax.get_lines() if len(line.get_xdata()) == 3]
        np.testing.assert_allclose(curves[0].get_ydata(), final.sel(sel).sel(width=32).values)
        # BP (no gamma): a band over widths, seeds (and gamma), same weight optimizer
        bp = final.sel(algorithm="bp", weight_optimizer=sel["weight_optimizer"])
        band = ax.patches[-1].get_bbox()  # x in Axes units, y in data units
        np.testing.assert_allclose([band.y0, band.y1], [bp.min(), bp.max()], rtol=1e-6)
        mean = next(line for line in ax.get_lines() if line.get_linestyle() == "--")
        np.testing.assert_allclose(mean.get_ydata(), [float(bp.mean())] * 2, rtol=1e-6)
    assert ax_list[0].get_ylabel() == "test accuracy"
    assert ax_list[0].get_ylim() == ax_list[1].get_ylim()  # one range for both panels
    legend = ax_list[1].get_legend()
    assert legend.get_title().get_text() == "width"
    assert legend.get_texts()[-1].get_text() == "BP (all widths)"


def test_collapsed_runs_are_marked_not_stretched_into_the_axis():
    ds = synthetic(gamma=[1e-3, 1e-2, 0.1, 1.0], seed=[0, 1, 2])
    acc = np.array([[0.80, 0.81, 0.79], [0.84, 0.83, 0.85], [0.82, 0.82, 0.81],
                    [0.16, 0.17, 0.15]])
    ds["test_accuracy"][:] = acc[..., None]
    ax = pplot.accuracy_vs_gamma(ds, axes())
    bottom, top = ax.get_ylim()
    # healthy range 0.79-0.85; the collapsed gamma = 1 (mean 0.16) is not in it
    assert 0.5 < bottom < 0.79 and 0.85 < top < 0.9
    marker = next(line for line in ax.get_lines() if line.get_marker() == "v")
    np.testing.assert_allclose(marker.get_xdata(), [1.0])
    np.testing.assert_allclose(marker.get_ydata(), [bottom])
    assert [t.get_text() for t in ax.texts] == ["below axis: acc 0.15–0.17"]  # its seeds
    # every seed is drawn as a dot (3 seeds x 4 gammas)
    dots = next(line for line in ax.get_lines() if line.get_alpha() == 0.55)
    np.testing.assert_allclose(np.sort(dots.get_ydata()), np.sort(acc.ravel()), rtol=1e-6)
    # one collapsed seed at a healthy mean is marked too, not clipped silently
    ds["test_accuracy"].loc[{"gamma": 1e-2, "seed": 2}] = 0.2
    ax = pplot.accuracy_vs_gamma(ds, axes())
    marker = next(line for line in ax.get_lines() if line.get_marker() == "v")
    np.testing.assert_allclose(marker.get_xdata(), [1e-2, 1.0])
    assert [t.get_text() for t in ax.texts] == ["below axis: acc 0.15–0.20"]


def test_ax_none_creates_and_returns_an_axes():
    ds = synthetic(gamma=[0.01, 0.1])
    ax = pplot.accuracy_vs_gamma(ds)
    assert ax.figure is not None and lines_with_data(ax)
    plt.close(ax.figure)


def test_style_is_a_context_only():
    before = dict(matplotlib.rcParams)
    with pplot.style():
        assert matplotlib.rcParams["axes.spines.top"] is False
        ax = pplot.energy_per_layer(synthetic(), axes())
    assert ax.get_lines()
    assert str(dict(matplotlib.rcParams)) == str(before)


def test_style_keeps_what_pyplot_switched_on_inside():
    """pyplot turns `interactive` on in Jupyter when the first figure is made; style() must not
    roll that back (rc_context would, and inline figures would stop showing)."""
    was = matplotlib.is_interactive()
    try:
        matplotlib.interactive(False)
        with pplot.style():
            matplotlib.interactive(True)
        assert matplotlib.is_interactive()
    finally:
        matplotlib.interactive(was)


@pytest.mark.slow  # a fresh interpreter importing matplotlib and pcdiag (~7 s)
def test_import_changes_no_rcparams():
    code = (
        "import json, matplotlib; before = {k: str(v) for k, v in matplotlib.rcParams.items()};"
        "import pcdiag, pcdiag.plot, pcdiag.figures;"
        "after = {k: str(v) for k, v in matplotlib.rcParams.items()};"
        "print(json.dumps(sorted(k for k in before if before[k] != after[k])))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []


def test_validated_dataset_round_trip_plots(tmp_path):
    import pcdiag

    ds = validate(synthetic(gamma=[0.01, 0.1]))
    pcdiag.save(ds, tmp_path / "s.nc")
    back = pcdiag.open_dataset(tmp_path / "s.nc")
    ax = pplot.accuracy_vs_gamma(back, axes())
    assert lines_with_data(ax)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda ds: pplot.energy_per_layer(ds, axes(), over="epoch"),
         "over='epoch'.*'step' or 't'"),
        (lambda ds: pplot.energy_per_layer(ds, axes()),
         r"select one value first.*ds.sel\(gamma=0.01\)"),
        (lambda ds: pplot.energy_per_layer(ds.isel(gamma=0), axes(), over="t", final=0),
         "final=0.*fraction"),
        (lambda ds: pplot.accuracy_vs_gamma(ds.isel(gamma=0), axes()),
         "needs the sweep dim.*gamma"),
        (lambda ds: pplot.energy_ratio_vs_gamma(ds.drop_vars(["energy", "energy_ratio"]), axes()),
         "record_inference=True"),
    ],
)
def test_bad_input_is_named(call, message):
    ds = synthetic(gamma=[0.01, 0.1])
    with pytest.raises(ValueError, match=message):
        call(ds)


def test_by_width_missing_panel_is_named():
    ds = by_width().sel(algorithm=["bp"])
    with pytest.raises(ValueError, match="panel 'PC, SGD with momentum .weights.' needs "
                                         "algorithm='pc'"):
        pplot.accuracy_vs_gamma_by_width(ds, Figure().subplots(1, 2))



def test_failed_runs_are_marked_and_counted():
    """Unstable and collapsed runs get their own hollow markers and legend counts."""
    ds = synthetic(weight_optimizer=["momentum", "adamw"], gamma=[1e-3, 1e-2, 0.1, 1.0],
                   seed=[0, 1])
    ds["run_status"].loc[{"weight_optimizer": "adamw", "gamma": 1.0}] = status.UNSTABLE
    ds["run_status"].loc[{"weight_optimizer": "momentum", "gamma": 0.1, "seed": 1}] = \
        status.COLLAPSED
    ax = pplot.accuracy_vs_gamma(ds, axes())
    diamonds = [line for line in ax.get_lines() if line.get_marker() == "D"]
    squares = [line for line in ax.get_lines() if line.get_marker() == "s"]
    assert len(diamonds) == 1 and len(squares) == 1
    assert diamonds[0].get_markerfacecolor() == "none"
    np.testing.assert_allclose(diamonds[0].get_xdata(), [1.0])
    np.testing.assert_allclose(squares[0].get_xdata(), [0.1])
    mean = ds["test_accuracy"].isel(epoch=-1).mean("seed")
    np.testing.assert_allclose(squares[0].get_ydata(),
                               [float(mean.sel(weight_optimizer="momentum", gamma=0.1))])
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend[-2:] == ["inference unstable: 2 of 16 runs", "collapsed: 1 of 16 runs"]


def test_accuracy_vs_depth_marks_failed_runs():
    ds = synthetic(depth=[2, 3], seed=[0, 1])
    ds["run_status"].loc[{"depth": 3, "seed": 0}] = status.COLLAPSED
    ax = pplot.accuracy_vs_depth(ds, axes())
    squares = [line for line in ax.get_lines() if line.get_marker() == "s"]
    assert len(squares) == 1 and list(squares[0].get_xdata()) == [3]
    assert "collapsed: 1 of 4 runs" in [t.get_text() for t in ax.get_legend().get_texts()]


def test_energy_ratio_zeros_are_drawn_at_a_floor_and_counted():
    """Exact zeros (E_l = 0) are samples: in the median, and drawn on the floor."""
    ds = synthetic(gamma=[1e-2, 0.1, 1.0], seed=[0, 1])
    n = ds.sizes["step"]
    final = slice(n - round(n * 0.25), n)
    # gamma 1: every sample of E1/E2 is 0 (median 0); gamma 0.1: 3 of the final steps of
    # seed 0 are 0 (median still positive)
    energy = ds["energy"].values.copy()
    g1, g01 = 2, 1
    energy[g1, :, final, -1, 0] = 0.0
    energy[g01, 0, n - 3:, -1, 0] = 0.0
    ds["energy"].values[...] = energy
    ds["energy_ratio"].values[...] = energy_ratio(energy)
    raw = ds["energy_ratio"].isel(step=final, t=-1, layer=0)
    n_zero = int((raw == 0).sum())
    assert n_zero == 2 * round(n * 0.25) + 3
    ax = pplot.energy_ratio_vs_gamma(ds, axes(), final=0.25)
    floor = ax.get_ylim()[0] * 2
    triangles = [line for line in ax.get_lines() if line.get_marker() == "v"]
    assert len(triangles) == 1  # the E1/E2 pair, at the gammas with zero samples
    np.testing.assert_allclose(triangles[0].get_xdata(), [0.1, 1.0])
    np.testing.assert_allclose(triangles[0].get_ydata(), [floor, floor])
    curve = next(line for line in ax.get_lines()
                 if line.get_label() == "$E_{1}/E_{2}$")
    median = raw.median(["seed", "step"]).values  # over ALL samples, zeros included
    assert median[g1] == 0 and median[g01] > 0
    np.testing.assert_allclose(curve.get_ydata(), np.where(median > 0, median, floor),
                               rtol=1e-6)
    np.testing.assert_allclose(pplot.median_ratio(ds, 0.25).sel(layer=1), median, rtol=1e-6)
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert f"ratio 0 (at the floor {floor:.0e}): {n_zero} of {raw.size * 2} samples" in legend
    assert floor < np.nanmin(np.where(median > 0, median, np.nan))


def test_energy_ratio_names_the_runs_that_are_not_ok():
    ds = synthetic(gamma=[1e-2, 0.1, 1.0], seed=[0, 1])
    ds["run_status"].loc[{"gamma": 1.0}] = status.UNSTABLE
    ax = pplot.energy_ratio_vs_gamma(ds, axes())
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "inference unstable: 2 of 6 runs (at the bottom edge, not in the line)" in legend
    # the failed runs are left out of the lines (the axis fits the healthy ones) and marked
    # on the bottom edge at their gamma
    curve = next(line for line in ax.get_lines() if line.get_label() == "$E_{1}/E_{2}$")
    assert np.isnan(curve.get_ydata()[-1]) and np.isfinite(curve.get_ydata()[:2]).all()
    edge = [line for line in ax.get_lines() if line.get_label().endswith("_at_edge")]
    assert len(edge) == 1 and list(edge[0].get_xdata()) == [1.0]
    assert list(edge[0].get_ydata()) == [0.0] and edge[0].get_marker() == "D"


def test_by_width_legend_counts_the_failures_of_every_panel():
    """Only the last panel keeps a legend: it must still count the other panels' failures."""
    ds = by_width()
    ds["run_status"].loc[{"algorithm": "pc", "weight_optimizer": "momentum", "gamma": 1.0}] = \
        status.COLLAPSED
    ax_list = pplot.accuracy_vs_gamma_by_width(ds, Figure().subplots(1, 2))
    squares = [line for line in ax_list[0].get_lines() if line.get_marker() == "s"]
    assert len(squares) == 2  # one per width, at gamma 1
    legend = [t.get_text() for t in ax_list[1].get_legend().get_texts()]
    # panels: PC momentum (6 runs), PC adamw (6); BP is a reference band, not counted
    assert legend[-1] == "collapsed: 2 of 12 runs"
    assert ax_list[1].get_legend().get_title().get_text() == "width"
