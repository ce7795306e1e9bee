"""pcdiag.figures: the registry, shared sweeps, the files written, --from-data, the CLI, the
cost models, and the package's import structure."""

import argparse
import ast
import json
import math
import os
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from test_plot import synthetic  # noqa: E402

import pcdiag  # noqa: E402
from pcdiag import figures  # noqa: E402
from pcdiag.figures import cost, registry  # noqa: E402
from pcdiag.figures.generative.profile import DECODER  # noqa: E402
from pcdiag.plot.styling import panel_title  # noqa: E402

NAMES = ("energy_per_layer", "accuracy_vs_gamma", "energy_ratio_vs_gamma",
         "accuracy_vs_gamma_by_width", "accuracy_vs_gamma_state_optimizer")
ONLY = ",".join(NAMES)  # the five analysis figures (pcdiag/figures/depth.py adds four more)
REAL = Path(
    os.environ.get("PCDIAG_DATA") or Path(__file__).resolve().parents[2] / "shared" / "data"
).resolve()


def files_of(out: Path, name: str) -> list[Path]:
    return [out / f"{name}.{ext}" for ext in ("png", "pdf", "nc")]


class FakeSweep:
    """Stands in for pcdiag.sweep: a synthetic Dataset per call, calls counted."""

    def __init__(self):
        self.calls = []

    def __call__(self, config, *, progress=False, store=None, **axes):
        self.calls.append((config, {k: tuple(v) for k, v in axes.items()}, store))
        return synthetic(config, rng_seed=len(self.calls), **axes)


@pytest.fixture
def fake_sweep(monkeypatch):
    fake = FakeSweep()
    monkeypatch.setattr(pcdiag, "sweep", fake)
    return fake


@pytest.fixture(scope="module")
def fake_run(tmp_path_factory):
    """make_figures("quick") once on synthetic sweeps: (out folder, sweep calls, written)."""
    out = tmp_path_factory.mktemp("fake_figures")
    fake = FakeSweep()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(pcdiag, "sweep", fake)
        written = figures.make_figures("quick", only=ONLY, out=out, progress=False)
    return out, fake.calls, written


def no_sweep(*args, **kwargs):
    raise AssertionError("pcdiag.sweep was called: --from-data must not train")


def test_registry_holds_the_five_figures():
    assert tuple(figures.FIGURES)[: len(NAMES)] == NAMES  # the deep-network figures follow
    for figure in figures.FIGURES.values():
        assert figure.description and callable(figure.plot) and callable(figure.data)


def test_shared_sweeps_run_once_and_all_files_are_written(fake_run):
    tmp_path, calls, written = fake_run
    assert [w.name for w in written] == list(NAMES)
    # pc x {momentum, adamw}, bp x {momentum, adamw}, adam states, and the inference-Hessian
    # probe x {momentum, adamw} (pcdiag.figures.gamma.limit): seven distinct sweeps
    assert len(calls) == 7
    specs = {(c.algorithm, c.weight_optimizer, c.state_optimizer, c.hessian_samples > 0)
             for c, _, _ in calls}
    assert specs == {("pc", "momentum", "sgd", False), ("pc", "adamw", "sgd", False),
                     ("bp", "momentum", "sgd", False), ("bp", "adamw", "sgd", False),
                     ("pc", "adamw", "adam", False), ("pc", "momentum", "sgd", True),
                     ("pc", "adamw", "sgd", True)}
    lrs = {c.weight_optimizer: c.weight_lr for c, _, _ in calls}
    assert lrs == figures.WEIGHT_LR
    stores = [store for _, _, store in calls]
    assert all(Path(s).parent == tmp_path / ".store" for s in stores)
    assert len(set(stores)) == 7
    for name in NAMES:
        for path in files_of(tmp_path, name):
            assert path.is_file() and path.stat().st_size > 0, path
    assert plt.get_fignums() == []
    timings = json.loads((tmp_path / "timings.json").read_text())
    assert set(timings) == set(NAMES)


