"""Deep-network figures: plot functions on hand-made Datasets, the registry, a reduced real run.

The plot tests build Datasets with known numbers (energies 10^-(L-l) once the front has
arrived, exactly 0 before it; relative updates falling a known number of decades per layer)
and check that what is drawn is what the Dataset says, and that every count drawn is
pcdiag.measures' (reached, stalled, the update profile's shape and rate).
"""

import json
import os
import time
from dataclasses import replace
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from test_plot import synthetic  # noqa: E402

import pcdiag  # noqa: E402
import pcdiag.plot as pplot  # noqa: E402
from pcdiag import Config, figures, measures  # noqa: E402
from pcdiag.figures import depth as depth_figures  # noqa: E402
from pcdiag.figures.depth import energy as depth_energy  # noqa: E402
from pcdiag.figures.depth import profile as profiles  # noqa: E402

NAMES = ("accuracy_vs_depth", "energy_propagation", "update_decay", "depth_gamma",
         "bp_alignment")
REAL = Path(
    os.environ.get("PCDIAG_DATA") or Path(__file__).resolve().parents[2] / "shared" / "data"
).resolve()


pytestmark = pytest.mark.usefixtures("clean_plot_state")  # tests/conftest.py


def axes():
    return Figure().subplots()


def curves(ax, n=None):
    lines = [line for line in ax.get_lines() if len(line.get_xdata()) > 1]
    return [line for line in lines if n is None or len(line.get_xdata()) == n]


# --------------------------------------------------------------------------- hand-made data


def front_energy(depth: int, n_t: int) -> np.ndarray:
    """(t, layer): 10^-(L-l) once the one-layer-per-step front has arrived (t >= L - l),
    exactly 0 before."""
    t = np.arange(n_t)[:, None]
    layer = np.arange(1, depth + 1)[None, :]
    return np.where(t >= depth - layer, 10.0 ** -(depth - layer), 0.0)


def heat_dataset(depth=4, steps=6, variants=("pc",)):
    config = Config(depth=depth, inference_steps=steps, train_limit=256, test_limit=100)
    ds = synthetic(config, variant=list(variants))
    energy = np.broadcast_to(front_energy(depth, steps + 1), ds["energy"].shape)
    ds = ds.assign(energy=ds["energy"].copy(data=energy.astype(np.float32)))
    ds["energy_total"] = ds["energy"].sum("layer").transpose(*ds["energy_total"].dims)
    return ds


def depth_dataset(depths=(2, 4), rate=0.5, seeds=(0, 1)):
    """A depth sweep: relative update 10^-(rate (L - l)) / 100, NaN past each run's depth;
    SGD-momentum weights without decay and no energies, so a layer learns exactly where its
    relative update exceeds float32 resolution (pcdiag.measures.learns)."""
    config = Config(depth=max(depths), inference_steps=4, train_limit=640, test_limit=100,
                    weight_optimizer="momentum", weight_decay=0.0)
    ds = synthetic(config, depth=list(depths), seed=list(seeds))
    ds = ds.drop_vars(["energy", "energy_total", "energy_ratio"])
    layer = ds["layer"]
    rel = 1e-2 * 10.0 ** (-rate * (ds["depth"] - layer))
    own = layer <= ds["depth"]
    weight = ds["weight_norm"].where(own)
    ds["weight_norm"] = weight
    ds["update_norm"] = (rel * weight).transpose(*weight.dims).astype(np.float32)
    cosine = 1 - 0.1 * (ds["depth"] - layer) / ds["depth"]
    ds["bp_cosine"] = cosine.broadcast_like(weight).where(own).transpose(*weight.dims)
    ds["bp_cosine"].attrs = {"long_name": "cosine with backprop gradient", "units": "1",
                             "comment": "hand-made"}
    return ds


# --------------------------------------------------------------------------- plot functions


