"""Conv-network figures: data, plots and summaries on hand-made sweep Datasets (known numbers),
the profiles and their cost, and (slow tier: pytest --slow) a reduced real run.

Every conv program compiles for 10-60 s on 2 cores, so the fast tests feed the figures' data
functions hand-made sweep results (tests/test_plot.synthetic, through dataset.build) and check
that what is drawn is exactly what the data say.
"""

import json
import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from test_plot import synthetic  # noqa: E402

import pcdiag  # noqa: E402
from pcdiag import Config, figures, measures  # noqa: E402
from pcdiag.figures import cost as cost_model  # noqa: E402
from pcdiag.figures.conv import accuracy as cacc  # noqa: E402
from pcdiag.figures.conv import energy as cenergy  # noqa: E402
from pcdiag.figures.conv import profile as cp  # noqa: E402
from pcdiag.figures.conv import ratio as cratio  # noqa: E402
from pcdiag.plot.energy import zero_floor  # noqa: E402
from pcdiag.plot.styling import ALGORITHM_STYLE, panel_title  # noqa: E402
from pcdiag.table1.stats import paired_interval  # noqa: E402

NAMES = ("accuracy_vs_depth_conv", "energy_propagation_conv", "energy_ratio_vs_gamma_conv")
REAL = Path(
    os.environ.get("PCDIAG_DATA") or Path(__file__).resolve().parents[2] / "shared" / "data"
).resolve()

pytestmark = pytest.mark.usefixtures("clean_plot_state")  # tests/conftest.py

TINY = cp.ConvProfile(
    name="tiny", description="test size", dataset="fashion-mnist", train_limit=256,
    test_limit=200, epochs=1, seeds=(0, 1), width=4, resnet_width=4, gammas=(0.01, 0.1),
    gamma_seeds=(0,), log_every=1, nets=("vgg5", "resnet10", "vgg9"), algorithms=("pc", "bp"),
)


def family_result(c, algorithm, net, rng_seed):
    """A hand-made sweep like family_spec's: depth x seed, layers padded to the deepest."""
    depths = c.families()[net]
    config = c.base(net).replace(algorithm=algorithm, depth=max(depths))
    ds = synthetic(config, rng_seed=rng_seed, depth=list(depths), seed=list(c.seeds))
    for d in depths:  # layers past a net's own depth are NaN, as in a real depth sweep
        for name in ds.data_vars:
            if "layer" in ds[name].dims:
                ds[name].loc[{"depth": d, "layer": slice(d + 1, None)}] = np.nan
    return ds


def results_of(c):
    out, i = {}, 0
    for key in {**cp.accuracy_specs(c), **cp.energy_specs(c)}:
        if key not in out:
            alg, net = key.split("-")
            out[key] = family_result(c, alg, net, i)
            i += 1
    return out


def gamma_result(c, rng_seed=7):
    return synthetic(c.base("vgg"), rng_seed=rng_seed, gamma=list(c.gammas),
                     seed=list(c.gamma_seeds))


# --------------------------------------------------------------------------- registry, profiles


def test_registered_with_sweeps_shared_and_brief_settings():
    for name in NAMES:
        assert name in figures.FIGURES
    specs = cp.accuracy_specs("default")
    assert set(specs) == {f"{a}-{n}" for a in ("pc", "bp") for n in ("vgg", "resnet")}
    paper = cp.accuracy_specs("paper")
    assert set(paper) == {f"{a}-{n}" for a in ("pc", "ipc", "epc", "bp")
                          for n in ("vgg", "resnet")}
    assert dict(specs["pc-vgg"].axes)["depth"] == (5, 7, 9)
    assert dict(specs["pc-resnet"].axes)["depth"] == (6, 10)
    cfg = specs["pc-vgg"].config
    assert (cfg.activation, cfg.batch_size, cfg.inference_steps, cfg.gamma,
            cfg.state_optimizer, cfg.state_momentum, cfg.weight_lr, cfg.weight_decay) == (
        "gelu", 32, 8, 0.015, "momentum", 0.05, 1e-3, 1.2e-5)
    # the heatmaps reuse figure 1's pc sweeps; the deepest default net is ResNet-18
    energy = cp.energy_specs("default")
    assert set(energy.values()) <= set(specs.values())
    assert cp.CONV_PROFILES["default"].deepest == "resnet18"
    assert cp.CONV_PROFILES["default"].ordered_nets == (
        "vgg5", "resnet10", "vgg7", "vgg9", "resnet18")
    assert cp.CONV_PROFILES["paper"].dataset == "cifar-10"
    assert cp.CONV_PROFILES["paper"].width == 128


