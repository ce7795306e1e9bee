"""Every count a committed figure prints, recomputed from its figures/NAME.nc with
pcdiag.measures and held against the figure (titles, tick labels, legends, cell texts), its
stored caption and the numbers figures/README.md quotes.

The measures are argued from float32 (pcdiag/measures.py): a node is reached when its energy
exceeds max(2 R, 2^-24 F(t)), R the network's largest hidden energy at t = 0 (rounding); a
layer stalls when it learns at no logged step (Adam-type: also where its node holds no error,
E_l(T) <= 2 R). Each section's `run_status` counts are pcdiag.status's. When a rule there
changes, these tests name the README sentence and the figure text that no longer say what the
data say.
"""

import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

import pcdiag  # noqa: E402
from pcdiag import figures, measures, status  # noqa: E402
from pcdiag.cli.summaries import info_text  # noqa: E402
from pcdiag.figures.remedies import accuracy as rem  # noqa: E402
from pcdiag.plot.layers import layer_ranges  # noqa: E402
from pcdiag.plot.styling import range_text  # noqa: E402

COMMITTED = Path(__file__).resolve().parents[1] / "figures"
README = COMMITTED / "README.md"
#: The figures whose counts come from pcdiag.measures.
NAMES = ("accuracy_vs_depth", "energy_propagation", "update_decay", "depth_gamma",
         "bp_alignment", "remedies_vs_depth", "accuracy_vs_depth_conv",
         "energy_propagation_conv")

pytestmark = [pytest.mark.usefixtures("clean_plot_state"),  # tests/conftest.py
              pytest.mark.skipif(not all((COMMITTED / f"{n}.nc").is_file() for n in NAMES),
                                 reason="no committed figure data")]


def data(name: str):
    return pcdiag.open_dataset(COMMITTED / f"{name}.nc")


def readme(section: str | None = None) -> str:
    """figures/README.md (or its `## section` / `### section`, the heading's first word the
    figure's name), whitespace collapsed, bold marks dropped."""
    text = README.read_text()
    if section:
        text = re.split(rf"\n##+ {re.escape(section)}(?::[^\n]*)?\n", text, maxsplit=1)[1]
        text = re.split(r"\n##+ ", text, maxsplit=1)[0]
    return re.sub(r"\s+", " ", text.replace("**", ""))


def texts(fig) -> list[str]:
    """The figure's texts; a legend entry wrapped to fit the width reads as one line."""
    out = [t.get_text() for t in fig.findobj(matplotlib.text.Text)]
    return out + [" ".join(t.split()) for t in out if "\n" in t]


def test_stored_captions_and_titles_are_the_codes():
    """The committed .nc files carry the caption and title the code gives their data now."""
    for name in NAMES:
        ds = data(name)
        figure = figures.FIGURES[name]
        assert ds.attrs["caption"] == figure.caption(ds), name
        assert ds.attrs["title"].endswith(figure.description), name
        assert "frozen" not in ds.attrs["caption"] + ds.attrs["title"], name


# --------------------------------------------------------------------------- deep MLPs


def test_accuracy_vs_depth_pc_at_depth_32_stalls_its_first_ten_layers():
    ds = data("accuracy_vs_depth")
    counts = measures.stalled_layers(ds)
    pc = counts.sel(variant="pc")
    assert (counts.sel(variant=["ipc", "bp"]) == 0).all(), "iPC and BP: no stalled layer"
    # AdamW and no per-t energies: every count is a lower bound, printed with '≥'
    cells = " | ".join(f"≥ {range_text(pc.sel(depth=d).values)}" for d in pc["depth"].values)
    row = f"| PC stalled layers | {cells} of 32 |"
    assert row in readme("accuracy_vs_depth"), row
    per_seed = [int(v) for v in pc.sel(depth=32).values]
    assert per_seed == [10, 10, 10]
    assert "in every seed the first 10 layers, the input side, stall" in readme(
        "accuracy_vs_depth")
    stalled = measures.stalled(ds).sel(variant="pc", depth=32)
    for seed, n in enumerate(per_seed):  # the input side: layers 1..n
        layers = stalled["layer"].values[(stalled.isel(seed=seed) == 1).values]
        assert list(layers) == list(range(1, n + 1))
    fig = figures.FIGURES["accuracy_vs_depth"].plot(ds)
    assert "≥ 10 of 32" in texts(fig)