def test_accuracy_vs_depth_mean_band_labels():
    config = Config(depth=8, train_limit=640, test_limit=100)
    ds = synthetic(config, variant=["pc", "bp"], depth=[2, 4, 8], seed=[0, 1, 2])
    ds = ds.assign_coords(description=("variant", ["PC, T = 16", "BP"]))
    ds["depth"].attrs["long_name"] = "depth L (weight layers)"
    ds["diverged_at"].loc[{"variant": "pc", "depth": 8, "seed": 0}] = 5
    ax = pplot.accuracy_vs_depth(ds, axes())
    lines = curves(ax, 3)
    assert len(lines) == 2
    final = ds["test_accuracy"].isel(epoch=-1)
    for name, line in zip(["pc", "bp"], lines):
        np.testing.assert_allclose(line.get_xdata(), [2, 4, 8])
        np.testing.assert_allclose(line.get_ydata(), final.sel(variant=name).mean("seed"),
                                   rtol=1e-6)
    assert ax.get_xscale() == "log"
    assert ax.get_xlabel() == "depth L (weight layers)" and ax.get_ylabel() == "test accuracy"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "PC, T = 16", "BP", "diverged: 1 of 18 runs"]
    assert len(ax.collections) == 2, "a min-max band per variant"
    assert "per-sample" in ax.get_label(), "the convention: the Axes label (the caption says it)"


def test_energy_heatmap_draws_log_energy_and_marks_zeros_not_reached():
    ds = heat_dataset().sel(variant="pc")
    ax = pplot.energy_heatmap(ds, axes())
    grey, mesh = ax.collections[:2]
    expected = np.log10(np.where(front_energy(4, 7) > 0, front_energy(4, 7), np.nan)).T
    drawn = np.ma.filled(mesh.get_array().astype(float), np.nan).reshape(expected.shape)
    np.testing.assert_allclose(drawn, expected, rtol=1e-5)
    zeros = ~np.ma.getmaskarray(grey.get_array()).reshape(expected.shape)
    np.testing.assert_array_equal(zeros, front_energy(4, 7).T == 0)
    assert zeros.sum() == 6, "hidden layers before the front: 3 + 2 + 1 cells"
    assert mesh.get_clim() == pytest.approx((-3, 0))
    assert ax.get_ylim()[0] < ax.get_ylim()[1], "layer 1 at the bottom"
    assert ax.get_xlabel() == "inference iteration"
    assert ax.get_ylabel().startswith("layer")
    guide = curves(ax)[0]
    np.testing.assert_allclose(guide.get_xdata(), [3, 2, 1, 0])  # t = L - l for l = 1..4


def test_energy_heatmap_greys_a_node_that_holds_only_its_initial_rounding():
    """A node holding 5e-16 from t = 0 on (float32 rounding carried by a shortcut, as in the
    collapsed ResNet-18 run) never rises above twice its t = 0 energy: not reached, drawn
    grey although its energy is positive; the node above it, reached at t = 1, is coloured
    from t = 1 on. pcdiag.measures.reached says the same cells."""
    ds = heat_dataset().sel(variant="pc")
    energy = ds["energy"].copy()
    energy.loc[{"layer": 1}] = np.float32(5e-16)
    ds["energy"] = energy
    ds["energy_total"] = ds["energy"].sum("layer").transpose(*ds["energy_total"].dims)
    ax = pplot.energy_heatmap(ds, axes())
    grey, mesh = ax.collections[:2]
    greyed = ~np.ma.getmaskarray(grey.get_array()).reshape(4, 7)
    coloured = ~np.ma.getmaskarray(mesh.get_array()).reshape(4, 7)
    assert greyed[0].all() and not coloured[0].any(), "layer 1: rounding only, every t"
    assert greyed[1, :2].all() and coloured[1, 2:].all(), "layer 2: reached at t = 2"
    reached = measures.reached(ds).isel(step=-1).transpose("layer", "t").values
    np.testing.assert_array_equal(greyed, reached == 0)


def test_energy_propagation_shares_one_colour_scale_and_crops_padding():
    ds = heat_dataset(variants=("pc", "epc"))
    ds["energy"].loc[{"variant": "epc"}] = ds["energy"].sel(variant="epc") * 1e-3
    ds["energy"].loc[{"variant": "epc", "t": [5, 6]}] = np.nan  # a shorter run: T = 4
    ds = ds.assign_coords(description=("variant", ["PC", "ePC"]))
    fig = Figure(layout="constrained")
    ax_list = pplot.energy_propagation(ds, fig.subplots(1, 2))
    meshes = [ax.collections[1] for ax in ax_list]
    assert meshes[0].get_clim() == meshes[1].get_clim() == pytest.approx((-6, 0))
    assert ax_list[1].get_xlim()[1] == pytest.approx(4.5), "t cut to the run's own T"
    assert [ax.get_title(loc="left").split("\n")[0] for ax in ax_list] == ["PC", "ePC"]
    assert len(fig.axes) == 3, "one shared colour bar"
    assert r"$\log_{10}$ layer energy" in fig.axes[-1].get_ylabel()
    assert [t.get_text() for t in fig.legends[0].get_texts()][0] == (
        "not reached (E at rounding or below 2^-24 F)")