def test_estimates_price_the_conv_sweeps():
    seconds, text = figures.estimate("default", only=NAMES)
    assert "conv-bp-resnet" in text and "conv-pc-vgg5-gamma" in text
    quick, _ = figures.estimate("quick", only=NAMES)
    assert 0 < quick < seconds < figures.estimate("paper", only=NAMES)[0], text


def test_conv_macs_by_hand():
    # VGG-5, width 4, 1 channel in: 32^2*9*1*4 + 16^2*9*4*8 + 8^2*9*8*16 + 4^2*9*16*16,
    # then the linear node on the 2 x 2 x 16 map
    cfg = Config(net="vgg", depth=5, width=4)
    expected = 1024 * 36 + 256 * 288 + 64 * 1152 + 16 * 2304 + 4 * 16 * 10
    assert cost_model.conv_macs(cfg) == expected
    # ResNet-10, width 4: stem, then a block per stage (two 3x3 convs, 1x1 shortcut where
    # the shape changes), linear on the 32 channels
    res = Config(net="resnet", depth=6, width=4, activation="relu")
    blocks = (1024 * 9 * (16 + 16) + 256 * 9 * (32 + 64) + 256 * 32
              + 64 * 9 * (128 + 256) + 64 * 128 + 16 * 9 * (512 + 1024) + 16 * 512)
    assert cost_model.conv_macs(res) == 1024 * 9 * 4 + blocks + 32 * 10
    with pytest.raises(ValueError, match="net='mlp' is not a conv net"):
        cost_model.conv_macs(Config())


def test_bad_profiles_and_inputs_are_refused_with_their_reason():
    with pytest.raises(figures.FigureError, match="unknown profile 'huge'; known "
                                                  "profiles: quick, default, long, paper"):
        cp.conv_profile("huge")
    with pytest.raises(figures.FigureError, match="expected a profile name"):
        cp.conv_profile(3)
    fields = {**TINY.as_dict()}
    with pytest.raises(ValueError, match=r"unknown network\(s\) \['vgg11'\]"):
        cp.ConvProfile(**{**fields, "nets": ("vgg5", "vgg11")})
    with pytest.raises(ValueError, match="must include 'pc'"):
        cp.ConvProfile(**{**fields, "algorithms": ("bp",)})
    with pytest.raises(ValueError, match="must include 'vgg5'"):
        cp.ConvProfile(**{**fields, "nets": ("vgg9",)})
    ds = gamma_result(TINY).drop_vars(["energy_ratio", "energy", "energy_total",
                                       "state_grad_norm", "t"])
    with pytest.raises(figures.FigureError, match="needs the per-iteration variable "
                                                  "'energy_ratio'"):
        cratio.ratio_medians(ds)
    # a custom analysis Profile keeps quick's networks with its own data and seeds
    custom = figures.Profile(name="mine", description="x", train_limit=300, test_limit=100,
                             epochs=1, gammas=(0.1,), seeds=(0, 1), width=64, widths=(64,))
    c = cp.conv_profile(custom)
    assert (c.train_limit, c.seeds, c.nets) == (300, (0, 1), ("vgg5", "vgg9"))


# --------------------------------------------------------------------------- the figures' data