def test_energy_propagation_titles_and_readme_say_which_layers_the_error_reached():
    """PC reaches 13 of 16 layers at T = 64 (not 16: layers 1-3 hold positive energies, but
    under 2^-24 of the total); the profile is fitted over the reached layers only, and the
    stalled layers are those no error arrives at (PC: none, its layers 1-3 hold real error)."""
    ds = data("energy_propagation")
    reached = measures.layers_reached(ds)
    first = measures.reached_at(ds).sel(layer=1).isel(step=-1)
    profile = measures.energy_profile(ds)
    stalled = measures.stalled(ds)
    counts = measures.stalled_layers(ds)
    listed = figures.depth.energy.energy_panels_text(ds)  # the caption's panel list
    assert listed in figures.FIGURES["energy_propagation"].caption(ds)
    titles = listed.rstrip(".").split("; ")
    table = readme("energy_propagation")
    panels = {"pc": "PC, T = 64", "pc_more_steps": "PC, T = 256", "epc": "ePC", "mupc": "μPC",
              "precision": "PC + precision 0.5", "epc_recipe": "ePC (recipe)",
              "mupc_recipe": "μPC (recipe)"}
    for i, (variant, panel) in enumerate(panels.items()):
        count = range_text(reached.sel(variant=variant).values)
        assert titles[i].endswith(f"reached at T: {count}/16"), titles[i]
        t = range_text(first.sel(variant=variant).values)
        panel = f"{panel} | {float(ds['gamma'].sel(variant=variant)):g}"
        shape = profile.sel(variant=variant)
        if bool(shape["rate"].notnull().all()):
            words = f"{str(shape['shape'].values[0])}, {float(shape['rate'].mean()):.2f}"
        else:
            words = "U-shaped (no rate)"
        row = (f"| {panel} | {f't = {t}' if t else 'not by T'} | {count} of 16 | ")
        assert row in table, row
        cells = table.split(row)[1].split("|")
        assert words in cells[2], (panel, words)
        # stalled: the same layers in every seed, written as "n (layers)"
        per_seed = {layer_ranges(stalled["layer"].values[
            (stalled.sel(variant=variant).isel(seed=s) == 1).values]) if
            int(counts.sel(variant=variant).isel(seed=s)) else "" for s in range(3)}
        assert len(per_seed) == 1, (panel, per_seed)
        (layers,) = per_seed
        n = range_text(counts.sel(variant=variant).values)
        assert cells[3].strip() == (f"{n} ({layers})" if layers else n), (panel, cells[3])
    assert int(reached.sel(variant="pc").min()) == int(reached.sel(variant="pc").max()) == 13
    # PC's layers 1-3: not reached, but holding error (an MLP's t = 0 energies are exact
    # zeros, R = 0), which AdamW learns from: no stalled layer
    assert float(measures.init_rounding(ds).sel(variant="pc").max()) == 0.0
    last = measures.holds_error(ds).sel(variant="pc", layer=[1, 2, 3]).isel(step=-1)
    assert (last == 1).all()
    assert (counts.sel(variant="pc") == 0).all()
    assert [int(counts.sel(variant=v).max()) for v in ("mupc_recipe", "precision")] == [8, 7]
    assert (counts.sel(variant="mupc") == 0).all(), "at its validated step no μPC layer stalls"
    assert (reached.sel(variant="mupc") == 16).all()
    assert range_text(first.sel(variant="mupc").values) == "46"
    text = readme("energy_propagation")
    rates = {v: f"{float(profile['rate'].sel(variant=v).mean()):.2f}"
             for v in ("pc", "precision")}
    assert f"over the 13 reached layers the energy falls {rates['pc']} decades per layer" in text
    assert (f"reaches only the top 6 layers (over them the energy falls {rates['precision']} "
            "decades per layer) and stalls layers 1-7 in every seed") in text
    assert "μPC's error reaches every layer (layer 1 at t = 46), no layer stalls" in text
    # the heatmap greys exactly the cells no seed reached: PC's layers 1-3 at t = T
    from pcdiag.plot.heatmap import final_reached
    hit = final_reached(ds.sel(variant="pc").isel(t=slice(0, 65)))
    assert list(hit["layer"].values[(hit.isel(t=-1) == 0).values]) == [1, 2, 3]