def test_relative_update_vs_layer_draws_the_profile_and_rates_only_monotone_ones():
    ds = depth_dataset(rate=0.5)
    ax = pplot.relative_update_vs_layer(ds, axes())
    lines = curves(ax)
    assert len(lines) == 2 and ax.get_yscale() == "log"
    np.testing.assert_allclose(lines[1].get_ydata(), 1e-2 * 10.0 ** (-0.5 * (4 - np.arange(1, 5))),
                               rtol=1e-5)
    assert np.isnan(lines[0].get_ydata()[2:]).all(), "layers past a run's depth are not drawn"
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == ["L = 2: rising, 0.50 dec/layer", "L = 4: rising, 0.50 dec/layer"]
    profile = measures.update_profile(ds)
    np.testing.assert_allclose(profile["rate"].values, 0.5, rtol=1e-4)
    assert ax.get_ylabel() == "relative weight update"
    assert ax.get_xlabel().startswith("layer")


def test_a_u_shaped_update_profile_gets_its_shape_not_a_rate():
    """Layer 1 moving as fast as the output layer: the profile falls then rises, which a
    line through log10 does not describe, so no decay rate is given."""
    ds = depth_dataset(rate=0.5, seeds=(0,))
    ds["update_norm"].loc[{"depth": 4, "layer": 1}] = (
        1e-2 * ds["weight_norm"].sel(depth=4, layer=1))
    ax = pplot.relative_update_vs_layer(ds, axes())
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend[1] == "L = 4: U-shaped (no rate)"
    assert str(measures.update_profile(ds)["shape"].sel(depth=4, seed=0).values) == "u_shaped"


def test_relative_update_vs_layer_marks_stalled_layers_hollow_and_names_them():
    """Layers 1-2 of the depth-4 run move 1e-9 of their size per step, below float32
    resolution: stalled (pcdiag.measures.stalled), named in the legend and drawn hollow."""
    ds = depth_dataset(rate=0.5, seeds=(0,))
    ds["update_norm"].loc[{"depth": 4, "layer": [1, 2]}] = (
        1e-9 * ds["weight_norm"].sel(depth=4, layer=[1, 2]))
    ax = pplot.relative_update_vs_layer(ds, axes())
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend[1].startswith("L = 4: rising") and legend[1].endswith("; layers 1-2 stalled")
    assert legend[-1] == "hollow: stalled (learns at no logged step)"
    hollow = [line for line in ax.get_lines() if line.get_markerfacecolor() == "white"
              and len(line.get_xdata())]
    assert len(hollow) == 1 and list(hollow[0].get_xdata()) == [1, 2]
    assert float(measures.stalled_layers(ds).sel(depth=4, seed=0)) == 2


def test_bp_cosine_vs_layer_and_its_requirements():
    ds = depth_dataset()
    ax = pplot.bp_cosine_vs_layer(ds, axes())
    lines = curves(ax, 4)
    expected = ds["bp_cosine"].sel(depth=4).isel(step=-1, seed=0)
    np.testing.assert_allclose(lines[1].get_ydata(), expected.values, rtol=1e-6)
    assert ax.get_ylabel() == "cosine with backprop gradient"
    with pytest.raises(ValueError, match="needs the variable 'bp_cosine'.*bp_alignment=True"):
        pplot.bp_cosine_vs_layer(ds.drop_vars("bp_cosine"), axes())
    with pytest.raises(ValueError, match="cannot show the sweep dim"):
        pplot.energy_heatmap(heat_dataset(variants=("pc", "epc")), axes())


