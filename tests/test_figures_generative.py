"""The generative figures (pcdiag.figures.generative): the data each keeps is what it draws,
and the numbers its summary and caption quote are recomputed from its .nc.

The fast test trains a tiny profile (400 real Fashion-MNIST images, two vmapped seeds, depths
3 and 4, six programs) through the figures' own sweeps and data functions, saves each .nc and
reads it back; the quick profile's run is the slow tier. The committed default figures
(figures/generative_*.nc) are held against their summaries and figures/README.md."""

import re
from pathlib import Path

import numpy as np
import pytest

import pcdiag
from pcdiag import status
from pcdiag.figures import FIGURES, Runner, estimate
from pcdiag.figures.generative import FIGURE_NAMES
from pcdiag.figures.generative import energy as gen_energy
from pcdiag.figures.generative import mse as gen_mse
from pcdiag.figures.generative import reconstructions as gen_recon
from pcdiag.figures.generative.profile import (
    DECODER,
    GENERATIVE_PROFILES,
    PCX_GAMMA,
    GenerativeProfile,
    generative_profile,
)
from pcdiag.figures.layout import short_number
from pcdiag.plot.generative import tile
from tests._tiny import DATA

COMMITTED = Path(__file__).resolve().parents[1] / "figures"
TINY = GenerativeProfile(
    name="tiny", description="test", train_limit=400, test_limit=100, epochs=1, seeds=(0, 1),
    gammas=(0.003, PCX_GAMMA, 0.1), algorithms=("pc",), depths=(3, 4), log_every=1,
    recon_train_limit=400, recon_epochs=1, shown=3)

pytestmark = pytest.mark.usefixtures("clean_plot_state")  # tests/conftest.py


def build(profile, out: Path) -> dict:
    """Each generative figure's data made through its sweeps, saved and read back."""
    runner, built = Runner(), {}
    for name in FIGURE_NAMES:
        figure = FIGURES[name]
        path = out / f"{name}.nc"
        pcdiag.save(figure.data(profile, runner(figure.sweeps(profile))), path)
        built[name] = pcdiag.open_dataset(path)
    return built


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PCDIAG_DATA", str(DATA))
        return build(TINY, tmp_path_factory.mktemp("generative"))


# ------------------------------------------------------------------------------ checks


def check_energy(ds) -> None:
    assert list(ds["depth"].values) == [3, 4][: ds.sizes["depth"]] or ds.sizes["depth"] >= 2
    assert ds.sizes["step"] == 2 and ds.sizes["t"] == 21  # first and last step, T = 20
    assert set(ds.data_vars) <= {"energy", "energy_total", "latent_grad_norm", "test_mse",
                                 "mean_image_mse", *status_vars()}
    # the free energy is the sum of the layers' energies (float32 sums: relative 1e-5)
    np.testing.assert_allclose(ds["energy"].sum("layer", skipna=True), ds["energy_total"],
                               rtol=1e-5)
    fig = FIGURES["generative_energy"].plot(ds)
    depths = list(ds["depth"].values)
    share = gen_energy.latent_share(ds)
    line_axes = fig.axes[2 * len(depths): 2 * len(depths) + 3]
    drawn = [ln for ln in line_axes[0].get_lines() if ln.get_linestyle() in ("-", "--")]
    expected = [share.sel(depth=d).isel(step=i).mean("seed").values
                for d in depths for i in range(2)]
    for line, values in zip(drawn, expected):  # the seed mean E_1/F, 0 never drawn on a log axis
        np.testing.assert_allclose(line.get_ydata(), np.where(values > 0, values, np.nan),
                                   rtol=1e-6)
    summary = FIGURES["generative_energy"].summary(ds)
    T = gen_energy.own_t(ds)
    for d in depths:
        last = share.sel(depth=d, t=T).isel(step=-1).values
        assert gen_energy._span(last) in summary
        ratio = gen_energy.decay_at_t(ds).sel(depth=d, k=int(d) - 1)
        e = ds["energy"].isel(step=-1).sel(depth=d, t=T).mean("seed")
        np.testing.assert_allclose(float(ratio), float(e.sel(layer=1) / e.sel(layer=int(d))),
                                   rtol=1e-6)
        assert f"L = {int(d)}:" in summary and short_number(float(ratio), 2) in summary


def status_vars():
    from pcdiag.figures.experiments import STATUS_VARS
    return STATUS_VARS