def test_accuracy_data_and_plot_show_every_seed_and_their_mean():
    results = results_of(TINY)
    ds = cacc.accuracy_data(TINY, results)
    assert list(ds["network"].values) == ["vgg5", "resnet10", "vgg9"]
    assert list(ds["depth"].values) == [5, 6, 9] and list(ds["net"].values) == [
        "vgg", "resnet", "vgg"]
    assert list(ds["algorithm"].values) == ["pc", "bp"]
    assert json.loads(ds.attrs["sweep"]) == {"network": ["vgg5", "resnet10", "vgg9"],
                                             "algorithm": ["pc", "bp"], "seed": [0, 1]}
    # the data hold the sweeps' own numbers
    raw = results["pc-resnet"]["test_accuracy"].sel(depth=6).isel(epoch=-1)
    np.testing.assert_array_equal(
        ds["test_accuracy"].sel(algorithm="pc", network="resnet10").isel(epoch=-1), raw)
    assert np.isnan(ds["weight_norm"].sel(network="vgg5", layer=6)).all()
    pcdiag.validate(ds)
    update = ds["update_norm"].copy()
    update.loc[{"algorithm": "pc", "network": "vgg9", "layer": [1, 2]}] = 0.0  # stalled
    update.loc[{"algorithm": "pc", "network": "vgg9", "layer": 3, "seed": 1}] = 0.0
    ds["update_norm"] = update
    fig = cacc.plot_accuracy_vs_depth_conv(ds)
    ax = fig.axes[0]
    colour_of = {}
    for line in ax.get_lines():
        if line.get_marker() == "_":  # the mean (a family of one network: a lone marker)
            colour_of.setdefault(line.get_color(), []).append(line)
    mean = ds["test_accuracy"].isel(epoch=-1).mean("seed")
    drawn_means = {}
    for lines in colour_of.values():
        for line in lines:
            for x, y in zip(line.get_xdata(), line.get_ydata()):
                drawn_means[(lines[0].get_color(), int(round(x)))] = y
    # each algorithm's mean line passes through the mean over seeds of the raw accuracy
    colours = [c for c in colour_of]
    assert len(colours) == 2
    for colour, alg in zip(colours, ["pc", "bp"]):
        for j, key in enumerate(ds["network"].values):
            np.testing.assert_allclose(drawn_means[(colour, j)],
                                       float(mean.sel(algorithm=alg, network=key)), rtol=1e-6)
    # every seed is a point, in its algorithm's marker (pcdiag.plot.styling.ALGORITHM_STYLE)
    seed_markers = {ALGORITHM_STYLE[str(a)]["marker"] for a in ds["algorithm"].values}
    points = [line for line in ax.get_lines() if line.get_linestyle() == "None"
              and line.get_marker() in seed_markers and line.get_alpha() == 0.8]
    assert len(points) == 2 * 2
    ys = sorted(np.concatenate([p.get_ydata() for p in points]))
    np.testing.assert_allclose(ys, sorted(ds["test_accuracy"].isel(epoch=-1).values.ravel()))
    labels = [t.get_text() for t in ax.get_xticklabels()]
    # AdamW and no per-t energies here: the stalled count is a lower bound ('≥')
    assert labels == ["VGG-5\nL = 5\nPC stalled: ≥ 0", "ResNet-10\nL = 6\nPC stalled: ≥ 0",
                      "VGG-9\nL = 9\nPC stalled: ≥ 2–3"], "stalled: min-max over the seeds"
    np.testing.assert_array_equal(
        measures.stalled_layers(ds.sel(algorithm="pc", network="vgg9")).values, [2, 3])
    text = cacc.summary_accuracy_vs_depth_conv(ds)
    assert "BP - PC" in text and "ResNet-10" in text
    assert plt.get_fignums() == []


#: TINY with the long profile's design: T = L, PC and iPC screened on the first seed, iPC on
#: VGG-5 only.
SCREENED = cp.ConvProfile(**{**TINY.as_dict(), "seeds": (0, 1, 2), "algorithms": ("pc", "ipc",
                                                                                  "bp"),
                             "inference_steps": 0, "validation_size": 100,
                             "screen_gammas": (0.01, 0.1, 0.3), "ipc_nets": ("vgg5",),
                             "nets": ("vgg5", "resnet10"), "gammas": (0.01, 0.1),
                             "gamma_seeds": (0,)})


def with_validation(ds):
    """A synthetic sweep with the validation accuracy a validation_size config records."""
    ds["validation_accuracy"] = ds["test_accuracy"].copy()
    ds["validation_accuracy"].attrs["long_name"] = "validation accuracy"
    return ds


def screened_results(c):
    """Screens whose validation accuracy peaks at γ = 0.3 for a run that collapsed and at
    0.1 among the ok ones; then the other seeds at the chosen step."""
    out = {}
    for i, (key, spec) in enumerate(cp.accuracy_specs(c).items()):
        if key.endswith("-screen"):
            ds = with_validation(synthetic(spec.config, rng_seed=i,
                                           gamma=list(c.screen_gammas), seed=[0]))
            val = ds["validation_accuracy"]
            val[...] = 0.5
            val.loc[{"gamma": 0.1}] = 0.7
            val.loc[{"gamma": 0.3}] = 0.9
            ds["run_status"].loc[{"gamma": 0.3}] = 3  # collapsed: never chosen
            ds["run_status_step"].loc[{"gamma": 0.3}] = 0
            out[key] = ds
        else:
            alg, net = key.split("-")
            out[key] = with_validation(family_result(c, alg, net, i))
    for i, (key, spec) in enumerate(cp.accuracy_followups(c, out).items()):
        out[key] = with_validation(synthetic(spec.config, rng_seed=50 + i, seed=[1, 2]))
    return out