def test_stalled_vs_depth_draws_measures_count_and_no_count_for_a_diverged_run():
    """Seed 0 of the depth-4 run: layers 1-2 move below float32 resolution at every step
    (stalled: 2); seed 1: layer 3 (1), layer 1 only at one step (it learns at the others).
    A diverged run (NaN norms) has no count, not 0, and is left out of the mean."""
    ds = depth_dataset(seeds=(0, 1))
    tiny = 1e-9 * ds["weight_norm"]
    update = ds["update_norm"].copy()
    update.loc[{"depth": 4, "layer": [1, 2], "seed": 0}] = tiny.sel(depth=4, layer=[1, 2],
                                                                     seed=0)
    update.loc[{"depth": 4, "layer": 3, "seed": 1}] = tiny.sel(depth=4, layer=3, seed=1)
    update.loc[{"depth": 4, "layer": 1, "seed": 1, "step": 0}] = 0.0  # once: still learns
    ds["update_norm"] = update
    stalled = measures.stalled_layers(ds)
    np.testing.assert_array_equal(stalled.sel(depth=2).values, [0, 0])
    np.testing.assert_array_equal(stalled.sel(depth=4).values, [2, 1])
    ds["update_norm"].loc[{"depth": 2, "seed": 1, "step": 3}] = np.nan  # diverged
    assert np.isnan(measures.stalled_layers(ds).sel(depth=2, seed=1)), "no count, not 0"
    ax = pplot.stalled_vs_depth(ds.expand_dims(variant=["pc"]), axes())
    line = curves(ax, 2)[0]
    np.testing.assert_allclose(line.get_ydata(), [0, 1.5])  # mean over seeds; NaN skipped
    assert [t.get_text() for t in ax.texts] == ["1–2 of 4"]
    assert ax.get_ylabel() == "stalled layers\n(learn at no step)"


def test_stalled_count_is_a_lower_bound_for_adamw_without_energies():
    """AdamW's step does not shrink with the gradient, and without per-t energies
    pcdiag.measures.learns cannot tell a layer fed by rounding: the count is marked '≥'."""
    ds = depth_dataset(seeds=(0,))
    ds.attrs["config"] = json.dumps(json.loads(ds.attrs["config"]) | {
        "weight_optimizer": "adamw"})
    ds["update_norm"].loc[{"depth": 4, "layer": 1}] = 0.0
    assert bool(measures.stalled_lower_bound(ds).all())
    ax = pplot.stalled_vs_depth(ds.expand_dims(variant=["pc"]), axes())
    assert [t.get_text() for t in ax.texts] == ["≥ 1 of 4"]


def test_accuracy_heatmap_and_decay_rate_vs_gamma_draw_the_data():
    config = Config(depth=4, inference_steps=4, train_limit=640, test_limit=100,
                    weight_optimizer="momentum", weight_decay=0.0)
    ds = synthetic(config, depth=[2, 4], gamma=[0.03, 0.3], seed=[0, 1])
    ds = ds.drop_vars(["energy", "energy_total", "energy_ratio"])
    rate = {0.03: 0.5, 0.3: 0.2}
    rel = 1e-2 * 10.0 ** (-ds["gamma"].copy(data=[rate[0.03], rate[0.3]])
                          * (ds["depth"] - ds["layer"]))
    own = ds["layer"] <= ds["depth"]
    weight = ds["weight_norm"].where(own)
    ds["weight_norm"] = weight
    ds["update_norm"] = (rel * weight).transpose(*weight.dims).astype(np.float32)
    ds["weight_grad_norm"] = ds["weight_grad_norm"].where(own).transpose(*weight.dims)
    ds["update_norm"].loc[{"depth": 4, "gamma": 0.03, "layer": 1}] = 0.0  # stalled
    ds["diverged_at"].loc[{"depth": 4, "gamma": 0.3, "seed": 1}] = 2
    ax = pplot.accuracy_heatmap(ds, axes())
    mean = ds["test_accuracy"].isel(epoch=-1).mean("seed", skipna=True)
    drawn = np.ma.filled(ax.collections[0].get_array().astype(float), np.nan).reshape(2, 2)
    np.testing.assert_allclose(drawn, mean.transpose("depth", "gamma").values, rtol=1e-6)
    texts = [t.get_text() for t in ax.texts]
    assert texts[2].endswith("stalled:\n1") and texts[2].startswith(
        f"{float(mean.sel(depth=4, gamma=0.03)):.2f}")
    assert texts[3].endswith("1/2 diverged")
    assert sum(p.get_hatch() == "////" for p in ax.patches) == 1
    ax = pplot.decay_rate_vs_gamma(ds, axes())
    lines = [line for line in curves(ax, 2) if line.get_label().startswith("L = ")]
    profile = measures.update_profile(ds)
    # depth 2 at γ 0.3: 0.2 decades from layer 1 to 2, flat (no rate); depth 4: rising
    assert (profile["shape"].sel(depth=2, gamma=0.3) == "flat").all()
    np.testing.assert_allclose(lines[0].get_ydata(), [0.5, np.nan], rtol=1e-4)
    np.testing.assert_allclose(lines[1].get_ydata(),
                               profile["rate"].sel(depth=4).mean("seed"), rtol=1e-6)
    np.testing.assert_allclose(lines[1].get_ydata()[1], 0.2, rtol=1e-4)
    flat = [line for line in ax.get_lines() if line.get_marker() == "$-$"
            and len(line.get_xdata())]
    assert len(flat) == 1 and flat[0].get_xdata()[0] == pytest.approx(0.3, rel=0.2)
    assert "no rate" in [t.get_text() for t in ax.get_yticklabels()]
    assert "flat profile: no rate" in [t.get_text() for t in ax.get_legend().get_texts()]
    assert ax.get_xscale() == "log"