def test_saved_data_is_what_each_figure_plots(fake_run):
    tmp_path = fake_run[0]
    profile = figures.PROFILES["quick"]
    opened = {name: pcdiag.open_dataset(tmp_path / f"{name}.nc") for name in NAMES}
    dims = {name: [d for d in ds.dims if d not in ("step", "t", "layer", "epoch", "probe_step")]
            for name, ds in opened.items()}
    assert dims["energy_per_layer"] == ["seed"]
    assert float(opened["energy_per_layer"]["gamma"]) == profile.energy_gamma
    assert dims["accuracy_vs_gamma"] == ["weight_optimizer", "gamma", "seed"]
    assert "energy" not in opened["accuracy_vs_gamma"]
    assert dims["energy_ratio_vs_gamma"] == ["weight_optimizer", "gamma", "seed"]
    assert "energy_ratio" in opened["energy_ratio_vs_gamma"]
    assert dims["accuracy_vs_gamma_by_width"] == ["weight_optimizer", "width", "gamma", "seed"]
    assert dims["accuracy_vs_gamma_state_optimizer"] == ["state_optimizer", "gamma", "seed"]
    for name, ds in opened.items():
        assert ds.attrs["gamma_convention"] == "per_sample"
        assert ds.attrs["figure"] == name and ds.attrs["profile"] == "quick"
        assert ds.attrs["caption"] == figures.FIGURES[name].caption(ds)  # outside the image
        assert json.loads(ds.attrs["sweep"]) == {d: ds[d].values.tolist() for d in dims[name]}
    acc = opened["accuracy_vs_gamma"]
    assert acc["weight_lr"].values.tolist() == [1e-2, 1e-3]
    assert json.loads(acc.attrs["weight_optimizer_settings"])["momentum"]["momentum"] == 0.9
    width = opened["accuracy_vs_gamma_by_width"]  # PC over gamma; BP once, not along gamma
    assert width["bp_test_accuracy"].dims == ("weight_optimizer", "width", "seed", "epoch")
    assert "weight_grad_norm" not in width and "bp_weight_grad_norm" not in width
    crossed = figures.gamma.accuracy.with_bp_crossed(width)
    bp = crossed["test_accuracy"].sel(algorithm="bp")
    np.testing.assert_array_equal(bp.isel(gamma=0).values, bp.isel(gamma=-1).values)
    np.testing.assert_array_equal(crossed["test_accuracy"].sel(algorithm="pc").values,
                                  width["test_accuracy"].values)
    text = figures.summarise(tmp_path)
    for name in NAMES:
        assert name in text
    assert "E1/E2" in text and "best gamma" in text


def test_from_data_redraws_without_training(fake_run, tmp_path, monkeypatch):
    for name in NAMES:
        (tmp_path / f"{name}.nc").write_bytes((fake_run[0] / f"{name}.nc").read_bytes())
        (tmp_path / f"{name}.png").write_bytes(b"old")
    before = {name: (tmp_path / f"{name}.nc").stat().st_mtime_ns for name in NAMES}
    monkeypatch.setattr(pcdiag, "sweep", no_sweep)
    monkeypatch.setattr(figures.SweepSpec, "run", no_sweep)
    figures.make_figures("quick", only=ONLY, out=tmp_path, from_data=True, progress=False)
    for name in NAMES:
        assert (tmp_path / f"{name}.png").read_bytes()[:4] == b"\x89PNG"
        assert (tmp_path / f"{name}.nc").stat().st_mtime_ns == before[name]
    assert plt.get_fignums() == []


def test_from_data_without_data_names_the_missing_figures(tmp_path, monkeypatch):
    monkeypatch.setattr(pcdiag, "sweep", no_sweep)
    with pytest.raises(figures.FigureError, match="no data for energy_per_layer in"):
        figures.make_figures("quick", only="energy_per_layer", out=tmp_path, from_data=True)


