"""The `long` profile: its own figure list and sizes, and figures/long/README.md's numbers
recomputed from the committed figures/long/*.nc."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

import pcdiag
from pcdiag import figures, measures
from pcdiag.figures.conv import profile as conv
from pcdiag.figures.depth import accuracy as depth_figure
from pcdiag.figures.depth import profile as deep
from pcdiag.figures.gamma import learning_curves as curves
from pcdiag.figures.make import profile_figures

LONG = Path(__file__).resolve().parents[1] / "figures" / "long"


def test_long_profile_makes_its_own_figures_at_longer_budgets():
    long = figures.PROFILES["long"]
    names = [f.name for f in profile_figures("long")]
    assert names == ["accuracy_vs_depth", "learning_curves", "accuracy_vs_depth_conv",
                     "energy_propagation_conv", "energy_ratio_vs_gamma_conv"]
    assert [f.name for f in profile_figures("long", only="learning_curves")] == [
        "learning_curves"], "--only still wins"
    assert len(profile_figures("default")) == len(figures.FIGURES), "no list: every figure"
    seconds, text = figures.estimate("long")
    assert "deep-epc" in text and "curves-bp-adamw" in text and "remedy-" not in text
    assert "conv-pc-resnet18-screen" in text and "conv-pc-resnet18 " in text, (
        "the estimate prices the followups (the other seeds at the chosen step) too")
    # The estimate over-prices the MLP part (56 min predicted, 34 measured with 2 jobs);
    # the budget itself is checked on the measured wall time
    # (test_long_wall_time_is_one_run_of_every_figure_within_two_hours).
    assert 0 < seconds < 2.5 * 3600
    # longer than the default: the whole training set and more epochs, BP beside PC
    assert long.curve_epochs >= 10 and long.curve_train_limit is None
    assert long.curve_validation_size > 0
    d, dd = deep.DEEP_PROFILES["long"], deep.DEEP_PROFILES["default"]
    assert d.train_limit is None and d.epochs > dd.epochs and d.validation_size > 0
    assert set(d.variants) == {"pc", "ipc", "epc", "mupc", "bp"}, "every method"
    assert len(d.gammas) >= 3 and len(d.seeds) >= 3
    for spec in figures.FIGURES["accuracy_vs_depth"].sweeps("long").values():
        assert spec.config.inference_steps >= 2 * max(d.depths)


def test_long_conv_part_trains_a_full_epoch_at_validated_steps_with_t_at_least_l():
    c = conv.CONV_PROFILES["long"]
    assert c.train_limit is None and c.test_limit is None and c.epochs >= 1
    assert c.dataset == "fashion-mnist" and c.validation_size > 0
    assert set(c.nets) == set(conv.CONV_NETS) and {"pc", "ipc", "bp"} <= set(c.algorithms)
    assert len(c.seeds) >= 3 and len(c.gamma_seeds) >= 3 and len(c.screen_gammas) >= 3
    figure = figures.FIGURES["accuracy_vs_depth_conv"]
    specs = figure.all_sweeps(c)
    for name, spec in specs.items():
        if spec.config.algorithm != "bp":
            assert spec.config.inference_steps >= spec.config.depth, name
            assert spec.config.validation_size == c.validation_size
            assert spec.config.n_train == 55_000
    screens = [n for n in specs if n.endswith("-screen")]
    assert len(screens) == len(c.nets_of("pc")) + len(c.nets_of("ipc"))
    assert c.nets_of("ipc") == ("vgg5", "vgg7", "vgg9")


committed = pytest.mark.skipif(not (LONG / "README.md").is_file()
                               or not (LONG / "accuracy_vs_depth.nc").is_file(),
                               reason="figures/long not committed")


def readme() -> str:
    return re.sub(r"\s+", " ", (LONG / "README.md").read_text().replace("**", ""))


def f3(x) -> str:
    return f"{float(x):.3f}"


def signed(x) -> str:
    return ("+" if float(x) >= 0 else "") + f"{float(x):.3f}"


def interval(d) -> str:
    """'+0.006 [-0.023, +0.035]': one cell of a paired difference and its interval."""
    return (f"{signed(d['difference'])} [{signed(d['difference_low'])}, "
            f"{signed(d['difference_high'])}]")


@committed
def test_long_accuracy_vs_depth_table_and_intervals():
    ds = pcdiag.open_dataset(LONG / "accuracy_vs_depth.nc")
    text = readme()
    acc = ds["test_accuracy"].isel(epoch=-1)
    labels = {"bp": "BP", "pc": "PC", "ipc": "iPC", "epc": "ePC", "mupc": "μPC"}
    for variant, label in labels.items():
        cells = " | ".join(f3(acc.sel(variant=variant, depth=x).mean("seed"))
                           for x in ds["depth"].values)
        assert f"| {label} | {cells} |" in text, (label, cells)
        if variant != "bp":
            steps = " | ".join(depth_figure.selected_text(ds, variant).split(" / "))
            assert f"| {label}'s γ | {steps} |" in text, (label, steps)
    for comparison in ds["comparison"].values:
        d = ds.sel(comparison=comparison)
        cells = " | ".join(interval(d.sel(depth=x)) for x in ds["depth"].values)
        name = labels[str(comparison).split("-")[0]]
        assert f"| {name} − BP | {cells} |" in text, (comparison, cells)
    counts = measures.stalled_layers(ds)
    for variant, label in labels.items():
        worst = int(np.nanmax(counts.sel(variant=variant).values))
        assert f"{label}: {worst} stalled" in text or worst == 0, (label, worst)
    n_ok = int((ds["run_status"] == 0).sum())
    assert f"`run_status`: {n_ok} of {ds['run_status'].size} ok" in text


@committed
def test_long_learning_curves_pc_against_bp():
    ds = pcdiag.open_dataset(LONG / "learning_curves.nc")
    text = readme()
    assert ds.sizes["epoch"] >= 10
    for opt, name in (("momentum", "momentum"), ("adamw", "AdamW")):
        v = curves.validated_vs_bp(ds, opt)
        mean, low, high = v["difference"]
        assert (f"{name}, γ = {v['gamma']:g}: PC {f3(v['pc'][-1])}, BP {f3(v['bp'][-1])}, "
                f"PC − BP {signed(mean)} [{signed(low)}, {signed(high)}]") in text, name
        assert (f"validation gain over the last {v['epochs']} epochs: PC "
                f"{signed(v['pc_gain'])}, BP {signed(v['bp_gain'])}") in text, name


@committed
def test_long_readme_sentences():
    ds = pcdiag.open_dataset(LONG / "accuracy_vs_depth.nc")
    text = readme()
    d = ds["difference"]

    def points(comparison, depth):
        return f"{-100 * float(d.sel(comparison=comparison, depth=depth)):.1f}"
    acc = ds["test_accuracy"].isel(epoch=-1).mean("seed")
    bp = acc.sel(variant="bp")
    assert f"({f3(bp.min())}-{f3(bp.max())})" in text
    assert "1.9 points behind at L = 4" in text and points("pc-bp", 4) == "1.9"
    assert f"at L = 16 it is {points('pc-bp', 16)} points behind" in text
    assert (f"{points('ipc-bp', 8)} and {points('epc-bp', 8)} points behind BP at L = 8, "
            f"{points('ipc-bp', 16)} and {points('epc-bp', 16)} at L = 16") in text
    assert float(abs(d.sel(comparison="mupc-bp")).max()) < 0.0105, "μPC within 1 point"
    assert not bool(ds["selection_all_ok"].sel(variant="epc", depth=16))
    assert (ds["run_status"].sel(variant="epc", depth=16) == 3).all()
    val = ds["validation_accuracy"].mean("seed")
    flat = ", ".join(f3(v) for v in val.sel(variant="pc", depth=16).values)
    assert f"stays flat ({flat}, mean over seeds)" in text
    rise = val.sel(variant="bp", depth=16)
    assert f"BP's still rises ({f3(rise[0])} → {f3(rise[-1])} at L = 16)" in text
    lc = pcdiag.open_dataset(LONG / "learning_curves.nc")
    m = lc["test_accuracy"].mean("seed").sel(weight_optimizer="momentum")
    best = m.idxmax("gamma").values.tolist()
    assert best == [0.3] + [0.1] * (lc.sizes["epoch"] - 1)
    assert (f"γ = 0.3 is best after epoch 1 ({f3(m.sel(gamma=0.3)[0])}) but γ = 0.1 from epoch 2 "
            f"on ({f3(m.sel(gamma=0.1)[-1])} against {f3(m.sel(gamma=0.3)[-1])} at epoch 10)"
            ) in text


conv_committed = pytest.mark.skipif(not (LONG / "accuracy_vs_depth_conv.nc").is_file(),
                                    reason="figures/long's conv part not committed")
CONV_LABELS = {"pc": "PC", "ipc": "iPC", "bp": "BP"}


def conv_cells(ds, fn) -> str:
    return " | ".join(fn(key) for key in ds["network"].values)


@conv_committed
def test_long_conv_accuracy_table_steps_and_intervals():
    from pcdiag.figures.conv import accuracy as conv_figure

    ds = pcdiag.open_dataset(LONG / "accuracy_vs_depth_conv.nc")
    text = readme()
    acc = ds["test_accuracy"].isel(epoch=-1)
    ran = ds["run_status"] != conv_figure.NOT_RUN
    head = " | ".join(str(v) for v in ds["description"].values)
    assert f"| line | {head} |" in text
    for alg, label in CONV_LABELS.items():
        def mean(key, alg=alg):
            cell = acc.sel(algorithm=alg, network=key)
            return f3(cell.mean("seed")) if bool(ran.sel(algorithm=alg, network=key).all()) \
                else "not run"
        assert f"| {label} | {conv_cells(ds, mean)} |" in text, (label, conv_cells(ds, mean))
        if alg != "bp":
            def step(key, alg=alg):
                g = float(ds["selected_gamma"].sel(algorithm=alg, network=key))
                return f"{g:g}" if np.isfinite(g) else "–"
            assert f"| {label}'s γ | {conv_cells(ds, step)} |" in text, label

            def diff(key, alg=alg):
                d = ds.sel(comparison=f"{alg}-bp", network=key)
                return interval(d) if np.isfinite(float(d["difference"])) else "n/a"
            assert f"| {label} − BP | {conv_cells(ds, diff)} |" in text, (label,
                                                                         conv_cells(ds, diff))
    n_ok = int((ds["run_status"] == 0).sum())
    assert f"`run_status`: {n_ok} of {int(ran.sum())} ok" in text


@conv_committed
def test_long_conv_gamma_sweep_accuracy_and_ratios():
    from pcdiag.figures.conv import ratio as conv_ratio

    ds = pcdiag.open_dataset(LONG / "energy_ratio_vs_gamma_conv.nc")
    text = readme()
    assert ds.sizes["seed"] >= 3 and ds.sizes["gamma"] >= 5
    acc = ds["test_accuracy"].isel(epoch=-1).mean("seed")
    cells = " | ".join(f3(acc.sel(gamma=g)) for g in ds["gamma"].values)
    assert f"| test accuracy | {cells} |" in text, cells
    medians = conv_ratio.ratio_medians(ds)["median"]
    for layer in medians["layer"].values:
        row = " | ".join(f"{float(v):.1e}" for v in medians.sel(layer=layer).values)
        assert f"| E{int(layer)}/E{int(layer) + 1} | {row} |" in text, (layer, row)
    assert f"validated γ = {conv_ratio.chosen_gamma(ds):g}" in text


@conv_committed
def test_long_conv_sentences():
    ds = pcdiag.open_dataset(LONG / "accuracy_vs_depth_conv.nc")
    text = readme()
    d = ds.sel(comparison="pc-bp")
    excludes = (d["difference_high"] < 0) | (d["difference_low"] > 0)
    assert excludes.values.tolist() == [False, False, False, False, True], "only ResNet-18"
    assert f"{-100 * float(d['difference'].sel(network='resnet18')):.0f} points behind on " \
           "ResNet-18" in text
    heat = pcdiag.open_dataset(LONG / "energy_propagation_conv.nc")
    reached = measures.layers_reached(heat)
    stalled = measures.stalled_layers(heat)
    assert int(reached.sel(network="vgg5")) == 5 and "reaches all 5 nodes" in text
    assert int(reached.sel(network="resnet18")) == 3 and "reaches 3 of 10 nodes" in text
    assert int(stalled.sel(network="resnet18")) == 4 and "layers 1-4 stall" in text
    assert int(stalled.sel(network="vgg5")) == 0
    ratio = pcdiag.open_dataset(LONG / "energy_ratio_vs_gamma_conv.nc")
    assert (ratio["run_status"].sel(gamma=1.0) == 2).all(), "γ = 1: inference_unstable"
    val = ratio["validation_accuracy"].isel(epoch=-1).median("seed")
    assert (f"({f3(val.sel(gamma=0.03))} against {f3(val.sel(gamma=0.1))} at 0.1)") in text


def test_long_wall_time_is_one_run_of_every_figure_within_two_hours():
    """timings.json holds one run of the profile's five figures (their sweeps in worker
    processes, then each figure drawn); the README's wall time (of the whole command) is
    at least their sum and within the issue's budget of 2 hours on 2 cores."""
    import json

    from pcdiag.figures.make import PREFETCH_TIMING, profile_figures

    timings = json.loads((LONG / "timings.json").read_text())
    names = [f.name for f in profile_figures("long")]
    assert timings[PREFETCH_TIMING]["figures"] == names and timings[PREFETCH_TIMING]["jobs"] == 2
    parts = timings[PREFETCH_TIMING]["seconds"] + sum(timings[n]["seconds"] for n in names)
    minutes, seconds = re.search(r"Wall time: (\d+) min (\d+) s for the whole profile in "
                                 r"one command", readme()).groups()
    wall = 60 * int(minutes) + int(seconds)
    assert parts <= wall < 2 * 3600, (parts, wall)