def test_bp_cosine_legend_names_layers_without_gradient():
    ds = depth_dataset(seeds=(0,))
    ds["weight_grad_norm"] = ds["weight_grad_norm"].where(ds["layer"] <= ds["depth"])
    ds["weight_grad_norm"].loc[{"depth": 4, "layer": [1, 2]}] = 0.0
    ds["bp_cosine"].loc[{"depth": 4, "layer": [1, 2]}] = np.nan
    ax = pplot.bp_cosine_vs_layer(ds, axes())
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "L = 2", "L = 4 (layers 1-2: no gradient)"]


def test_ax_none_makes_a_figure_the_caller_owns():
    ax = pplot.energy_heatmap(heat_dataset().sel(variant="pc"))
    assert plt.get_fignums() == [ax.get_figure().number]
    plt.close(ax.get_figure())


# --------------------------------------------------------------------------- registry


def test_the_five_figures_are_registered():
    names = tuple(figures.FIGURES)
    start = names.index(NAMES[0])
    assert names[start:start + len(NAMES)] == NAMES  # registered together, in order
    assert depth_figures.FIGURE_NAMES == NAMES
    for name in NAMES:
        figure = figures.FIGURES[name]
        assert figure.description and callable(figure.plot) and callable(figure.summary)


def test_sweeps_are_shared_and_follow_the_brief():
    quick = figures.PROFILES["quick"]
    deep = profiles.deep_profile(quick)
    acc = figures.FIGURES["accuracy_vs_depth"].sweeps(quick)
    assert set(acc) == {"pc", "ipc", "bp"}, "the remedies: remedies_vs_depth, own recipes"
    for variant, spec in acc.items():  # BP has no state step to choose
        steps = {} if variant == "bp" else {"gamma": deep.gammas}
        assert dict(spec.axes) == {"depth": deep.depths, **steps, "seed": deep.seeds}
        assert spec.config.inference_steps >= 2 * max(deep.depths)
        assert spec.config.validation_size == deep.validation_size > 0
    heat = figures.FIGURES["energy_propagation"].sweeps(quick)
    # every panel: its own runs over the same grid of steps, on the same held-out split
    recipe = 0.5 / 64  # jpc's SGD 0.5 on the batch-mean energy, batch 64, per sample
    assert deep.heat_gammas == (recipe, 0.1) and deep.validation_size > 0
    for remedy, spec in heat.items():
        assert dict(spec.axes) == {"seed": deep.seeds, "gamma": deep.heat_gammas}, remedy
        cfg = spec.config
        assert (cfg.depth, cfg.gamma_convention, cfg.validation_size) == (
            deep.heat_depth, "per_sample", deep.validation_size), remedy
        assert (cfg.train_limit, cfg.epochs) == (deep.train_limit, deep.epochs), "one budget"
    assert heat["pc"] != acc["pc"]
    plain = replace(deep, heat_gammas=(0.1,), gammas=(0.1,), validation_size=0)  # reused
    assert profiles.remedy_spec(plain, "pc") == profiles.variant_spec(plain, "pc"), "run once"
    mupc = heat["mupc"].config
    assert (mupc.parameterization, mupc.skip, mupc.weight_lr) == ("mupc", True, 1e-2)
    assert heat["pc_more_steps"].config.inference_steps > acc["pc"].config.inference_steps
    assert heat["precision"].config.layer_precision == profiles.PRECISION
    decay = figures.FIGURES["update_decay"].sweeps(quick)
    assert decay == figures.FIGURES["bp_alignment"].sweeps(quick)
    shared = figures.FIGURES["depth_gamma"].sweeps(quick)
    assert shared["align"] == decay["align"] and set(shared) == {"align", "bp"}
    bp = shared["bp"].config  # the reference: BP with the same weights, at the same depths
    assert (bp.algorithm, bp.weight_optimizer, bp.weight_lr, bp.weight_decay) == (
        "bp", "momentum", decay["align"].config.weight_lr, 0.0)
    assert dict(shared["bp"].axes) == {"depth": deep.decay_depths, "seed": deep.seeds}
    assert dict(decay["align"].axes)["seed"] == deep.seeds, "every seed, not the first"
    cfg = decay["align"].config
    assert (cfg.weight_optimizer, cfg.bp_alignment) == ("momentum", True)