def test_unknown_figure_names_the_known_ones(tmp_path, capsys):
    with pytest.raises(figures.FigureError, match="unknown figure name.*'nope'.*known figures: "
                       "energy_per_layer, accuracy_vs_gamma"):
        figures.make_figures("quick", only="accuracy_vs_gamma,nope", out=tmp_path)
    parser = figures.configure_parser(argparse.ArgumentParser())
    args = parser.parse_args(["--profile", "quick", "--only", "nope", "--out", str(tmp_path)])
    assert figures.run_cli(args) == 2
    err = capsys.readouterr().err
    assert "unknown figure name(s) 'nope'" in err and "accuracy_vs_gamma_state_optimizer" in err


def test_unknown_profile_is_named():
    with pytest.raises(figures.FigureError,
                       match="unknown profile 'huge'.*quick, default, long, paper"):
        figures.make_figures("huge")


def test_cli_only_and_from_data(fake_sweep, tmp_path, capsys):
    parser = figures.configure_parser(argparse.ArgumentParser())
    args = parser.parse_args(["--profile", "quick", "--only", "accuracy_vs_gamma",
                              "--out", str(tmp_path), "--no-progress"])
    assert figures.run_cli(args) == 0
    assert sorted(p.name for p in tmp_path.glob("*.*") if p.name != "timings.json") == [
        "accuracy_vs_gamma.nc", "accuracy_vs_gamma.pdf", "accuracy_vs_gamma.png"]
    assert "estimated total" in capsys.readouterr().err
    args = parser.parse_args(["--only", "accuracy_vs_gamma", "--out", str(tmp_path),
                              "--from-data", "--no-progress"])
    assert figures.run_cli(args) == 0
    args = parser.parse_args(["--out", str(tmp_path), "--summary"])
    assert figures.run_cli(args) == 0
    assert "weight_optimizer=adamw: test accuracy by gamma" in capsys.readouterr().out


def test_estimates_grow_with_the_profile_and_the_figures_asked_for(capsys):
    """Monotone, not pinned: the cost constants are measured on one CPU and retuned, so the
    test checks the order the profiles must have and that more work costs more."""
    quick, _ = figures.estimate("quick")
    default, text = figures.estimate("default")
    paper, _ = figures.estimate("paper")
    assert 0 < quick < default < paper, text
    assert "estimated total" in text
    some, _ = figures.estimate("default", only=ONLY)
    assert 0 < some < default
    more = replace(figures.PROFILES["default"], name="more",
                   seeds=tuple(figures.PROFILES["default"].seeds) + (100,))
    assert figures.estimate(more, only=ONLY)[0] > some
    parser = figures.configure_parser(argparse.ArgumentParser())
    assert figures.run_cli(parser.parse_args(["--estimate"])) == 0
    assert "estimated total" in capsys.readouterr().err


def test_profiles_follow_the_issue():
    quick, default, paper = (figures.PROFILES[n] for n in ("quick", "default", "paper"))
    assert quick.epochs == 1 and len(quick.seeds) == 1 and quick.train_limit <= 5000
    assert default.train_limit is None and len(default.seeds) >= 3
    assert default.gammas == (1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3, 1.0)
    assert paper.epochs == 8 and max(paper.widths) == 4096 and len(paper.seeds) == 3
    for p in (quick, default, paper):
        assert p.width in p.widths
        base = p.base()
        assert (base.depth, base.activation, base.output_energy, base.inference_steps) == (
            3, "hard_tanh", "ce", 8)