def test_update_decay_is_u_shaped_at_depth_4_and_8_and_stalls_the_lowest_layers_at_16():
    ds = data("update_decay")
    profile = measures.update_profile(ds)
    for depth in (4, 8):
        assert (profile["shape"].sel(depth=depth) == "u_shaped").all()
        assert profile["rate"].sel(depth=depth).isnull().all(), "no rate for a U"
    assert (profile["shape"].sel(depth=16) == "rising").all()
    rate = profile["rate"].sel(depth=16)
    text = readme("update_decay")
    assert "At L = 4 and L = 8 the profile is U-shaped" in text
    assert (f"{float(rate.mean()):.2f} decades per layer (seeds {float(rate.min()):.3f}-"
            f"{float(rate.max()):.3f})") in text
    stalled = measures.stalled(ds).sel(depth=16)
    every = stalled["layer"].values[(stalled.min("seed") == 1).values]
    some = stalled["layer"].values[((stalled.max("seed") == 1) & (stalled.min("seed") == 0))
                                   .values]
    assert (layer_ranges(every), layer_ranges(some)) == ("1-3", "4")
    seeds = [int(s) for s in stalled["seed"].values[(stalled.sel(layer=4) == 1).values]]
    assert seeds == [0, 2]
    assert "layers 1-3 stall in every seed, layer 4 in two of three (seeds 0 and 2)" in text
    assert (measures.stalled_layers(ds).sel(depth=[4, 8]) == 0).all()
    legend = texts(figures.FIGURES["update_decay"].plot(ds))
    assert "L = 4: U-shaped (no rate)" in legend and "L = 8: U-shaped (no rate)" in legend
    assert (f"L = 16: rising, {float(rate.mean()):.2f} dec/layer; layers 1-3 (+4 in some "
            "seeds) stalled") in legend


def test_depth_gamma_table_is_the_stalled_counts_and_monotone_rates_of_the_data():
    """depth 16: 10, 8, 3-4 and 0 stalled layers at γ = 0.01, 0.03, 0.1, 0.3; a rate only
    where the update profile rises monotonically, U where it is U-shaped."""
    ds = data("depth_gamma")
    stalled = measures.stalled_layers(ds)
    profile = measures.update_profile(ds)
    accuracy = ds["test_accuracy"].isel(epoch=-1).mean("seed")
    table = readme("depth_gamma")
    for depth in ds["depth"].values:
        cells = []
        for gamma in ds["gamma"].values:
            at = dict(depth=depth, gamma=gamma)
            if bool(stalled.sel(at).isnull().all()):
                cells.append("diverged 3/3")
                continue
            count = range_text(stalled.sel(at).values)
            shapes = set(profile["shape"].sel(at).values)
            rate = (f"{float(profile['rate'].sel(at).mean()):.2f}" if shapes == {"rising"}
                    else "U" if shapes == {"u_shaped"} else None)
            cells.append(f"{float(accuracy.sel(at)):.3f}"
                         + (f" [{count} of {int(depth)}]" if count != "0" else "")
                         + f"; {rate}")
        row = f"| {int(depth)} | " + " | ".join(cells) + " |"
        assert row in table, row
    assert [range_text(stalled.sel(depth=16, gamma=g).values)
            for g in (0.01, 0.03, 0.1, 0.3)] == ["10", "8", "3–4", "0"]
    cell_text = texts(figures.FIGURES["depth_gamma"].plot(ds))
    assert "0.70\nstalled:\n10" in cell_text and "0.71\nstalled:\n3–4" in cell_text


def test_bp_alignment_readme_names_the_zero_gradient_and_the_stalled_layers():
    ds = data("bp_alignment").sel(depth=16)
    zero = (ds["weight_grad_norm"] == 0).all("step")
    runs = ", ".join(layer_ranges(ds["layer"].values[zero.sel(gamma=0.03).isel(seed=s).values])
                     for s in range(ds.sizes["seed"]))
    stalled = measures.stalled(ds)
    every = layer_ranges(ds["layer"].values[(stalled.sel(gamma=0.03).min("seed") == 1).values])
    text = readme("bp_alignment")
    assert (f"exactly 0 at every logged step in layers {runs} of the seeds; layers {every} "
            "stalled in every seed") in text
    at_01 = {layer_ranges(ds["layer"].values[(stalled.sel(gamma=0.1).isel(seed=s) == 1).values])
             for s in range(ds.sizes["seed"])}
    assert at_01 == {"1-3", "1-4"} and "layers 1-3 or 1-4 stall" in text


# --------------------------------------------------------------------------- remedies


