"""The mechanism, learning_curves and accuracy_vs_gamma_pcx figures: the plotted numbers held
against the raw data (the committed figures/accuracy_vs_gamma.nc, which mechanism reads: real
Fashion-MNIST runs), the data a tiny real sweep gives them, and the messages of rejected
inputs."""

import os
from dataclasses import replace
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

import pcdiag  # noqa: E402
from pcdiag import figures  # noqa: E402
from pcdiag.figures import gamma as family  # noqa: E402
from pcdiag.figures.gamma import learning_curves  # noqa: E402
from pcdiag.figures.gamma import mechanism as mechanism_figure  # noqa: E402
from pcdiag.figures.gamma.profile import curve_spec  # noqa: E402
from pcdiag.plot.updates import layer_norm_summary  # noqa: E402

COMMITTED = Path(__file__).resolve().parents[1] / "figures"
REAL = Path(
    os.environ.get("PCDIAG_DATA") or Path(__file__).resolve().parents[2] / "shared" / "data"
).resolve()
NEW = ("mechanism", "learning_curves", "accuracy_vs_gamma_pcx")

pytestmark = pytest.mark.usefixtures("clean_plot_state")  # tests/conftest.py


@pytest.fixture(scope="module")
def mechanism():
    return pcdiag.open_dataset(COMMITTED / f"{figures.FIGURES['mechanism'].file}.nc")


def final_steps(da, fraction=0.1):
    n = da.sizes["step"]
    return da.isel(step=slice(n - max(1, round(n * fraction)), n))


def test_registered_after_the_gamma_figures():
    names = list(figures.FIGURES)
    assert names[5:8] == list(NEW) and family.FIGURE_NAMES[-3:] == NEW


def test_mechanism_draws_the_median_relative_update_of_the_data(mechanism):
    fig = figures.FIGURES["mechanism"].plot(mechanism)
    axes = np.array(fig.axes[:6]).reshape(3, 2)
    # by hand: update_norm / weight_norm over the last 10% of logged steps, median over the
    # steps and seeds (numpy on the raw arrays), per gamma; momentum, layer 1
    # the healthy runs only (run_status ok): the failed ones are marked at the edge instead
    rel = final_steps(mechanism["update_norm"] / mechanism["weight_norm"])
    rel = rel.where(mechanism["run_status"] == 0)
    raw = rel.sel(weight_optimizer="momentum", layer=1).transpose("gamma", "seed", "step")
    values = raw.values.reshape(raw.sizes["gamma"], -1)
    expected = np.array([np.median(v[np.isfinite(v)]) if np.isfinite(v).any() else np.nan
                         for v in values])
    (line,) = [ln for ln in axes[2, 0].lines if ln.get_label() == "layer 1"]
    np.testing.assert_allclose(line.get_xdata(), mechanism["gamma"].values)
    np.testing.assert_allclose(line.get_ydata(), expected, rtol=1e-6)
    # the review's finding: with momentum weights at small gamma layer 1 moves only by weight
    # decay, lr * wd / (1 - momentum) = 1e-5; AdamW keeps it near the output layer's
    assert expected[0] == pytest.approx(1e-5, rel=0.05)
    adamw = layer_norm_summary(mechanism.sel(weight_optimizer="adamw"), "relative_update")
    first = adamw["median"].isel(gamma=0)
    assert 0.3 < float(first.sel(layer=1) / first.sel(layer=3)) < 10


def test_mechanism_marks_failed_runs_at_the_edge_instead_of_stretching_the_axis(mechanism):
    """The zero gradients of the data lie in runs that are not ok (gamma = 1, inference
    unstable): the norm rows fit the healthy runs and mark those runs on their bottom edge."""
    grad = final_steps(mechanism["weight_grad_norm"])
    ok = mechanism["run_status"] == 0
    assert int((grad == 0).sum()) > 0 and int((grad.where(ok) == 0).sum()) == 0
    median = layer_norm_summary(mechanism, "weight_grad_norm")["median"]
    assert float(median.sel(weight_optimizer="momentum", gamma=1.0, layer=2)) == 0  # data
    fig = figures.FIGURES["mechanism"].plot(mechanism)
    texts = [t.get_text() for legend in fig.legends for t in legend.get_texts()]
    failed = int((~ok).sum())
    assert f"inference unstable: {failed} of {ok.size} runs (norm rows: at the bottom edge)" \
        in texts
    assert not any("drawn at" in t for t in texts), "no zero among the healthy runs"
    healthy = grad.where(ok)
    lowest = float(healthy.where(healthy > 0).min())
    for panel in fig.axes[2:6]:  # the norm rows
        edge = [ln for ln in panel.lines if ln.get_label().endswith("_at_edge")]
        assert len(edge) == 1 and list(edge[0].get_xdata()) == [1.0]
        assert edge[0].get_marker() == "D" and not edge[0].get_clip_on()
    assert fig.axes[2].get_ylim()[0] > lowest / 10, "the axis is not stretched to the zeros"


def test_mechanism_summary_states_layer_1_against_the_output(mechanism):
    text = figures.FIGURES["mechanism"].summary(mechanism)
    med = layer_norm_summary(mechanism, "weight_grad_norm")["median"].sel(
        weight_optimizer="momentum", gamma=1e-3)
    ratio = float(med.sel(layer=1) / med.sel(layer=3))
    assert f"L1/output {ratio:.3g}" in text and "weight decay alone" in text
    assert ratio < 1e-3