@pytest.mark.slow  # the paper profile's plan over fake sweeps of both activations (~7 s)
def test_paper_profile_is_pcx_fig5_grid_and_sweeps_both_activations(fake_sweep, tmp_path):
    paper = figures.PROFILES["paper"]
    assert (paper.widths, paper.gammas, paper.epochs, len(paper.seeds)) == (
        (512, 1024, 2048, 4096), (1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3, 1.0), 8, 3)
    assert paper.activations == ("hard_tanh", "leaky_relu")
    spec = figures.gamma.profile.pc_spec(paper, "momentum")
    assert dict(spec.axes)["activation"] == paper.activations and spec.programs == 8
    assert figures.gamma.profile.analysis_run(paper) == {"width": 512, "activation": "hard_tanh"}
    # a tiny two-activation profile through the by-width figure: one row per activation
    tiny = replace(figures.PROFILES["quick"], name="two", widths=(32, 128), gammas=(0.01, 0.1),
                   activations=("hard_tanh", "leaky_relu"))
    written = figures.make_figures(tiny, only="accuracy_vs_gamma_by_width,accuracy_vs_gamma",
                                   out=tmp_path, progress=False)
    assert sorted(w.name for w in written) == ["accuracy_vs_gamma", "accuracy_vs_gamma_by_width"]
    width = pcdiag.open_dataset(tmp_path / "accuracy_vs_gamma_by_width.nc")
    assert list(width["activation"].values) == ["hard_tanh", "leaky_relu"]
    acc = pcdiag.open_dataset(tmp_path / "accuracy_vs_gamma.nc")
    assert "activation" not in acc.dims and json.loads(acc.attrs["config"])[
        "activation"] == "hard_tanh", "the single-width figures show the first activation"
    fig = figures.FIGURES["accuracy_vs_gamma_by_width"].plot(width)
    titles = [panel_title(ax) for ax in fig.axes if ax.get_title(loc="left")]
    assert titles == ["momentum", "AdamW"] * 2  # short panel names; the rest: the caption
    panels = figures.gamma.accuracy.width_panels_text(width)
    assert panels.count(", hard_tanh") == 2 and panels.count(", leaky_relu") == 2
    assert panels in figures.FIGURES["accuracy_vs_gamma_by_width"].caption(width)
    with pytest.raises(ValueError, match="width=64 must be one of widths"):
        replace(tiny, width=64)
    with pytest.raises(ValueError, match="activations must name at least one"):
        replace(tiny, activations=())


def test_a_new_figure_is_one_registry_entry(fake_sweep, tmp_path, monkeypatch):
    monkeypatch.setattr(registry, "FIGURES", dict(registry.FIGURES))  # register() writes here
    figures.register(figures.Figure(  # the recipe in pcdiag.figures' docstring
        name="accuracy_adamw_only",
        description="test accuracy vs gamma, AdamW weights only",
        sweeps=lambda p: {"pc-adamw": figures.pc_spec(p, "adamw")},
        data=lambda p, r: figures.trim(figures.select(r["pc-adamw"], width=p.width),
                                       keep_t=False),
        plot=figures.plot_accuracy_vs_gamma,
        summary=figures.summary_accuracy_vs_gamma,
    ))
    with pytest.raises(figures.FigureError, match="already registered"):
        figures.register(registry.FIGURES["accuracy_adamw_only"])
    figures.make_figures("quick", only="accuracy_vs_gamma,accuracy_adamw_only", out=tmp_path,
                         progress=False)
    # pc-adamw is shared with accuracy_vs_gamma (which also runs its two Hessian probes)
    assert len(fake_sweep.calls) == 4
    assert (tmp_path / "accuracy_adamw_only.png").is_file()
    assert "all runs: test accuracy by gamma" in figures.summarise(tmp_path)


# --------------------------------------------------------------------------- cost models