def test_remedies_stored_stalled_layers_are_the_measure_with_each_lines_settings():
    """The stored variable is pcdiag.measures.stalled_layers with each line's own optimizer
    settings; the diverged PC seed at depth 64 has no count, so the tick reads 43–45 (a
    lower bound), not 0–45."""
    ds = data("remedies_vs_depth")
    assert "zero_gradient_layers" not in ds
    for name in rem.SETTING_FIELDS:
        assert ds[name].dims == ("recipe", "variant")
    again = measures.stalled_layers(ds.drop_vars("stalled_layers"))
    np.testing.assert_array_equal(ds["stalled_layers"].values, again.values)
    pc64 = ds["stalled_layers"].sel(recipe="mupc", variant="pc", depth=64)
    diverged = (ds["run_status"].sel(recipe="mupc", variant="pc", depth=64) == 1).values
    assert np.isnan(pc64.values[diverged]).all() and diverged.sum() == 1
    assert rem.stalled_text(pc64, True) == "≥ 43–45"
    fig = figures.FIGURES["remedies_vs_depth"].plot(ds)
    ticks = [t.get_text() for t in fig.axes[0].get_xticklabels()]
    assert ticks[-1] == "64\n≥ 43–45"
    table = readme().split("| recipe | variant | L = 8 | 16 | 32 | 64 |")[1]
    for recipe, label in (("mupc", "μPC"), ("epc", "ePC")):
        counts = ds["stalled_layers"].sel(recipe=recipe, variant="pc")
        row = table.split(f"| {label} | PC |")[1].split("|")[:4]
        for cell, depth in zip(row, ds["depth"].values):
            assert f"s {range_text(counts.sel(depth=depth).values)}" in cell, (label, depth)


# --------------------------------------------------------------------------- conv


def test_accuracy_vs_depth_conv_stalled_count_is_only_a_lower_bound_without_energies():
    ds = data("accuracy_vs_depth_conv")
    pc = ds.sel(algorithm="pc")
    assert (measures.stalled_layers(pc) == 0).all()
    assert not measures.learns(pc).attrs["signal_checked"], "no per-t energies here"
    fig = figures.FIGURES["accuracy_vs_depth_conv"].plot(ds)
    ticks = [t.get_text() for t in fig.axes[0].get_xticklabels()]
    assert all(t.endswith("\nPC stalled: ≥ 0") for t in ticks)
    # the energies of seed 0 (energy_propagation_conv) let the check run
    heat = data("energy_propagation_conv")
    stalled = measures.stalled(heat)
    assert int(measures.stalled_layers(heat).sel(network="vgg5")) == 0
    names = {str(n): layer_ranges(stalled["layer"].values[(stalled.sel(network=n) == 1).values])
             for n in ["resnet18"]}
    assert names == {"resnet18": "1-6"}
    assert ("energy_propagation_conv finds no layer of VGG-5 and layers 1-6 of ResNet-18 "
            "stalled in seed 0") in readme("accuracy_vs_depth_conv").replace("`", "")


def test_energy_propagation_conv_reaches_3_of_5_vgg_nodes_and_2_of_10_resnet_nodes():
    """ResNet-18's nodes 2-9 hold 5e-16 to 7e-14 of float32 rounding from t = 0 on: not
    reached, drawn grey; nodes 7-8 rise above twice that (error, learning), nodes 1-6 do not
    (stalled). VGG-5's nodes 1-2 hold energy from t = 4 and 3, under 2^-24 F, but rising from
    an exact 0: error, so none of its layers stalls."""
    ds = data("energy_propagation_conv")
    reached = measures.layers_reached(ds)
    assert [int(v) for v in reached.values] == [3, 2]
    stalled = measures.stalled_layers(ds)
    assert [int(v) for v in stalled.values] == [0, 6]
    per_layer = measures.stalled(ds).sel(network="resnet18")
    assert layer_ranges(per_layer["layer"].values[(per_layer == 1).values]) == "1-6"
    held = measures.holds_error(ds).sel(network="resnet18")
    assert (held.sel(layer=[7, 8]) == 1).all() and (held.sel(layer=range(1, 7)) == 0).all()
    assert float(measures.init_rounding(ds).sel(network="vgg5").max()) == 0.0
    fig = figures.FIGURES["energy_propagation_conv"].plot(ds)
    titles = figures.conv.energy.conv_panels_text(ds).rstrip(".").split("; ")  # the caption's
    assert titles[0].endswith(f"reached at T: 3/5, stalled: {int(stalled.sel(network='vgg5'))}")
    assert titles[1].endswith(f"reached at T: 2/10, stalled: "
                              f"{int(stalled.sel(network='resnet18'))}")
    text = readme("energy_propagation_conv")
    assert "PC reaches 3 of 5 nodes at t = T" in text
    assert "PC reaches 2 of 10 nodes (9 and the output)" in text
    assert "AdamW learns from it: no layer stalls" in text
    assert "and layers 1-6 stall" in text
    rounding = measures.init_rounding(ds).sel(network="resnet18")
    assert f"R = {float(rounding.min()):.1e} to {float(rounding.max()):.1e}" in text
    # what the heatmap draws: ResNet-18's nodes 1-8 grey at every t
    heat = next(ax for ax in fig.axes if "ResNet-18" in ax.get_title(loc="left"))
    grey = ~np.ma.getmaskarray(heat.collections[0].get_array()).reshape(10, -1)
    assert grey[:8].all() and not grey[8, 1:].any() and not grey[9].any()
    t0 = ds["energy"].sel(network="resnet18", t=0).isel(step=-1).sel(layer=slice(2, 9))
    assert float(t0.min()) > 0 and float(t0.max()) < 1e-13, "rounding, not zero"