def test_rejected_inputs_say_what_is_wrong(mechanism):
    one = mechanism.sel(weight_optimizer="adamw")
    with pytest.raises(ValueError, match="needs the sweep dims weight_optimizer and gamma"):
        mechanism_figure.plot_mechanism(one)
    with pytest.raises(ValueError, match=r"needs the variable\(s\) update_norm"):
        mechanism_figure.plot_mechanism(mechanism.drop_vars("update_norm"))
    with pytest.raises(ValueError, match="quantity='energy' is unknown; choose one of "
                                         "weight_grad_norm, relative_update"):
        layer_norm_summary(one, "energy")
    with pytest.raises(ValueError, match=r"final=0 is invalid: must be a fraction in \(0, 1\]"):
        layer_norm_summary(one, "relative_update", final=0)
    with pytest.raises(ValueError, match=r"needs the variable\(s\) train_loss"):
        learning_curves.plot_learning_curves(mechanism.drop_vars("train_loss"))


def test_estimates_grow_with_the_work():
    for name in ("learning_curves", "accuracy_vs_gamma_pcx"):
        quick, text = figures.estimate("quick", only=name)
        assert 0 < quick < figures.estimate("default", only=name)[0], text
    # learning_curves' cost follows its epochs and training subset
    default = figures.PROFILES["default"]
    spec = curve_spec(default, "adamw")
    double = curve_spec(replace(default, curve_epochs=2 * default.curve_epochs), "adamw")
    compile_s = figures.cost.COMPILE_S
    assert double.seconds - compile_s == pytest.approx(2 * (spec.seconds - compile_s))


TINY = replace(figures.PROFILES["quick"], name="tiny", train_limit=640, test_limit=500,
               gammas=(3e-3, 0.1), seeds=(0,), width=32, widths=(32,), curve_epochs=2,
               curve_train_limit=640, log_every=2)


def pcx_checks(pcx, gammas):
    """accuracy_vs_gamma_pcx's data are PCX's convention at the per-sample gammas x B."""
    assert pcx.attrs["gamma_convention"] == "batch_mean"
    cfg = figures.config_of(pcx)
    assert (cfg.state_optimizer, cfg.state_momentum) == ("momentum", 0.4)
    np.testing.assert_allclose(pcx["gamma"].values, np.array(gammas) * cfg.batch_size)
    assert list(pcx["weight_optimizer"].values) == ["momentum", "adamw"]
    fig = figures.FIGURES["accuracy_vs_gamma_pcx"].plot(pcx)
    texts = [t.get_text() for t in fig.findobj(matplotlib.text.Text)]
    assert "per-sample γ = γ / B (B = 64)" in texts and "batch-mean γ" in texts


def test_pcx_figure_is_pcx_convention_at_the_per_sample_gammas_times_b():
    pcx = pcdiag.open_dataset(COMMITTED / "accuracy_vs_gamma_pcx.nc")
    pcx_checks(pcx, figures.PROFILES["default"].gammas)
    # the per-sample figure's top axis is the mirror: gamma x B
    per_sample = pcdiag.open_dataset(COMMITTED / "accuracy_vs_gamma.nc")
    fig = figures.FIGURES["accuracy_vs_gamma"].plot(per_sample)
    assert "batch-mean γ = γ × B (B = 64)" in [t.get_text() for t in fig.findobj(
        matplotlib.text.Text)]


@pytest.mark.skipif(not (REAL / "fashion-mnist").is_dir(), reason="Fashion-MNIST not found")
@pytest.mark.slow  # a real sweep; the layout tests are default
def test_tiny_real_sweep_gives_learning_curves_their_data(monkeypatch):
    monkeypatch.setenv("PCDIAG_DATA", str(REAL))
    curves = figures.FIGURES["learning_curves"].experiment(TINY)
    assert curves.sizes["epoch"] == 2 and list(curves["gamma"].values) == [3e-3, 0.1]
    assert list(curves["weight_optimizer"].values) == ["momentum", "adamw"]
    assert figures.config_of(curves).n_train == 640
    assert curves.sizes["step"] == 2 * 640 // 64 // TINY.log_every
    acc = curves["test_accuracy"]
    assert float(acc.max()) > 0.4  # 20 steps of 64 real images: well above chance (0.1)
    fig = figures.FIGURES["learning_curves"].plot(curves)
    means = [ln.get_ydata() for ln in fig.axes[0].lines if ln.get_marker() == "o"]
    expected = acc.sel(weight_optimizer="momentum").mean("seed").values
    np.testing.assert_allclose(np.array(means), expected, rtol=1e-6)


@pytest.mark.slow
@pytest.mark.skipif(not (REAL / "fashion-mnist").is_dir(), reason="Fashion-MNIST not found")
def test_tiny_real_sweep_gives_the_pcx_figure_its_data(monkeypatch):
    monkeypatch.setenv("PCDIAG_DATA", str(REAL))
    pcx = figures.FIGURES["accuracy_vs_gamma_pcx"].experiment(TINY)
    pcx_checks(pcx, TINY.gammas)
    assert float(pcx["test_accuracy"].max()) > 0.4