def test_cost_of_a_sweep_over_algorithms_has_no_gaps(monkeypatch):
    """Every spec is priced by its own cost model from its config and axes: an algorithm a
    model has not measured (epc on the plain MLP) costs like pc instead of raising."""
    base = figures.PROFILES["quick"].base()
    mixed = figures.SweepSpec.make("mixed", base, algorithm=["pc", "epc", "bp"],
                                   gamma=[0.01, 0.1], seed=[0])
    assert (mixed.programs, mixed.runs) == (3, 2)
    for model in (cost.MLP, cost.RESIDUAL_MLP):
        spec = figures.SweepSpec.make("mixed", base, cost=model, algorithm=["pc", "epc", "bp"],
                                      gamma=[0.01, 0.1], seed=[0])
        assert spec == mixed and hash(spec) == hash(mixed), "the cost model is not identity"
        assert math.isfinite(spec.seconds) and spec.seconds > 0
    alone = {a: figures.SweepSpec.make(a, base.replace(algorithm=a), gamma=[0.01, 0.1],
                                       seed=[0]).seconds for a in ("pc", "epc", "bp")}
    assert mixed.seconds == pytest.approx(sum(alone.values()))
    assert alone["epc"] == alone["pc"] * cost.UNMEASURED_FACTOR
    assert alone["bp"] < alone["pc"]
    deeper = figures.SweepSpec.make("deeper", base, depth=[3, 6], inference_steps=[8, 16])
    times = [cost.MLP.program_seconds(c, 1) for c in deeper.program_configs()]
    assert times[0] < min(times[1:3]) and times[3] > max(times[1:3]), "depth and T both cost"
    monkeypatch.setattr(registry, "FIGURES", dict(registry.FIGURES))
    figures.register(figures.Figure(
        name="mixed_algorithms", description="x", sweeps=lambda p: {"mixed": mixed},
        data=lambda p, r: r["mixed"], plot=figures.plot_accuracy_vs_gamma))
    seconds, text = figures.estimate("quick", only="mixed_algorithms")
    assert seconds == mixed.seconds and "mixed" in text


def test_estimate_prices_each_family_with_its_model():
    quick = figures.PROFILES["quick"]
    for figure in figures.FIGURES.values():
        for spec in figure.sweeps(quick).values():
            # deep nets (residual or not, priced per layer-step): the deep and remedy figures
            deep = spec.config.skip or spec.name.startswith(("deep-", "remedy-"))
            model = cost.CONV if spec.config.net != "mlp" else (
                cost.RESIDUAL_MLP if deep else cost.MLP)
            if spec.config.task == "generation":  # decoders: T = 20 and inference at eval
                model = DECODER
            assert spec.cost is model, spec.name


# --------------------------------------------------------------------------- import structure

PACKAGE = Path(figures.__file__).parent


def module_names() -> list[str]:
    """Every module of pcdiag.figures as a dotted name below it ("gamma" for the package
    pcdiag/figures/gamma, "gamma.profile" for a module in it); not the package itself."""
    names = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        parts = parts[:-1] if parts[-1] == "__init__" else parts
        if parts and parts[-1] != "__main__":
            names.append(".".join(parts))
    return names


def module_path(name: str) -> Path:
    path = PACKAGE.joinpath(*name.split("."))
    return path / "__init__.py" if path.is_dir() else path.with_suffix(".py")


def figure_imports(path: Path) -> tuple[set[str], list[str]]:
    """The pcdiag.figures modules `path` imports ("" for the package itself), and the
    private names it imports from them."""
    edges, private = set(), []
    known = set(module_names())
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            edges |= {a.name.removeprefix("pcdiag.figures").lstrip(".") for a in node.names
                      if a.name.split(".")[:2] == ["pcdiag", "figures"]}
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            assert node.level == 0, f"{path.name}: relative import"
            if module != "pcdiag.figures" and not module.startswith("pcdiag.figures."):
                continue
            base = module.removeprefix("pcdiag.figures").lstrip(".")
            for a in node.names:
                child = f"{base}.{a.name}".lstrip(".")
                edges.add(child if child in known else base)
                if child not in known and a.name.startswith("_"):
                    private.append(f"{module}.{a.name}")
    return edges, private


FAMILIES = ("gamma", "depth", "remedies", "conv", "generative")


def test_submodules_form_no_cycle_and_import_no_private_names():
    modules = module_names()
    graph = {}
    for name in modules:
        edges, private = figure_imports(module_path(name))
        assert "" not in edges, f"{name} imports the package pcdiag.figures (its __init__)"
        assert not private, f"{name} imports private names {private}"
        graph[name] = edges
    order = []
    while graph:  # peel off the modules whose imports are all placed
        ready = sorted(n for n, edges in graph.items() if edges <= set(order))
        assert ready, f"import cycle among {sorted(graph)}"
        order += ready
        for n in ready:
            del graph[n]
    assert order.index("registry") > order.index("experiments") > order.index("cost")
    framework = [n for n in modules if n.split(".")[0] not in FAMILIES]
    for name in framework:
        imported = {e.split(".")[0] for e in figure_imports(module_path(name))[0]}
        assert imported.isdisjoint(FAMILIES), \
            f"{name}: only the package's __init__ imports the figure families"


