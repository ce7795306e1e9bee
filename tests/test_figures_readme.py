"""The numbers figures/README.md states, recomputed from the committed figures/*.nc: the
findings' tables and sentences of the γ family, the deep, remedies and conv accuracy tables
and energies. The counts from pcdiag.measures and the run_status sentences are checked in
tests/test_figures_measures.py; UNCHECKED lists what neither module recomputes yet.

Each check builds the README's own words from the data (3 decimals for accuracies, 2
significant digits for energies and norms, as the README writes them) and looks them up in
the figure's section: when the data or the README change, the failing phrase is named."""

import re
from pathlib import Path

import numpy as np
import pytest
from test_figures_measures import readme

import pcdiag
from pcdiag import figures, measures
from pcdiag.figures.conv.ratio import ratio_medians
from pcdiag.figures.depth import accuracy as depth_figure
from pcdiag.figures.depth import energy as depth_energy
from pcdiag.figures.depth.energy import energy_numbers
from pcdiag.figures.gamma import learning_curves as curves
from pcdiag.figures.remedies import accuracy as rem
from pcdiag.plot.energy import median_ratio
from pcdiag.plot.heatmap import final_energy
from pcdiag.plot.styling import final_fraction
from pcdiag.plot.updates import layer_norm_summary

COMMITTED = Path(__file__).resolve().parents[1] / "figures"

pytestmark = pytest.mark.skipif(not (COMMITTED / "README.md").is_file()
                                or not list(COMMITTED.glob("*.nc")),
                                reason="no committed figures")

#: README numbers no test recomputes yet (section: what), kept short on purpose.
UNCHECKED = {
    "run times": "the per-figure run times and the default profile's wall time (timings.json "
                 "is a later run; the README quotes the first fresh-clone run)",
    "paper estimate": "the paper profile's estimate (pcdiag figures --estimate, not the data)",
    "reproducibility": "the cross-machine differences (reported in the review, not in these "
                       "files)",
    "energy_per_layer": "the within-inference values (3.4e-3 at t = 1, 1.0e-4 at t = 2, 21x)",
    "accuracy_vs_gamma_state_optimizer": "the collapsed seed's loss (0.60, 0.550, 0.18, 0.80)",
    "accuracy_vs_gamma_pcx": "the collapsed seeds' step 690 and loss windows (0.44, 1.12)",
    "energy_ratio_vs_gamma": "the interquartile range 2.4-2.9 and the per-seed zero counts",
    "energy_propagation": "the earlier version's T = 256 runs at γ 0.1 (not in the files)",
    "bp_alignment": "the cosine table's ranges (layers 1, L-1 and L are in --summary)",
    "accuracy_vs_depth_conv": "the per-layer gradient norms and the loss values",
    "remedies_vs_depth": "the loss windows and the jpc numbers outside the data",
}


def data(name: str):
    return pcdiag.open_dataset(COMMITTED / f"{figures.FIGURES[name].file}.nc")


def acc(ds, **sel):
    """Final test accuracy (last epoch) of the runs at `sel`."""
    return ds["test_accuracy"].isel(epoch=-1).sel(sel)


#: The exact values behind the numbers a phrase names (f3, g2 put a marker in the phrase).
VALUES: list[float] = []
NUMBER = r"(-?[0-9][0-9,]*(?:\.[0-9]+)?(?:e[-+]?[0-9]+)?)"


def value(x) -> str:
    """A marker for the number `x` in a phrase: `has` matches any number there that is `x`
    rounded to the digits the README gives (either way at a tie: 0.8345 reads 0.834 or
    0.835; float32 slack), so the README may write 9.3e-3 or 0.0093."""
    VALUES.append(float(x))
    return f"\x00{len(VALUES) - 1}\x00"


f3 = g2 = value


def span(values) -> str:
    values = np.asarray(values, float)
    return f"{f3(values.min())}-{f3(values.max())}"


def unit(text: str) -> float:
    """Half a unit in the last digit of a number as written."""
    mantissa, _, exp = text.replace(",", "").partition("e")
    decimals = len(mantissa.split(".")[1]) if "." in mantissa else 0
    return 0.5 * 10.0 ** (int(exp or 0) - decimals)


def close(text: str, x: float) -> bool:
    if not np.isfinite(x):
        return False
    got = float(text.replace(",", ""))
    return abs(got - x) <= unit(text) * (1 + 1e-6) + 1e-6 * abs(x) or (got == 0 and x == 0)


def has(section: str | None, *phrases: str) -> None:
    """Each phrase (with value() markers) is in the README section, its numbers the data's."""
    text = readme(section)
    for phrase in phrases:
        parts = re.split("\x00([0-9]+)\x00", phrase)
        literal, indices = parts[::2], [int(i) for i in parts[1::2]]
        pattern = NUMBER.join(re.escape(part) for part in literal)
        found = [m for m in re.finditer(pattern, text)
                 if all(close(g, VALUES[i]) for g, i in zip(m.groups(), indices))]
        shown = literal[0] + "".join(f"{VALUES[i]:.4g}{lit}" for i, lit in
                                     zip(indices, literal[1:]))
        near = [m.group(0) for m in re.finditer(pattern, text)]
        assert found, (f"figures/README.md ## {section} does not say {shown!r} "
                       f"(the data's values, rounded as written); similar there: {near}")