def test_profiles_and_estimate():
    for name in ("quick", "default", "paper"):
        assert name in profiles.DEEP_PROFILES
    default = profiles.DEEP_PROFILES["default"]
    assert default.depths[0] == 2 and max(default.depths) >= 32 and len(default.seeds) >= 3
    seconds, text = figures.estimate("default", only=NAMES)
    assert "deep-pc " in text and "deep-pc-momentum-align" in text
    quick, _ = figures.estimate("quick", only=NAMES)
    assert 0 < quick < seconds < figures.estimate("paper", only=NAMES)[0], text
    custom = figures.Profile(name="mine", description="x", train_limit=500, test_limit=100,
                             epochs=1, gammas=(0.1,), seeds=(0, 1), width=64, widths=(64,))
    deep = profiles.deep_profile(custom)
    assert (deep.train_limit, deep.seeds) == (500, (0, 1))
    with pytest.raises(ValueError, match="heat_depth=5 must be one of depths"):
        profiles.DeepProfile(**{**default.as_dict(), "heat_depth": 5, "depths": (2, 4)})
    assert default.bp_gammas == (0.03, 0.1, 0.3), "the three nearest γ = 0.1"
    with pytest.raises(ValueError, match=r"panel_gammas=\(0.5,\) must be among align_gammas"):
        profiles.DeepProfile(**{**default.as_dict(), "panel_gammas": (0.5,)})
    with pytest.raises(ValueError, match="remedies 'pc' reuses accuracy_vs_depth's pc runs"):
        profiles.DeepProfile(**{**default.as_dict(), "variants": ("bp",)})
    with pytest.raises(ValueError, match=r"validation_size=0 with 4 heat_gammas; a step is "
                                         "chosen on a validation split"):
        profiles.DeepProfile(**{**default.as_dict(), "validation_size": 0})
    with pytest.raises(ValueError, match=r"heat_gammas=\(0.03, 0.3\) must contain 0.1"):
        profiles.DeepProfile(**{**default.as_dict(), "heat_gammas": (0.03, 0.3)})
    with pytest.raises(ValueError, match=r"gammas=\(0.3,\) must contain 0.1 \(PC's step"):
        profiles.DeepProfile(**{**default.as_dict(), "gammas": (0.3,)})


# --------------------------------------------------------------------------- a reduced real run

TINY = profiles.DeepProfile(
    name="tiny", description="test size", train_limit=256, test_limit=256, epochs=1,
    seeds=(0,), width=16, depths=(2, 4), heat_depth=4, more_steps=12, decay_depths=(4,),
    align_gammas=(0.1,), log_every=1, variants=("pc", "epc"), remedies=("pc", "pc_more_steps",
                                                                        "epc"),
    heat_gammas=(0.5 / 64, 0.1), validation_size=256,
)