def check_mse(ds) -> None:
    assert ds["run_status"].dims == ("algorithm", "gamma", "seed")
    assert PCX_GAMMA in ds["gamma"].values
    fig = FIGURES["generative_mse_vs_gamma"].plot(ds)
    (ax,) = [a for a in fig.axes if a.get_ylabel()]
    mse = gen_mse.final_mse(ds)
    means = [ln for ln in ax.get_lines() if ln.get_marker() not in ("o", "None", "")
             or ln.get_linestyle() == "-"]
    for algorithm in ds["algorithm"].values:  # the mean line is the seeds' mean, every gamma
        want = mse.sel(algorithm=algorithm).mean("seed").values
        assert any(np.allclose(ln.get_ydata(), want, rtol=1e-6) for ln in means)
    chance = [ln for ln in ax.get_lines() if ln.get_linestyle() == ":"]
    assert chance and chance[0].get_ydata()[0] == pytest.approx(gen_mse.chance_mse(ds))
    summary = FIGURES["generative_mse_vs_gamma"].summary(ds)
    for algorithm in ds["algorithm"].values:
        for gamma in ds["gamma"].values:
            m = mse.sel(algorithm=algorithm, gamma=gamma)
            cell = (f"γ {gamma:.3g}: {short_number(float(m.mean()))} "
                    f"[{short_number(float(m.min()))}, {short_number(float(m.max()))}]")
            assert cell in summary, (cell, summary)
    failed = sum(n for k, n in status.counts(ds["run_status"]).items() if k != "ok")
    caption = FIGURES["generative_mse_vs_gamma"].caption(ds)
    assert (f"of {ds['run_status'].size} runs" in caption
            and (failed == 0) == ("none failed" in caption))


def check_reconstructions(ds, shown: int) -> None:
    assert ds["original"].dims == ("image", "pixel") and ds.sizes["image"] == shown
    assert ds["reconstruction"].dims == ("algorithm", "image", "pixel")
    assert list(ds["algorithm"].values) == ["pc", "bp"]
    # the stored test images are the data set's first test images (x / 255)
    _, test = pcdiag.data.load("fashion-mnist", None, 1, shown, "unit")
    np.testing.assert_allclose(ds["original"].values.astype(np.float32),
                               test.images.reshape(shown, -1), atol=5e-4)
    fig = FIGURES["generative_reconstructions"].plot(ds)
    (image,) = [im for ax in fig.axes for im in ax.images]
    rows = [ds["original"]] + [ds["reconstruction"].sel(algorithm=a)
                               for a in ds["algorithm"].values]
    stacked = np.concatenate([r.values.astype(np.float32) for r in rows]).reshape(-1, 28, 28)
    np.testing.assert_array_equal(image.get_array(), tile(stacked, len(rows)))
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert labels[0] == "test image" and labels[1].startswith("PC\nMSE ")
    classes = [t.get_text() for t in fig.axes[0].get_xticklabels()]
    assert classes == [gen_recon.FASHION_CLASSES[int(v)] for v in ds["label"].values]
    assert list(ds["label"].values) == list(test.labels[:shown])
    mse = gen_recon.shown_mse(ds)
    for a in ds["algorithm"].values:
        diff = (ds["reconstruction"].sel(algorithm=a).values.astype(np.float64)
                - ds["original"].values.astype(np.float64))
        assert float(mse.sel(algorithm=a)) == pytest.approx(np.mean(diff ** 2), rel=1e-12)
        text = f"{a}: shown {short_number(float(mse.sel(algorithm=a)))}"
        assert text in FIGURES["generative_reconstructions"].summary(ds)
        assert short_number(float(mse.sel(algorithm=a))) in \
            FIGURES["generative_reconstructions"].caption(ds)


# ------------------------------------------------------------------------------ tests


def test_profiles_and_the_estimate_know_the_family():
    assert generative_profile("default") is GENERATIVE_PROFILES["default"]
    with pytest.raises(ValueError, match="PCX_GAMMA"):
        GenerativeProfile(**{**TINY.__dict__, "gammas": (0.1,)})
    seconds, text = estimate("default", only=",".join(FIGURE_NAMES))
    assert "gen-pc-gamma" in text and "gen-reconstructions" in text
    assert seconds < 4 * 60  # the family's share of the default profile's budget
    quick, _ = estimate("quick", only=",".join(FIGURE_NAMES))
    assert quick < seconds
    # a deeper decoder costs more per run, bp's autoencoder less than pc's decoder
    base = GENERATIVE_PROFILES["default"].config()
    assert DECODER.program_seconds(base.replace(depth=8), 1) > DECODER.program_seconds(base, 1)
    assert DECODER.program_seconds(base.replace(algorithm="bp"), 1) < \
        DECODER.program_seconds(base, 1)


@pytest.mark.slow
def test_tiny_profile_data_and_drawing_agree(tiny):
    check_energy(tiny["generative_energy"])
    check_mse(tiny["generative_mse_vs_gamma"])
    check_reconstructions(tiny["generative_reconstructions"], TINY.shown)