def row_cells(section: str, start: str) -> list[str]:
    """The cells of the table row in the README section that starts with `start` (bold
    marks dropped)."""
    text = (COMMITTED / "README.md").read_text()
    text = re.split(rf"\n##+ {re.escape(section)}(?::[^\n]*)?\n", text, maxsplit=1)[1]
    for line in re.split(r"\n##+ ", text, maxsplit=1)[0].splitlines():
        line = line.replace("**", "")
        if line.startswith(start):
            return [c.strip() for c in line[len(start):].strip(" |").split(" | ")]
    raise AssertionError(f"no README table row starts with {start!r}")


def cell_is(cell: str, runs) -> None:
    """A cell 'mean' or 'mean [min, max]' (anything after) holds the runs' numbers."""
    numbers = re.findall(NUMBER, cell)
    assert close(numbers[0], float(runs.mean())), (cell, float(runs.mean()))
    if "[" in cell:
        assert close(numbers[1], float(runs.min())) and close(numbers[2], float(runs.max())), (
            cell, runs.values)


# --------------------------------------------------------------------------- γ family


def test_energy_per_layer_shares_and_changes():
    ds = data("energy_per_layer")
    at_t = ds["energy"].isel(t=-1)
    last = final_fraction(at_t.to_dataset(name="e"), 0.1)["e"].mean(["seed", "step"])
    first = at_t.isel(step=slice(0, max(1, round(ds.sizes["step"] * 0.1)))).mean(
        ["seed", "step"])
    share = (100 * last / last.sum()).values
    e1, e2, e3 = (float(v) for v in last.values)
    has("energy_per_layer",
        f"the output layer holds {value(share[2])}% of the energy (E3 = {value(e3)})",
        f"the middle layer {value(share[1])}% (E2 = {value(e2)})",
        f"the first layer {value(share[0])}% (E1 = {value(e1)})",
        f"the output energy falls fivefold ({value(first[2])} → {value(e3)})",
        f"the first layer's rises sixfold ({value(first[0])} → {value(e1)})",
        f"Test accuracy {span(acc(ds).values)}")
    assert 4.5 < float(first[2]) / e3 < 5.5 and 5.5 < e1 / float(first[0]) < 6.5


def test_accuracy_vs_gamma_table_and_gamma_1():
    ds = data("accuracy_vs_gamma")
    mean = acc(ds).mean("seed")
    for opt, label in (("momentum", "momentum weights"), ("adamw", "AdamW weights")):
        m = mean.sel(weight_optimizer=opt).values
        has("accuracy_vs_gamma", f"| {label} | " + " | ".join(f3(v) for v in m) + " |")
        raw = next(line for line in (COMMITTED / "README.md").read_text().splitlines()
                   if line.startswith(f"| {label} |"))
        bold = [i for i, c in enumerate(raw.split(" | ")[1:]) if "**" in c]
        assert bold == [int(np.argmax(m))], (label, raw)
    g1 = acc(ds, gamma=1.0)
    has("accuracy_vs_gamma",
        f"accuracy {span(g1.sel(weight_optimizer='momentum'))} with momentum, "
        f"{span(g1.sel(weight_optimizer='adamw'))} with AdamW")