def test_screened_steps_choose_on_validation_and_the_other_seeds_run_the_choice():
    c = SCREENED
    assert [s.config.inference_steps for s in cp.accuracy_specs(c).values()
            if s.config.algorithm != "bp"] == [5, 6, 5], "T = L for each network"
    estimate = cp.accuracy_followups(c, None)
    assert {k: s.config.gamma for k, s in estimate.items()} == {
        "pc-vgg5": 0.01, "pc-resnet10": 0.01, "ipc-vgg5": 0.01}, "the estimate's stand-in"
    results = screened_results(c)
    later = cp.accuracy_followups(c, results)
    assert {k: (s.config.gamma, dict(s.axes)["seed"]) for k, s in later.items()} == {
        k: (0.1, (1, 2)) for k in ("pc-vgg5", "pc-resnet10", "ipc-vgg5")}
    ds = pcdiag.validate(cacc.accuracy_data(c, results))
    np.testing.assert_array_equal(ds["selected_gamma"].sel(algorithm="pc"), [0.1, 0.1])
    assert np.isnan(ds["selected_gamma"].sel(algorithm="bp")).all()
    acc = ds["test_accuracy"].isel(epoch=-1)
    screen = results["pc-resnet10-screen"]["test_accuracy"].isel(epoch=-1)
    np.testing.assert_array_equal(acc.sel(algorithm="pc", network="resnet10", seed=0),
                                  screen.sel(gamma=0.1, seed=0))
    rest = results["pc-resnet10"]["test_accuracy"].isel(epoch=-1)
    np.testing.assert_array_equal(acc.sel(algorithm="pc", network="resnet10", seed=[1, 2]),
                                  rest)
    # iPC does not run on ResNet-10: its cell says so, records NaN, never "ok"
    cell = ds.sel(algorithm="ipc", network="resnet10")
    assert (cell["run_status"] == cacc.NOT_RUN).all() and np.isnan(cell["test_accuracy"]).all()
    assert "not_run" in ds["run_status"].attrs["flag_meanings"]
    # selection_all_ok: 1 where a step was chosen with every seed ok, NaN where none was
    ok = ds["selection_all_ok"]
    assert float(ok.sel(algorithm="pc", network="vgg5")) == 1
    assert np.isnan(ok.sel(algorithm="ipc", network="resnet10"))
    assert np.isnan(ok.sel(algorithm="bp")).all() and "NaN where no step" in ok.attrs["comment"]
    # paired differences: PC - BP per network, by hand
    a = acc.sel(algorithm="pc", network="vgg5").values
    b = acc.sel(algorithm="bp", network="vgg5").values
    d = ds.sel(comparison="pc-bp", network="vgg5")
    mean, low, high, pairs = paired_interval(a, b)
    np.testing.assert_allclose([d["difference"], d["difference_low"], d["difference_high"]],
                               [mean, low, high])
    assert int(d["difference_pairs"]) == pairs == 3
    assert np.isnan(ds["difference"].sel(comparison="ipc-bp", network="resnet10"))
    assert "gamma_grid" in ds and np.isnan(
        ds["step_validation_accuracy"].sel(algorithm="pc", network="vgg5", seed=1)).all()
    caption = cacc.caption_accuracy_vs_depth_conv(ds).replace("\n", " ")
    assert "T = L" in caption and "iPC not run on ResNet-10" in caption
    assert "VGG-5 PC 0.1, iPC 0.1; ResNet-10 PC 0.1" in caption
    text = cacc.summary_accuracy_vs_depth_conv(ds)
    assert "pc-bp, paired over seeds" in text and "selected γ: VGG-5 PC 0.1" in text
    fig = cacc.plot_accuracy_vs_depth_conv(ds)
    labels = [t.get_text() for t in fig.axes[0].get_xticklabels()]
    assert labels[1].startswith("ResNet-10\nL = 6\nγ PC 0.1\n")
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert "iPC not run on ResNet-10" in legend and "collapsed: 0 of 15 runs" not in legend
    plt.close(fig)