def no_sweep(*args, **kwargs):
    raise AssertionError("pcdiag.sweep was called: --from-data must not train")


@pytest.mark.skipif(not (REAL / "fashion-mnist").is_dir(), reason="Fashion-MNIST not found")
@pytest.mark.slow  # a second end-to-end figure run; test_figures.py has the default one
def test_reduced_run_writes_files_and_redraws_from_data(tmp_path, monkeypatch):
    monkeypatch.setenv("PCDIAG_DATA", str(REAL))
    monkeypatch.setitem(profiles.DEEP_PROFILES, "tiny", TINY)
    profile = figures.Profile(name="tiny", description="test size", train_limit=256,
                              test_limit=256, epochs=1, gammas=(0.1,), seeds=(0,), width=16,
                              widths=(16,))
    start = time.perf_counter()
    written = figures.make_figures(profile, only=",".join(NAMES), out=tmp_path, progress=False)
    seconds = time.perf_counter() - start
    assert [w.name for w in written] == list(NAMES)
    for name in NAMES:
        for ext in ("png", "pdf", "nc"):
            path = tmp_path / f"{name}.{ext}"
            assert path.is_file() and path.stat().st_size > 0, path
    assert plt.get_fignums() == []
    acc = pcdiag.open_dataset(tmp_path / "accuracy_vs_depth.nc")
    assert list(acc["variant"].values) == ["pc", "epc"] and "energy" not in acc
    assert np.isnan(acc["weight_norm"].sel(depth=2, layer=4)).all(), "layers padded with NaN"
    heat = pcdiag.open_dataset(tmp_path / "energy_propagation.nc")
    variants = [str(v) for v in heat["variant"].values]
    main = [v for v in variants if not v.endswith("_recipe")]
    assert main == ["pc", "pc_more_steps", "epc"]
    assert list(heat["inference_steps"].sel(variant=main).values) == [8, 12, 8]
    # each panel at a step of the grid, scored on the held-out split; ePC also at its
    # published step exactly where that is not the one chosen
    grid = heat["step_validation_accuracy"]
    for v in main:
        step = float(heat["gamma"].sel(variant=v))
        assert step in TINY.heat_gammas
        np.testing.assert_array_equal(grid.sel(variant=v, gamma_grid=step).values,
                                      heat["validation_accuracy"].sel(variant=v).isel(
                                          epoch=-1).values)
    assert ("epc_recipe" in variants) == (float(heat["gamma"].sel(variant="epc")) != 0.5 / 64)
    numbers = depth_energy.energy_numbers(heat)
    # PC's front moves one layer per step: layer 1 of 4 is reached at t >= 3, if by T;
    # ePC's inference moves every error at once: layer 1 is reached after one step
    first = measures.reached_at(heat).sel(layer=1).isel(step=-1)
    assert (first.sel(variant="pc").fillna(99) >= 3).all()
    assert numbers["epc"]["first_t"] == "1" and (first.sel(variant="epc") == 1).all()
    energy0 = heat["energy"].sel(variant="pc", t=0)
    assert (energy0.sel(layer=[1, 2, 3]) == 0).all() and (energy0.sel(layer=4) > 0).all()
    decay = pcdiag.open_dataset(tmp_path / "update_decay.nc")
    assert decay.attrs["config"] and json.loads(decay.attrs["sweep"]) == {"depth": [4],
                                                                          "seed": [0]}
    text = figures.summarise(tmp_path, only=NAMES)
    for phrase in ("PC stays within" if "bp" in TINY.variants else "test accuracy",
                   "layer 1 first reached at t = 1", "energy profile at T", "bp_cosine"):
        assert phrase in text, text
    # redraw from the .nc files alone
    monkeypatch.setattr(pcdiag, "sweep", no_sweep)
    monkeypatch.setattr(figures.SweepSpec, "run", no_sweep)
    before = {n: (tmp_path / f"{n}.nc").stat().st_mtime_ns for n in NAMES}
    figures.make_figures(profile, only=NAMES, out=tmp_path, from_data=True, progress=False)
    assert {n: (tmp_path / f"{n}.nc").stat().st_mtime_ns for n in NAMES} == before
    assert plt.get_fignums() == []
    print(f"reduced deep figures: {seconds:.0f} s")