SUBMODULES_ALONE = """
import importlib, json, sys, types
folder, names = sys.argv[1], sys.argv[2:]
for name in names:
    for key in [k for k in sys.modules if k.split(".")[:2] == ["pcdiag", "figures"]]:
        del sys.modules[key]
    package = types.ModuleType("pcdiag.figures")  # the package without its __init__
    package.__path__ = [folder]
    sys.modules["pcdiag.figures"] = package
    module = importlib.import_module("pcdiag.figures." + name)
    registry = sys.modules.get("pcdiag.figures.registry")
    print(name, json.dumps([sorted(getattr(registry, "FIGURES", {})),
                            list(getattr(module, "FIGURE_NAMES", []))]))
"""


@pytest.mark.slow  # a process per module; test_house imports every module alone
def test_each_submodule_imports_alone():
    """Each module of pcdiag.figures imports in a fresh interpreter with nothing but what
    it imports itself (the package's __init__, which imports them all, left out); none
    registers a figure (the package's __init__ registers the families' FIGURES_HERE)."""
    names = module_names()
    out = subprocess.run([sys.executable, "-c", SUBMODULES_ALONE, str(PACKAGE), *names],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    loaded = {k: json.loads(v) for k, v in
              (line.split(" ", 1) for line in out.stdout.strip().splitlines())}
    assert list(loaded) == names
    assert all(registered == [] for registered, _ in loaded.values())
    more = ("mechanism", "learning_curves", "accuracy_vs_gamma_pcx")  # test_figures_mechanism
    assert sorted(loaded["gamma"][1]) == sorted(NAMES + more)
    assert loaded["depth"][1] == ["accuracy_vs_depth", "energy_propagation", "update_decay",
                                  "depth_gamma", "bp_alignment"]
    assert [n for family in FAMILIES for n in loaded[family][1]] == list(figures.FIGURES)


#: The real thing, smaller than `quick` for the suite's time budget (quick: 56 s here).
SMALL = replace(figures.PROFILES["quick"], name="small", train_limit=1500, test_limit=500,
                gammas=(1e-3, 0.1), width=32, widths=(32,))


@pytest.mark.slow  # the whole small profile (~55 s); the default tier redraws from fake runs
@pytest.mark.skipif(not (REAL / "fashion-mnist").is_dir(), reason="Fashion-MNIST not found")
def test_small_profile_end_to_end(tmp_path, monkeypatch):
    """The real thing, small: train every figure's sweeps, then redraw from data alone."""
    monkeypatch.setenv("PCDIAG_DATA", str(REAL))
    start = time.perf_counter()
    written = figures.make_figures(SMALL, only=ONLY, out=tmp_path, progress=False)
    seconds = time.perf_counter() - start
    assert [w.name for w in written] == list(NAMES)
    for name in NAMES:
        for path in files_of(tmp_path, name):
            assert path.is_file() and path.stat().st_size > 0, path
    assert plt.get_fignums() == []
    ratio = pcdiag.open_dataset(tmp_path / "energy_ratio_vs_gamma.nc")
    median = pcdiag.plot.median_ratio(ratio)
    assert float(median.isel(gamma=0).max()) < 1e-2, "E_l/E_l+1 far below 1 at the smallest gamma"
    energy = pcdiag.open_dataset(tmp_path / "energy_per_layer.nc")["energy"].isel(t=-1)
    assert bool((energy.isel(layer=-1) > energy.isel(layer=0)).all()), "energy sits at the top"
    acc = pcdiag.open_dataset(tmp_path / "accuracy_vs_gamma.nc")["test_accuracy"]
    assert float(acc.max()) > 0.5
    monkeypatch.setattr(pcdiag, "sweep", no_sweep)
    figures.make_figures(SMALL, only=ONLY, out=tmp_path, from_data=True, progress=False)
    print(f"small profile: {seconds:.0f} s")