def test_failed_runs_are_marked_counted_and_a_diverged_seed_left_out_of_the_mean():
    ds = cacc.accuracy_data(TINY, results_of(TINY))
    ds["test_accuracy"].loc[{"algorithm": "pc", "network": "vgg9", "seed": 1}] = np.nan
    ds["diverged_at"].loc[{"algorithm": "pc", "network": "vgg9", "seed": 1}] = 3
    ds["run_status"].loc[{"algorithm": "pc", "network": "vgg9", "seed": 1}] = 1
    ds["run_status"].loc[{"algorithm": "bp", "network": "vgg5", "seed": 0}] = 3
    points = cacc.accuracy_points(ds)
    pc9 = points.sel(algorithm="pc", network="vgg9")
    assert float(pc9["mean"]) == pytest.approx(
        float(ds["test_accuracy"].sel(algorithm="pc", network="vgg9", seed=0).isel(epoch=-1)))
    assert int(pc9["diverged"]) == 1 and int(points["diverged"].sum()) == 1
    assert int(points["collapsed"].sel(algorithm="bp", network="vgg5")) == 1
    fig = cacc.plot_accuracy_vs_depth_conv(ds)
    markers = [line.get_marker() for line in fig.axes[0].get_lines()]
    assert "x" in markers and "s" in markers
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    runs = ds["test_accuracy"].isel(epoch=-1).size
    assert f"diverged: 1 of {runs} runs" in legend and f"collapsed: 1 of {runs} runs" in legend
    text = cacc.summary_accuracy_vs_depth_conv(ds)
    assert "1 diverged" in text and "1 collapsed" in text


def test_energy_propagation_data_is_pc_on_vgg5_and_the_deepest_net():
    results = results_of(TINY)
    ds = cenergy.energy_data(TINY, results)
    assert list(ds["network"].values) == ["vgg5", "vgg9"]
    raw = results["pc-vgg"]["energy"].sel(depth=5, seed=0).isel(layer=slice(0, 5))
    np.testing.assert_array_equal(ds["energy"].sel(network="vgg5").isel(layer=slice(0, 5)),
                                  raw)
    assert np.isnan(ds["energy"].sel(network="vgg5", layer=9)).all()
    fig = cenergy.plot_energy_propagation_conv(ds)
    heat = [ax for ax in fig.axes if panel_title(ax)]
    assert [ax.get_ylim() for ax in heat] == [(0.5, 5.5), (0.5, 9.5)]
    assert [panel_title(ax) for ax in heat] == ["VGG-5", "VGG-9"]
    first = measures.reached_at(ds).sel(network="vgg5", layer=1).isel(step=-1)
    expected = (f"layer 1 first reached at t = {int(first)}" if np.isfinite(float(first))
                else "layer 1 not reached by T")
    text = cenergy.summary_energy_propagation_conv(ds)
    assert "VGG-5: " in text and expected in text.split("VGG-9")[0]
    reached = int(measures.layers_reached(ds).sel(network="vgg5"))
    assert f"{reached} of 5 nodes reached at t = T" in text
    panels = cenergy.conv_panels_text(ds)
    assert panels in cenergy.caption_energy_propagation_conv(ds)
    assert f"(a) PC, VGG-5 (L = 5), reached at T: {reached}/5, stalled: " in panels


def test_ratio_figure_draws_zero_and_nonfinite_medians_on_the_floor():
    ds = gamma_result(TINY)
    ratio = ds["energy_ratio"]
    # pair 1 at gamma 0.01: E_1 = 0 at t = T in every step -> ratio 0 (median 0)
    ratio.loc[{"gamma": 0.01, "layer": 1}] = np.where(
        ratio.sel(gamma=0.01, layer=1)["t"] == ratio["t"][-1], 0.0,
        ratio.sel(gamma=0.01, layer=1))
    # pair 2 at gamma 0.1: E_3 = 0 -> inf in every step (no finite sample)
    ratio.loc[{"gamma": 0.1, "layer": 2, "t": int(ratio["t"][-1])}] = np.inf
    numbers = cratio.ratio_medians(ds)
    steps = ds.sizes["step"]
    assert int(numbers["zero"].sel(gamma=0.01, layer=1)) == steps
    assert int(numbers["nonfinite"].sel(gamma=0.1, layer=2)) == steps
    assert bool(numbers["on_floor"].sel(gamma=0.01, layer=1))
    assert bool(numbers["on_floor"].sel(gamma=0.1, layer=2))
    assert int(numbers["on_floor"].sum()) == 2
    # an ordinary median is the median over steps and seeds of the raw ratio at t = T
    expected = np.median(ds["energy_ratio"].sel(gamma=0.1, layer=3).isel(t=-1).values)
    assert float(numbers["median"].sel(gamma=0.1, layer=3)) == pytest.approx(expected)
    fig = cratio.plot_energy_ratio_vs_gamma_conv(ds)
    ax = fig.axes[0]
    floor = zero_floor(numbers["median"])
    markers = [line for line in ax.get_lines() if line.get_marker() == "v"
               and len(line.get_xdata())]
    drawn = sorted((float(line.get_xdata()[0]), float(line.get_ydata()[0])) for line in markers)
    assert drawn == [(0.01, floor), (0.1, floor)]
    assert ax.get_ylim()[0] <= floor
    legend = [t.get_text() for legend in fig.legends for t in legend.get_texts()]
    total = int(numbers["samples"].sum())
    assert (f"median 0 or non-finite: 2 (samples 0: {steps}, non-finite: {steps}, of {total})"
            in legend)
    caption = cratio.caption_energy_ratio_vs_gamma_conv(ds).replace("\n", " ")
    assert f"{steps} exactly 0 and {steps} non-finite" in caption
    assert "2 median(s) are 0" in caption
    assert "medians on the floor: 2" in cratio.summary_energy_ratio_vs_gamma_conv(ds)