def test_predicted_limit_against_measured():
    """The state-step limit predicted from the inference Hessian (pcdiag.figures.gamma.limit:
    its probe is stored beside each γ figure's runs) against the runs' run_status."""
    ds = data("accuracy_vs_gamma")
    lam0 = ds["probe_lambda_max"].isel(probe_step=0)
    assert float(lam0.max() - lam0.min()) == 0  # the same untrained net for both optimizers
    has("accuracy_vs_gamma", f"λ_max = {g2(lam0[0])} and γ_max = "
        f"{f3(ds['predicted_limit_init'][0])}")
    late = ds["probe_lambda_max"].isel(probe_step=slice(ds.sizes["probe_step"] // 2, None))
    cells = {}
    for opt, label in (("momentum", "momentum weights"), ("adamw", "AdamW")):
        c = ds.sel(weight_optimizer=opt)
        cells[opt] = (f"{label}: γ_max = {f3(c['predicted_limit'])} "
                      f"[{f3(c['predicted_limit_low'])}, {f3(c['predicted_limit_high'])}]")
    has("accuracy_vs_gamma", f"{cells['momentum']}, {cells['adamw']} (λ_max "
        f"{g2(late.sel(weight_optimizer='momentum').median())} and "
        f"{g2(late.sel(weight_optimizer='adamw').median())})")
    last = ds["probe_lambda_max"].isel(probe_step=-1)
    assert (last >= late.max("probe_step")).all()  # still rising at the end of the epoch
    has("accuracy_vs_gamma", f"(step {int(ds['probe_step'][-1])}: "
        f"{g2(last.sel(weight_optimizer='momentum'))} and "
        f"{g2(last.sel(weight_optimizer='adamw'))})")
    status = ds["run_status"]
    failing = [float(g) for g in ds["gamma"].values if (status.sel(gamma=g) != 0).any()]
    ok = [float(g) for g in ds["gamma"].values if (status.sel(gamma=g) == 0).all()]
    assert max(ok) < min(failing) and (status.sel(gamma=min(failing)) == 2).all()
    limits = ds["predicted_limit"]
    assert (max(ok) < limits).all() and (limits < min(failing)).all()
    has("accuracy_vs_gamma", f"between the last all-ok γ {f3(max(ok))} and the first "
        f"failing γ {f3(min(failing))}")
    share = max(ok) / limits
    has("accuracy_vs_gamma", f"γ = 0.3 is {f3(share.sel(weight_optimizer='momentum'))} of the "
        f"momentum limit and {f3(share.sel(weight_optimizer='adamw'))} of AdamW's")
    assert max(ok) == 0.3
    ratio = data("energy_ratio_vs_gamma")
    assert ratio["predicted_limit"].identical(limits)
    has("energy_ratio_vs_gamma", f"({f3(limits.sel(weight_optimizer='momentum'))} with momentum "
        f"weights, {f3(limits.sel(weight_optimizer='adamw'))} with AdamW, same probe)",
        f"at γ = 0.3, {f3(share.sel(weight_optimizer='momentum'))} of its limit")
    states = data("accuracy_vs_gamma_state_optimizer")
    assert np.isnan(float(states["predicted_limit"].sel(state_optimizer="adam")))
    has("accuracy_vs_gamma_state_optimizer",
        f"(AdamW weights: γ_max = {f3(states['predicted_limit'].sel(state_optimizer='sgd'))},")


def test_accuracy_vs_gamma_by_width_table():
    ds = figures.gamma.accuracy.with_bp_crossed(data("accuracy_vs_gamma_by_width"))
    mean = acc(ds).mean("seed")
    for width in ds["width"].values:
        cells = []
        for opt in ("momentum", "adamw"):
            pc = mean.sel(algorithm="pc", weight_optimizer=opt, width=width)
            best = int(np.argmax(pc.values))
            gamma = f"{float(ds['gamma'][best]):g}".replace("0.001", "1e-3").replace(
                "0.003", "3e-3")
            cells += [f"{f3(pc.values[best])} ({gamma})",
                      f3(mean.sel(algorithm="bp", weight_optimizer=opt, width=width)[0])]
        has("accuracy_vs_gamma_by_width", f"| {int(width)} | " + " | ".join(cells) + " |")
    small = mean.sel(algorithm="pc", weight_optimizer="momentum", gamma=1e-3).values
    has("accuracy_vs_gamma_by_width",
        "(γ = 1e-3: " + ", ".join(f3(v) for v in small) + " at",
        "all 18 BP runs ok")
    assert (ds["run_status"].sel(algorithm="bp") == 0).all()
    unstable = acc(ds, algorithm="pc", weight_optimizer="adamw", width=32, gamma=1.0).values
    has("accuracy_vs_gamma_by_width", f"{f3(unstable[0])} and {f3(unstable[2])} (AdamW, W = 32")


def test_accuracy_vs_gamma_state_optimizer_numbers():
    ds = data("accuracy_vs_gamma_state_optimizer")
    m = acc(ds).mean("seed")

    def pair(g):
        return f"{f3(m.sel(state_optimizer='adam', gamma=g))} vs " \
               f"{f3(m.sel(state_optimizer='sgd', gamma=g))}"
    seeds = acc(ds, state_optimizer="adam", gamma=0.1).values
    at_03 = acc(ds, state_optimizer="adam", gamma=0.3).values
    has("accuracy_vs_gamma_state_optimizer",
        f"({pair(0.01)} at 1e-2)", f"{pair(0.03)} at γ = 0.03", f"{pair(0.1)} at γ = 0.1",
        "(Adam seeds " + ", ".join(f3(v) for v in seeds[:2]) + f" and {f3(seeds[2])})",
        f"{f3(at_03.mean())} ({f3(at_03.min())}-{f3(at_03.max())}) vs "
        f"{f3(m.sel(state_optimizer='sgd', gamma=0.3))} at γ = 0.3")


def test_mechanism_norms():
    ds = data("mechanism")
    grad = layer_norm_summary(ds, "weight_grad_norm")
    rel = layer_norm_summary(ds, "relative_update")
    gm = grad["median"].sel(weight_optimizer="momentum")
    g0 = gm.sel(gamma=1e-3)
    has("mechanism",
        f"the first layer's gradient norm is {g2(g0.isel(layer=0))} against "
        f"{g2(g0.isel(layer=-1))} at the output (ratio "
        f"{g2(g0.isel(layer=0) / g0.isel(layer=-1))})",
        f"its relative update is "
        f"{g2(rel['median'].sel(weight_optimizer='momentum', gamma=1e-3).isel(layer=0))}",
        "(" + ", ".join(g2(gm.sel(gamma=g).isel(layer=0)) for g in (3e-3, 0.01, 0.03, 0.1))
        + " at γ = 3e-3 to 0.1)",
        f"({g2(gm.sel(gamma=0.1).isel(layer=0))} vs {g2(gm.sel(gamma=0.1).isel(layer=-1))} "
        "at 0.1)")
    ga = grad["median"].sel(weight_optimizer="adamw", gamma=1e-3)
    ra = rel["median"].sel(weight_optimizer="adamw")
    has("mechanism",
        f"(layer 1 / output {g2(ga.isel(layer=0) / ga.isel(layer=-1))} at γ = 1e-3)",
        "(" + ", ".join(g2(v) for v in ra.sel(gamma=1e-3).values) + " for layers 1-3 at "
        "γ = 1e-3; " + ", ".join(g2(v) for v in ra.sel(gamma=0.1).values) + " at γ = 0.1)")
    zeros = grad["zeros"].sel(weight_optimizer="momentum")
    samples = int(grad["samples"].sel(weight_optimizer="momentum").sum())
    z1 = zeros.sel(gamma=1.0)
    n1 = int(grad["samples"].sel(weight_optimizer="momentum", gamma=1.0, layer=1))
    has("mechanism",
        f"{int(zeros.sum())} of the {samples} final gradient samples are exactly 0 (layer 1: "
        f"{int(z1.sel(layer=1))} of {n1}, layer 2: {int(z1.sel(layer=2))} of {n1};")
    has("Figures you can trust",  # the README's opening list quotes the legend's count
        f"`mechanism`: {int(grad['zeros'].sum())} of {int(grad['samples'].sum()):,} gradient "
        "samples")


def test_learning_curves_epochs():
    ds = data("learning_curves")
    m = ds["test_accuracy"].mean("seed")
    epochs = ds.sizes["epoch"]
    assert epochs >= 10, "learning curves run at least 10 epochs"

    def ends(opt, g):
        v = m.sel(weight_optimizer=opt, gamma=g)
        return f"{f3(v.isel(epoch=0))} → {f3(v.isel(epoch=-1))}"
    mom = m.sel(weight_optimizer="momentum")
    assert (mom.idxmax("gamma") == 0.3).all(), "γ = 0.3 best after every epoch"
    gap = mom.sel(gamma=0.3) - mom.sel(gamma=1e-3)
    adam = m.sel(weight_optimizer="adamw")
    low = adam.isel(epoch=-1).sel(gamma=[g for g in ds["gamma"].values if g <= 0.03])
    last1 = ds["test_accuracy"].isel(epoch=-1).sel(gamma=1.0)
    has("learning_curves",
        f"γ = 0.3 is best after every epoch ({ends('momentum', 0.3)})",
        f"1e-3 worst among the stable steps ({ends('momentum', 1e-3)})",
        f"({f3(gap.isel(epoch=0))} after epoch 1, {f3(gap.isel(epoch=-1))} after epoch {epochs})",
        f"every γ ≤ 0.03 ends within {f3(low.max() - low.min())} ({span(low.values)} after "
        f"epoch {epochs})", f"γ = 0.1 a point lower ({f3(adam.isel(epoch=-1).sel(gamma=0.1))})",
        f"({f3(adam.sel(gamma=0.3).isel(epoch=1))} → {f3(adam.sel(gamma=0.3).isel(epoch=-1))}",
        f"accuracy after epoch {epochs} is {f3(last1.sel(weight_optimizer='momentum').mean())} "
        f"(all three momentum seeds) and {f3(last1.sel(weight_optimizer='adamw').mean())} (AdamW: "
        + ", ".join(f3(v) for v in last1.sel(weight_optimizer='adamw').values) + ")")
    assert (last1.sel(weight_optimizer="momentum").round(3) == 0.1).all()
    assert (adam.sel(gamma=0.3).isel(epoch=1) > adam.sel(gamma=0.3).isel(epoch=slice(2, None))
            ).all(), "γ = 0.3 with AdamW falls after the second epoch"


def test_learning_curves_pc_against_bp_at_the_validated_gamma():
    ds = data("learning_curves")
    assert (ds["bp_run_status"] == 0).all()
    names = {"momentum": "momentum", "adamw": "AdamW"}
    phrases = []
    for opt, name in names.items():
        v = curves.validated_vs_bp(ds, opt)
        assert v["every_seed_ok"]
        mean, low, high = v["difference"]
        assert low < 0 < high, "the README says PC matches BP: the interval includes 0"
        phrases.append(f"{name}, γ = {v['gamma']:g}: PC {f3(v['pc'][-1])}, BP {f3(v['bp'][-1])}, "
                       f"{'PC − BP ' if opt == 'momentum' else ''}{signed(mean)} [{signed(low)}, "
                       f"{signed(high)}]")
    mom, adam = curves.validated_vs_bp(ds, "momentum"), curves.validated_vs_bp(ds, "adamw")
    phrases.append(f"validation accuracy of PC (momentum) moved by {signed(mom['pc_gain'])} and "
                   f"of BP by {signed(mom['bp_gain'])} (AdamW: {signed(adam['pc_gain'])} and "
                   f"{signed(adam['bp_gain'])})")
    has("learning_curves", *phrases)


def test_accuracy_vs_gamma_pcx_numbers():
    ds = data("accuracy_vs_gamma_pcx")
    m = acc(ds).mean("seed")
    mom, adam = m.sel(weight_optimizer="momentum"), m.sel(weight_optimizer="adamw")
    top = acc(ds, gamma=64.0)
    has("accuracy_vs_gamma_pcx",
        f"({f3(mom.sel(gamma=0.064))} at batch-mean 0.064, {f3(mom.sel(gamma=0.64))} at 0.64, "
        f"best {f3(mom.max())} at {float(mom.idxmax()):g})",
        f"({f3(adam.sel(gamma=0.064))} at 0.064, {f3(adam.sel(gamma=6.4))} at 6.4, "
        f"{f3(adam.sel(gamma=19.2))} at 19.2)",
        f"momentum weights {f3(mom.sel(gamma=64.0))} (seeds "
        + ", ".join(f3(v) for v in top.sel(weight_optimizer="momentum").values) + ")",
        f"AdamW {f3(adam.sel(gamma=64.0))} ("
        + ", ".join(f3(v) for v in top.sel(weight_optimizer="adamw").values) + ")")
    plain = acc(data("accuracy_vs_gamma")).mean("seed")
    below = (m.sel(weight_optimizer="momentum").values[:-1]
             - plain.sel(weight_optimizer="momentum").values[:-1])
    assert f"{below.max():+.3f}" == "+0.011"
    has("accuracy_vs_gamma_pcx", f"at most {below.max():+.3f} against plain SGD states")


def test_energy_ratio_vs_gamma_medians():
    ds = data("energy_ratio_vs_gamma")
    r = median_ratio(ds)
    mom, adam = r.sel(weight_optimizer="momentum"), r.sel(weight_optimizer="adamw")
    has("energy_ratio_vs_gamma",
        f"(AdamW: E1/E2 = {g2(adam.sel(gamma=1e-3, layer=1))}, E2/E3 = "
        f"{g2(adam.sel(gamma=1e-3, layer=2))}; momentum: {g2(mom.sel(gamma=1e-3, layer=1))} and "
        f"{g2(mom.sel(gamma=1e-3, layer=2))})",
        f"(γ = 0.3: {g2(adam.sel(gamma=0.3, layer=1))} and {g2(adam.sel(gamma=0.3, layer=2))}; "
        f"γ = 1: {g2(adam.sel(gamma=1.0, layer=1))} and {g2(adam.sel(gamma=1.0, layer=2))})",
        f"median {g2(mom.sel(gamma=0.3, layer=1))},",
        f"so the median is {g2(mom.sel(gamma=1.0, layer=1))}")
    at_01 = r.sel(gamma=0.1).values
    has("energy_ratio_vs_gamma", f"({g2(at_01.min())}-{g2(at_01.max())} there)")
    raw = final_fraction(ds, 0.1)["energy_ratio"].isel(t=-1, layer=0).sel(
        weight_optimizer="momentum")
    assert int((raw.sel(gamma=0.3) > 1).sum()) == raw.sel(gamma=0.3).size == 27
    g1 = raw.sel(gamma=1.0)
    has("energy_ratio_vs_gamma",
        f"E1 is exactly 0 in {int((g1 == 0).sum())} of the {g1.size} final samples",
        f"while {int((g1 > 1).sum())} samples lie above 1 (up to {value(g1.max())})")


# --------------------------------------------------------------------------- deep, remedies


def test_accuracy_vs_depth_table_and_gaps():
    ds = data("accuracy_vs_depth")
    a = acc(ds)
    for variant, label in (("bp", "BP"), ("pc", "PC"), ("ipc", "iPC")):
        cells = row_cells("accuracy_vs_depth", f"| {label} |")
        assert len(cells) == ds.sizes["depth"]
        for cell, depth in zip(cells, ds["depth"].values):
            cell_is(cell, a.sel(variant=variant, depth=depth))
    for variant, label in (("pc", "PC's γ"), ("ipc", "iPC's γ")):
        cells = row_cells("accuracy_vs_depth", f"| {label} |")
        assert cells == depth_figure.selected_text(ds, variant).split(" / "), (label, cells)
        grid = ds["step_validation_accuracy"].sel(variant=variant).median("seed")
        assert (ds["selected_gamma"].sel(variant=variant) == grid.idxmax("gamma_grid")).all()
    assert_selection_ok_where_chosen(ds)

    def interval(comparison, depth):
        d = ds.sel(comparison=comparison, depth=depth)
        return (f"{signed(d['difference'])} [{signed(d['difference_low'])}, "
                f"{signed(d['difference_high'])}]")
    has("accuracy_vs_depth",
        "PC − BP: " + ", ".join(f"{interval('pc-bp', x)} at L = {x}" if x == 2 else
                                f"{interval('pc-bp', x)} at {x}" for x in (2, 4, 8, 16)),
        f"{interval('pc-bp', 32)} at 32: only at L = 32 does BP beat PC",
        "iPC − BP: " + ", ".join(interval("ipc-bp", x) for x in (2, 4, 8)),
        f"{interval('ipc-bp', 16)} at 16 and {interval('ipc-bp', 32)} at 32")
    low, high = ds["difference_low"], ds["difference_high"]
    beats = (high < 0) | (low > 0)
    assert beats.sel(comparison="pc-bp").values.tolist() == [False] * 4 + [True]
    assert beats.sel(comparison="ipc-bp").values.tolist() == [False] * 3 + [True, True]


#: energy_propagation's table rows, by variant.
ENERGY_PANELS = {"pc": "PC, T = 64", "pc_more_steps": "PC, T = 256", "epc": "ePC", "mupc": "μPC",
                 "precision": "PC + precision 0.5", "epc_recipe": "ePC (recipe)",
                 "mupc_recipe": "μPC (recipe)"}


def test_energy_propagation_energies_and_accuracy():
    ds = data("energy_propagation")
    numbers = energy_numbers(ds)
    assert [str(v) for v in ds["variant"].values] == list(ENERGY_PANELS)
    table = readme("energy_propagation")
    for variant, panel in ENERGY_PANELS.items():
        cells = [c.strip() for c in table.split(f"| {panel} | ")[1].split(" |")[0:9]]
        n = numbers[variant]
        assert float(cells[0]) == n["gamma"], (panel, cells[0])
        assert close(cells[3], n["E1"]) and close(cells[4], n["EL"]), (panel, cells, n)
        assert close(cells[7], n["validation"]) and close(cells[8], n["test"]), (panel, cells)


def assert_selection_ok_where_chosen(ds):
    """Every chosen step had every seed ok (1); where nothing was chosen (BP, a published
    step) selection_all_ok is NaN, as its validation grid."""
    chosen = ds["step_validation_accuracy"].notnull().any(["seed", "gamma_grid"])
    assert chosen.any() and not chosen.all()
    assert (ds["selection_all_ok"].where(chosen) == 1).sum() == chosen.sum()
    assert ds["selection_all_ok"].where(~chosen, 0).isnull().sum() == (~chosen).sum()


def test_energy_propagation_selection_and_paired_differences():
    """Each panel's step is the grid's best on the validation split (median over seeds, every
    run ok here); the README's paired intervals are the summary's."""
    ds = data("energy_propagation")
    assert (ds["run_status"] == 0).all()
    assert_selection_ok_where_chosen(ds)
    medians = ds["step_validation_accuracy"].median("seed")
    for variant in ("pc", "pc_more_steps", "epc", "mupc", "precision"):
        best = float(medians.sel(variant=variant).idxmax("gamma_grid"))
        assert float(ds["gamma"].sel(variant=variant)) == best, variant
    pc, more = medians.sel(variant="pc"), medians.sel(variant="pc_more_steps")
    has("energy_propagation",
        f"validation accuracy, median of seeds, {f3(pc.sel(gamma_grid=0.1))} against "
        f"{f3(pc.sel(gamma_grid=0.03))} at 0.03",
        f"best at γ = 0.03 ({f3(more.sel(gamma_grid=0.03))} against "
        f"{f3(more.sel(gamma_grid=0.1))} at 0.1)")
    diff = depth_energy.paired_differences(ds)
    def interval(pair):
        mean, low, high = diff[pair]
        return f"{signed(mean)} [{signed(low)}, {signed(high)}]"
    mu = diff["mupc", "mupc_recipe"][0]
    has("energy_propagation",
        f"it gains {value(mu * 100)} points of test accuracy over the recipe's step "
        f"(paired over seeds {interval(('mupc', 'mupc_recipe'))})",
        f"ePC's step matters little ({interval(('epc', 'epc_recipe'))} over its recipe's)",
        f"more steps {interval(('pc_more_steps', 'pc'))}, ePC {interval(('epc', 'pc'))}",
        f"μPC {interval(('mupc', 'pc'))}, precision {interval(('precision', 'pc'))}")
    for pair in [("pc_more_steps", "pc"), ("epc", "pc"), ("mupc", "pc"), ("precision", "pc")]:
        assert diff[pair][1] < 0 < diff[pair][2], ("the README says no remedy beats PC", pair)
    assert diff["mupc", "mupc_recipe"][1] > 0


def test_remedies_accuracy_table():
    ds = data("remedies_vs_depth")
    a = acc(ds)
    rows = {("mupc", "pc"): "| μPC | PC |", ("mupc", "remedy"): "| μPC | μPC |",
            ("mupc", "bp"): "| μPC | BP |", ("epc", "pc"): "| ePC | PC |",
            ("epc", "remedy"): "| ePC | ePC |", ("epc", "bp"): "| ePC | BP |"}
    for (recipe, variant), start in rows.items():
        cells = row_cells("remedies_vs_depth", start)
        assert len(cells) == ds.sizes["depth"]
        for cell, depth in zip(cells, ds["depth"].values):
            cell_is(cell, a.sel(recipe=recipe, variant=variant, depth=depth))
    has("remedies_vs_depth", "Selected steps (batch-mean) at L = 8 / 16 / 32 / 64: μPC-recipe PC "
        f"{rem.selected_text(ds, 'mupc', 'pc').split(' / ')[0]} at every depth",
        f"μPC {rem.selected_text(ds, 'mupc', 'remedy')}; ePC-recipe",
        f"PC {rem.selected_text(ds, 'epc', 'pc')}, ePC {rem.selected_text(ds, 'epc', 'remedy')}.")
    assert len(set(rem.selected_text(ds, "mupc", "pc").split(" / "))) == 1


def signed(x) -> str:
    """A value() marker with the README's explicit sign: '+0.598', '-0.062'."""
    return ("+" if float(x) >= 0 else "") + f3(x)


def interval(d) -> str:
    return (f"{signed(d['difference'])} [{signed(d['difference_low'])}, "
            f"{signed(d['difference_high'])}]")


def test_remedies_paired_differences_and_the_recipes_step():
    ds = data("remedies_vs_depth")
    d = ds.sel(recipe="mupc", comparison="remedy-pc")
    has("remedies_vs_depth", *(f"{interval(d.sel(depth=L))} at" for L in (8, 16, 32, 64)))
    assert int(d["difference_pairs"].sel(depth=64)) == 2  # "(2 pairs: one PC seed diverged)"
    d = ds.sel(recipe="mupc", comparison="remedy-bp")
    has("remedies_vs_depth", f"{interval(d.sel(depth=8))} at L = 8 (within seed noise)",
        *(interval(d.sel(depth=L)) for L in (16, 32, 64)))
    assert float(d["difference_high"].sel(depth=8)) > 0 > float(d["difference_high"].sel(depth=16))
    e = ds.sel(recipe="epc")
    has("remedies_vs_depth",
        f"ePC minus PC: {interval(e.sel(comparison='remedy-pc', depth=8))} at L = 8",
        f"ePC minus BP: {interval(e.sel(comparison='remedy-bp', depth=8))} at L = 8, "
        f"{interval(e.sel(comparison='remedy-bp', depth=16))} at 16")
    low, high = e["difference_low"].sel(comparison="remedy-bp"), e["difference_high"].sel(
        comparison="remedy-bp")
    assert not ((low > 0) | (high < 0)).any(), "'no depth where ePC beats BP or BP beats ePC'"
    pc8 = e.sel(variant="pc", depth=8)
    assert float(pc8["selected_gamma"]) == 8.0
    has("remedies_vs_depth",
        f"PC at its validated step (8, i.e. 0.125 per sample) reaches "
        f"{f3(pc8['test_accuracy'].isel(epoch=-1).mean())}, against "
        f"{f3(pc8['recipe_test_accuracy'].mean())} at the recipe's 0.5")


# --------------------------------------------------------------------------- conv


def test_accuracy_vs_depth_conv_table_and_gaps():
    ds = data("accuracy_vs_depth_conv")
    a = acc(ds)
    for alg, label in (("pc", "PC"), ("bp", "BP")):
        cells = row_cells("accuracy_vs_depth_conv", f"| {label} |")
        assert len(cells) == ds.sizes["network"] and all("[" in c for c in cells)
        for cell, network in zip(cells, ds["network"].values):
            cell_is(cell, a.sel(algorithm=alg, network=network))
    gap = (a.sel(algorithm="bp") - a.sel(algorithm="pc")).mean("seed") * 100
    assert [round(float(v)) for v in gap.values[1:]] == [11, 21, 39, 30]
    has("accuracy_vs_depth_conv", f"{value(gap.values[0])} point below BP on VGG-5",
        "11 on ResNet-10", "21 on VGG-7, 39 on VGG-9 and 30 on ResNet-18")


def test_energy_propagation_conv_energies():
    ds = data("energy_propagation_conv")
    def at_t(network):
        values = final_energy(ds.sel(network=network)).isel(t=-1).values
        return values[np.isfinite(values)][::-1]  # output first; VGG-5's padding dropped
    vgg, res = at_t("vgg5"), at_t("resnet18")
    has("energy_propagation_conv",
        "E_l at t = T is " + ", ".join(g2(v) for v in vgg) + " from the output down",
        "E_l at t = T is " + ", ".join(g2(v) for v in res[:4]) + " for nodes 10 to 7",
        f"and {g2(res[4:].max())} to {g2(res[4:].min())} beneath",
        f"test accuracy {f3(acc(ds, network='resnet18'))}; VGG-5's is ok, "
        f"{f3(acc(ds, network='vgg5'))}")


def test_energy_ratio_vs_gamma_conv_medians_and_accuracy():
    ds = data("energy_ratio_vs_gamma_conv")
    medians = ratio_medians(ds)
    r = medians["median"].squeeze()
    a = acc(ds).squeeze()
    mid = a.sel(gamma=[0.03, 0.1, 0.3]).values
    has("energy_ratio_vs_gamma_conv",
        f"E1/E2 from {g2(r.sel(layer=1, gamma=0.003))} at γ = 0.003 to "
        f"{g2(r.sel(layer=1, gamma=0.1))} at 0.1 and {g2(r.sel(layer=1, gamma=1.0))} at γ = 1",
        f"E4/E5 from {g2(r.sel(layer=4, gamma=0.003))} to {g2(r.sel(layer=4, gamma=1.0))}",
        f"{int(medians['zero'].sum())} of the {int(medians['samples'].sum())} ratio samples "
        "are exactly 0",
        f"from {f3(a.sel(gamma=0.003))} (γ = 0.003) to {span(mid)} (γ = 0.03-0.3)",
        f"E3/E4 = {value(r.sel(layer=3, gamma=1.0))}")


def test_deep_sentences():
    """update_decay's per-layer updates and accuracies, depth_gamma's and energy_propagation's
    accuracy sentences."""
    ds = data("update_decay")
    median = measures.update_profile(ds)["profile"].median("seed", skipna=True)
    words = []
    for depth in (4, 8):
        m = median.sel(depth=depth)
        words.append(f"L = {depth}: {g2(m.sel(layer=1))}, {g2(m.sel(layer=2))} at layer 2, "
                     f"{g2(m.sel(layer=depth))} at layer L")
    m16 = median.sel(depth=16)
    a = acc(ds).mean("seed")
    has("update_decay", *words,
        f"layer 1 moves {g2(m16.sel(layer=1))} of its size per step against "
        f"{g2(m16.sel(layer=16))} for the output layer",
        "Test accuracy " + " / ".join(f3(v) for v in a.values))
    dg = acc(data("depth_gamma")).mean("seed")
    at16 = dg.sel(depth=16, gamma=[0.01, 0.03, 0.1, 0.3]).values
    dgd = data("depth_gamma")
    bp = dgd["bp_test_accuracy"].isel(epoch=-1).mean("seed")
    assert (dgd["bp_run_status"] == 0).all()
    gap = bp.sel(depth=16) - dg.sel(depth=16, gamma=[0.01, 0.03, 0.1, 0.3])
    has("depth_gamma",
        f"BP with the same weights loses {value(100 * (bp.sel(depth=4) - bp.sel(depth=16)))} "
        f"points from L = 4 to 16 ({f3(bp.sel(depth=4))}, {f3(bp.sel(depth=8))},\n"
        f"{f3(bp.sel(depth=16))} at L = 4, 8, 16)".replace("\n", " "),
        f"PC stays {value(100 * gap.min())} to {value(100 * gap.max())} points below BP at "
        f"every stable γ ({span(at16)} against {f3(bp.sel(depth=16))})")
    has("depth_gamma", f"accuracy barely moves with γ ({span(at16)})",
        f"({f3(dg.sel(depth=16, gamma=0.3))} vs {f3(dg.sel(depth=4, gamma=0.3))} at γ = 0.3)")


def test_remedies_and_conv_sentences():
    ds = data("remedies_vs_depth")
    a = acc(ds).mean("seed")
    mu, bp = a.sel(recipe="mupc", variant="remedy"), a.sel(recipe="mupc", variant="bp")
    has("remedies_vs_depth",
        f"μPC loses {round(float(mu.sel(depth=8) - mu.sel(depth=64)) * 100)} points from "
        f"L = 8 to 64 ({f3(mu.sel(depth=8))} → {f3(mu.sel(depth=64))}; BP "
        f"{f3(bp.sel(depth=8))} → {f3(bp.sel(depth=64))})")
    conv = acc(data("accuracy_vs_depth_conv"), algorithm="pc", network="resnet10").values
    has("accuracy_vs_depth_conv",
        f"ResNet-10 seeds 0 and 1 ({f3(conv[0])}, {f3(conv[1])}; seed 2 learned",
        f"{f3(conv[2])})")