def test_pcdiag_info_prints_the_measures_the_figures_draw():
    path = COMMITTED / "energy_propagation_conv.nc"
    text = info_text(pcdiag.open_dataset(path), str(path))
    ds = pcdiag.open_dataset(path)
    rate = measures.energy_profile(ds)["rate"]
    assert re.search(r"network=vgg5: .*; ok; .*reached 3/5, stalled 0/5, E rising "
                     rf"{float(rate.sel(network='vgg5')):.2f}, Δθ peaked$", text, re.M)
    assert re.search(r"network=resnet18: .*; collapsed; .*reached 2/10, stalled 6/10, E rising "
                     rf"{float(rate.sel(network='resnet18')):.2f}, Δθ irregular$", text, re.M)
    assert "run status of 2 runs: 1 ok, 0 diverged, 0 inference_unstable, 1 collapsed" in text
    path = COMMITTED / "update_decay.nc"
    text = info_text(pcdiag.open_dataset(path), str(path))
    assert re.search(r"depth=4 seed=0: .*stalled 0/4, Δθ u_shaped$", text, re.M)
    assert re.search(r"depth=16 seed=1: .*stalled 3/16, Δθ rising 0\.51$", text, re.M)


# --------------------------------------------------------------------------- run_status

#: Each figure's `run_status` sentence in the README, filled with pcdiag.status.counts of its
#: .nc (n: runs in the file); a status with runs must be named in its template.
STATUS_TEXT = {
    "energy_per_layer": "{ok} of {n} runs ok",
    "accuracy_vs_gamma": ("`run_status`: {ok} ok, {inference_unstable} inference_unstable, "
                          "none diverged or collapsed"),
    "energy_ratio_vs_gamma": "`run_status`: {ok} ok, {inference_unstable} inference_unstable",
    "accuracy_vs_gamma_by_width": ("`run_status`: all {inference_unstable} PC runs at γ = 1 are "
                                   "inference_unstable"),
    "accuracy_vs_gamma_state_optimizer": ("`run_status`: {ok} ok, {inference_unstable} "
                                          "inference_unstable: SGD states at γ = 1, Adam "
                                          "states at γ = 0.3 and 1 (3 seeds each); "
                                          "{collapsed} collapsed: Adam states, γ = 0.1, seed 2 "
                                          "(step 900)"),
    "mechanism": "`run_status`: {ok} ok, {inference_unstable} inference_unstable.",
    "learning_curves": "`run_status`: {ok} ok, {inference_unstable} inference_unstable (PC);",
    "accuracy_vs_gamma_pcx": ("`run_status`: {ok} ok, {collapsed} collapsed (batch-mean γ = 64, "
                              "momentum weights, seeds 0 and 2"),
    "accuracy_vs_depth": "`run_status`: {ok} of {n} ok.",
    "energy_propagation": "`run_status`: {ok} of {n} ok.",
    "update_decay": "`run_status`: {ok} of {n} ok.",
    "depth_gamma": "`run_status`: {ok} ok, {diverged} diverged; BP 9 of 9 ok.",
    "bp_alignment": "`run_status`: {ok} of {n} ok.",
    "remedies_vs_depth": "`run_status`: {ok} of {n} ok, {collapsed} collapsed, {diverged} diverged",
    "accuracy_vs_depth_conv": "`run_status`: {ok} of {n} ok, {collapsed} collapsed",
    "energy_propagation_conv": "(`run_status` collapsed, test accuracy 0.095; VGG-5's is ok",
    "energy_ratio_vs_gamma_conv": "`run_status`: {ok} of {n} ok, {collapsed} collapsed.",
}