@pytest.mark.slow  # the quick profile: six programs, about a minute
def test_quick_profile_data_and_drawing_agree(tmp_path, monkeypatch):
    monkeypatch.setenv("PCDIAG_DATA", str(DATA))
    built = build("quick", tmp_path)
    check_energy(built["generative_energy"])
    check_mse(built["generative_mse_vs_gamma"])
    check_reconstructions(built["generative_reconstructions"],
                          GENERATIVE_PROFILES["quick"].shown)


# ------------------------------------------------------------------------------ committed


def committed(name):
    path = COMMITTED / f"{name}.nc"
    if not path.is_file():
        pytest.skip(f"no committed {path.name}")
    return pcdiag.open_dataset(path)


@pytest.mark.parametrize("name", FIGURE_NAMES)
def test_committed_data_is_small_and_states_the_data(name):
    ds = committed(name)
    assert (COMMITTED / f"{name}.nc").stat().st_size <= 2 * 1024 ** 2
    {"generative_energy": check_energy, "generative_mse_vs_gamma": check_mse,
     "generative_reconstructions": lambda d: check_reconstructions(d, d.sizes["image"])}[name](ds)


def readme_section() -> str:
    text = (COMMITTED / "README.md").read_text()
    part = text.split("\n## Generative", 1)
    if len(part) < 2:
        pytest.skip("figures/README.md has no Generative section")
    return re.sub(r"\s+", " ", re.split(r"\n## ", part[1], maxsplit=1)[0].replace("**", ""))


def two(x: float) -> str:
    """A ratio as the README writes it: 2 significant digits, e-notation below 1e-3."""
    return f"{x:.1e}".replace("e-0", "e-") if abs(x) < 1e-3 else f"{x:#.2g}"


def span2(values) -> str:
    values = np.asarray(values, float).ravel()
    lo, hi = two(values.min()), two(values.max())
    return lo if lo == hi else f"{lo}–{hi}"


def test_readme_numbers_are_the_committed_data():
    text = readme_section()
    # generative_mse_vs_gamma: the table's rows are the seed means
    ds = committed("generative_mse_vs_gamma")
    mse = gen_mse.final_mse(ds).mean("seed")
    for algorithm, label in (("pc", "PC"), ("ipc", "iPC")):
        row = " | ".join(short_number(float(v)) for v in mse.sel(algorithm=algorithm).values)
        assert f"| {label} | {row} |" in text, (label, row)
    spread = float((gen_mse.final_mse(ds).max("seed") - gen_mse.final_mse(ds).min("seed")).max())
    assert spread <= 0.0015 and "within 0.0015" in text
    assert f"`run_status`: {int((ds['run_status'] == 0).sum())} of 24 ok." in text
    chance = short_number(gen_mse.chance_mse(ds), 2)
    assert f"chance\" is the mean training image's MSE ({chance})" in text
    # generative_energy: test MSEs, the energy decay away from the image, the latent's share
    ds = committed("generative_energy")
    scores = ds["test_mse"].isel(epoch=-1).mean("seed")
    for depth in ds["depth"].values:
        assert f"{short_number(float(scores.sel(depth=depth)))})" in text or \
            f"(test MSE {short_number(float(scores.sel(depth=depth)))})" in text
    decay = gen_energy.decay_at_t(ds)
    for k, name in ((1, "E_{L−1}/E_L"), (2, "E_{L−2}/E_L"), (3, "E_{L−3}/E_L"),
                    (4, "E_{L−4}/E_L")):
        values = decay.sel(k=k).values
        assert f"{name} = {span2(values[np.isfinite(values)])}" in text, (name, values)
    share = gen_energy.latent_share(ds).sel(t=gen_energy.own_t(ds))
    assert f"is {gen_energy._span(share.isel(step=0))} at step 0" in text
    for depth in ds["depth"].values:
        assert gen_energy._span(share.isel(step=-1).sel(depth=depth)) in text
    assert int((ds["latent_grad_norm"] == 0).sum()) == 0 and "no value is exactly 0" in text
    counts = status.counts(ds["run_status"])
    assert f"`run_status`: {counts['ok']} of 6 ok, {counts['collapsed']} collapsed." in text
    # generative_reconstructions
    ds = committed("generative_reconstructions")
    shown = gen_recon.shown_mse(ds)
    test = ds["test_mse"].isel(epoch=-1)
    assert (f"PC {short_number(float(shown.sel(algorithm='pc')))}, BP "
            f"{short_number(float(shown.sel(algorithm='bp')))} (all 2,000 test images: PC "
            f"{short_number(float(test.sel(algorithm='pc')))}, BP "
            f"{short_number(float(test.sel(algorithm='bp')))}") in text