# --------------------------------------------------------------------------- a reduced real run


@pytest.mark.slow  # compiles several conv programs
@pytest.mark.skipif(not (REAL / "fashion-mnist").is_dir(), reason="Fashion-MNIST not found")
def test_reduced_run_writes_files_and_redraws_from_data(tmp_path, monkeypatch):
    monkeypatch.setenv("PCDIAG_DATA", str(REAL))
    tiny = cp.ConvProfile(**{**TINY.as_dict(), "nets": ("vgg5",), "seeds": (0,),
                                   "algorithms": ("pc",), "gammas": (0.01, 1.0)})
    monkeypatch.setitem(cp.CONV_PROFILES, "tiny", tiny)
    profile = figures.Profile(name="tiny", description="test size", train_limit=256,
                              test_limit=200, epochs=1, gammas=(0.1,), seeds=(0,), width=16,
                              widths=(16,))
    written = figures.make_figures(profile, only=",".join(NAMES), out=tmp_path, progress=False)
    assert [w.name for w in written] == list(NAMES)
    acc = pcdiag.open_dataset(tmp_path / "accuracy_vs_depth_conv.nc")
    assert acc["test_accuracy"].sel(network="vgg5", algorithm="pc").notnull().all()
    heat = pcdiag.open_dataset(tmp_path / "energy_propagation_conv.nc")
    # PC's front moves one node per step: node 1 of VGG-5 has no energy at t = 0..3
    e = heat["energy"].sel(network="vgg5")
    assert (e.sel(t=[0, 1, 2, 3], layer=1) == 0).all() and (e.sel(t=8, layer=1) > 0).all()
    monkeypatch.setattr(figures.SweepSpec, "run", lambda *a, **k: pytest.fail("trained"))
    figures.make_figures(profile, only=NAMES, out=tmp_path, from_data=True, progress=False)
    assert plt.get_fignums() == []


def test_conv_ratio_and_heatmap_plots_mark_failed_runs():
    """The committed data: run_status's failures get a marker and a legend count (ratio
    plot) and are named in the caption's panel list (heatmap), never drawn like healthy
    runs."""
    figures_dir = Path(__file__).resolve().parents[1] / "figures"
    ratio = pcdiag.open_dataset(figures_dir / "energy_ratio_vs_gamma_conv.nc").load()
    ratio["run_status"].loc[{"gamma": 0.01}] = 1  # diverged, for the test
    expected = pcdiag.plot.energy.failed_runs_note(ratio)
    assert expected.startswith("not ok: ") and "1 diverged" in expected
    fig = cratio.plot_energy_ratio_vs_gamma_conv(ratio)
    texts = [t.get_text() for t in fig.legends[0].get_texts()]
    assert expected in texts
    markers = {line.get_marker() for line in fig.axes[0].get_lines()
               if line.get_linestyle() == "None"}
    assert "x" in markers, "the diverged run's own marker"
    heat = pcdiag.open_dataset(figures_dir / "energy_propagation_conv.nc").load()
    heat["run_status"][:] = [0, 3]
    first, second = cenergy.conv_panels_text(heat).split("; (b) ")
    acc = float(heat["test_accuracy"].isel(network=1).values.ravel()[0])
    assert f", collapsed (acc {acc:.3f}), reached at T: " in second
    assert "collapsed" not in first