@pytest.mark.parametrize("name", sorted(STATUS_TEXT))
def test_readme_run_status_counts_are_the_data(name):
    path = COMMITTED / f"{figures.FIGURES[name].file}.nc"
    if not path.is_file():
        pytest.skip(f"no {path.name}")
    flags = pcdiag.open_dataset(path)["run_status"]
    counts = status.counts(flags)
    template = STATUS_TEXT[name]
    for kind, count in counts.items():
        if count and kind != "ok":
            assert "{" + kind + "}" in template or kind in template, (name, kind, count)
    sentence = template.format(n=flags.size, **counts)
    assert sentence in readme(name), (name, sentence)


def test_readme_names_the_runs_the_new_collapse_rule_flags_and_clears():
    """The verdicts the L_ref rule changed, each as the README states it."""
    conv = data("accuracy_vs_depth_conv")["run_status"].sel(algorithm="pc")
    failed = {(str(n), int(s)) for n in conv["network"].values for s in conv["seed"].values
              if int(conv.sel(network=n, seed=s)) == status.COLLAPSED}
    assert failed == {("vgg9", 0), ("vgg9", 1), ("vgg9", 2), ("resnet18", 0), ("resnet18", 1),
                      ("resnet18", 2), ("resnet10", 0), ("resnet10", 1)}
    steps = data("accuracy_vs_depth_conv")["run_status_step"].sel(algorithm="pc")
    assert (steps.where(conv == status.COLLAPSED).fillna(0) == 0).all(), "never learned"
    accuracy = data("accuracy_vs_depth_conv")["test_accuracy"].isel(epoch=-1)
    seeds = accuracy.sel(algorithm="pc", network="resnet10").values[:2]
    assert (f"and on ResNet-10 seeds 0 and 1 ({seeds[0]:.3f}, {seeds[1]:.3f}"
            in readme("accuracy_vs_depth_conv"))
    remedies = data("remedies_vs_depth")["run_status"]
    pc8 = remedies.sel(recipe="mupc", variant="pc", depth=8)
    assert (pc8 == status.COLLAPSED).all()
    for recipe, label in (("mupc", "μPC"), ("epc", "ePC")):
        c = status.counts(remedies.sel(recipe=recipe))
        words = f"{label} recipe {c['ok']} ok, {c['collapsed']} collapsed"
        assert words in readme("remedies_vs_depth"), words
    pcx = data("accuracy_vs_gamma_pcx")["run_status"].sel(gamma=64)
    assert [int(v) for v in pcx.sel(weight_optimizer="momentum").values] == [3, 0, 3]
    assert (pcx.sel(weight_optimizer="adamw") == status.OK).all()
    epc = data("energy_propagation")["run_status"].sel(variant="epc")
    assert (epc == status.OK).all()


def test_readme_collapse_rule_states_pcdiag_status_thresholds():
    text = readme()
    rule = text.split("`3 collapsed` =", 1)[1].split("; `0 ok` otherwise", 1)[0]
    assert f"windows of {status.LOSS_WINDOW:.0%} of the logged steps" in rule
    assert f"(at least {status.LOSS_WINDOW_MIN})" in rule
    assert f"ln {status.N_CLASSES} = {np.log(status.N_CLASSES):.2f} for cross-entropy" in rule
    assert f"{(1 - 1 / status.N_CLASSES) / 2:g} for squared error" in rule
    assert f"above {status.LOSS_RISE:g} L_ref (blown up)" in rule
    assert f"no window {status.MIN_GAIN:.0%} below L_ref (never learned)" in rule
    chance = 1 / status.N_CLASSES
    assert (f"≤ {chance + status.CHANCE_MARGIN:g} (chance + {status.CHANCE_MARGIN:g})"
            in rule)
    assert status.ACC_KEEP == 0.5 and "less than half its best epoch's gain over chance" in rule
    assert f"more than {status.ACC_SLACK:g} below exp(−L_best)" in rule
    assert "mean train loss" not in rule, "the old rule (means of the first and last 10%)"
