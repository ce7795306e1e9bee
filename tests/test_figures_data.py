"""The committed figure data are lean: each figures/NAME.nc holds what its figure draws and
what figures/README.md cites, none is over 2 MB, no two hold the same data, and two figures
that draw the same runs share one file (Figure.data_from), redrawn and remade through it."""

import argparse
import hashlib
import itertools
import shutil
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import xarray as xr  # noqa: E402
from test_figures import FakeSweep, no_sweep  # noqa: E402

import pcdiag  # noqa: E402
from pcdiag import figures  # noqa: E402
from pcdiag.figures import registry  # noqa: E402

COMMITTED = Path(__file__).resolve().parents[1] / "figures"
#: Every committed figure data file: figures/*.nc and figures/long/*.nc.
FILES = sorted(COMMITTED.glob("*.nc")) + sorted(COMMITTED.glob("long/*.nc"))
MAX_BYTES = 2_000_000

committed = pytest.mark.skipif(not FILES, reason="no committed figure data")
pytestmark = pytest.mark.usefixtures("clean_plot_state")  # tests/conftest.py


def fingerprint(path: Path) -> tuple:
    """Each data variable's name, dims and a hash of its values (attrs left out)."""
    with xr.open_dataset(path, engine="h5netcdf") as ds:
        return tuple(sorted(
            (str(name), da.dims, hashlib.sha256(np.ascontiguousarray(da.values).tobytes())
             .hexdigest()) for name, da in ds.data_vars.items()))


@committed
@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(COMMITTED)))
def test_no_figure_data_file_is_over_2_mb(path):
    assert path.stat().st_size <= MAX_BYTES, f"{path.name}: {path.stat().st_size / 1e6:.2f} MB"


@committed
def test_no_two_figure_data_files_hold_the_same_data():
    prints = {path: fingerprint(path) for path in FILES}
    same = [(a.name, b.name) for a, b in itertools.combinations(FILES, 2)
            if prints[a] == prints[b]]
    assert not same, f"duplicate data: {same}; let one figure read the other's (data_from)"
    # nor the same per-step, per-layer record (5 dims or more) under the same name: figures
    # of the same runs (accuracies, losses: small) may each keep what they draw
    big = {}
    for path, variables in prints.items():
        for name, dims, digest in variables:
            if len(dims) >= 5:
                big.setdefault((name, dims, digest), []).append(path.name)
    shared = {key[0]: names for key, names in big.items() if len(names) > 1}
    assert not shared, f"the same variable stored in several files: {shared}"


@committed
def test_every_file_belongs_to_a_registered_figure_and_every_figure_has_one():
    files = {figure.file for figure in figures.FIGURES.values()}
    assert {p.stem for p in COMMITTED.glob("*.nc")} == files
    assert figures.FIGURES["mechanism"].file == "accuracy_vs_gamma"


@committed
def test_lean_files_name_what_they_leave_out_and_still_validate():
    width = pcdiag.open_dataset(COMMITTED / "accuracy_vs_gamma_by_width.nc")
    assert {"weight_grad_norm", "update_norm"} <= set(width.attrs["records_left_out"].split())
    assert "algorithm" not in width.dims and width["bp_test_accuracy"].dims == (
        "weight_optimizer", "width", "seed", "epoch")
    heat = pcdiag.open_dataset(COMMITTED / "energy_propagation.nc")
    assert "state_grad_norm" not in heat and "energy_ratio" not in heat
    # the per-t energies: every t at the late steps, t = 0 and T before them
    early = heat["energy"].sel(variant="pc").isel(step=0)
    kept = early.notnull().any(["seed", "layer"])
    assert kept["t"].values[kept.values].tolist() == [0, 64]
    broken = width.drop_vars("test_accuracy")
    broken.attrs.pop("records_left_out")
    with pytest.raises(pcdiag.SchemaError, match="variable 'weight_grad_norm' missing"):
        pcdiag.validate(broken)


@committed
def test_a_figure_that_shares_a_file_redraws_from_it(tmp_path, monkeypatch, capsys):
    shutil.copy(COMMITTED / "accuracy_vs_gamma.nc", tmp_path)
    monkeypatch.setattr(pcdiag, "sweep", no_sweep)
    monkeypatch.setattr(figures.SweepSpec, "run", no_sweep)
    (written,) = figures.make_figures(only="mechanism", out=tmp_path, from_data=True,
                                      progress=False)
    assert written.nc == tmp_path / "accuracy_vs_gamma.nc"
    assert (tmp_path / "mechanism.png").read_bytes()[:4] == b"\x89PNG"
    assert not (tmp_path / "mechanism.nc").exists()
    parser = figures.configure_parser(argparse.ArgumentParser())
    assert figures.run_cli(parser.parse_args(["--only", "mechanism", "--out", str(tmp_path),
                                              "--from-data", "--no-progress"])) == 0
    assert figures.run_cli(parser.parse_args(["--only", "mechanism", "--out", str(tmp_path),
                                              "--summary"])) == 0
    assert "\nmechanism (profile default" in capsys.readouterr().out


@pytest.mark.slow  # trains a figure's sweep (~12 s); redrawing from its file stays default
def test_training_a_figure_that_shares_a_file_writes_the_others(tmp_path, monkeypatch):
    """`--only mechanism` writes accuracy_vs_gamma.nc, labelled as that figure's; made
    together, the shared sweeps run once and the file is written once."""
    fake = FakeSweep()
    monkeypatch.setattr(pcdiag, "sweep", fake)
    figures.make_figures("quick", only="mechanism", out=tmp_path, progress=False)
    ds = pcdiag.open_dataset(tmp_path / "accuracy_vs_gamma.nc")
    assert ds.attrs["figure"] == "accuracy_vs_gamma"
    assert ds.attrs["caption"] == figures.FIGURES["accuracy_vs_gamma"].caption(ds)
    assert (tmp_path / "mechanism.png").is_file() and not (tmp_path / "mechanism.nc").exists()
    calls = len(fake.calls)
    figures.make_figures("quick", only="mechanism,accuracy_vs_gamma", out=tmp_path / "both",
                         progress=False)
    assert len(fake.calls) == 2 * calls
    assert sorted(p.name for p in (tmp_path / "both").glob("*.nc")) == ["accuracy_vs_gamma.nc"]


def test_data_from_must_name_a_registered_figure(monkeypatch):
    monkeypatch.setattr(registry, "FIGURES", dict(registry.FIGURES))
    figure = figures.FIGURES["mechanism"]
    with pytest.raises(figures.FigureError, match="data_from='nope' must name a figure"):
        figures.register(registry.Figure(**{**figure.__dict__, "name": "m2",
                                            "data_from": "nope"}))
