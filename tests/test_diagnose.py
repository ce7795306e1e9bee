"""pcdiag.diagnose and `pcdiag diagnose` on real Fashion-MNIST runs whose diagnosis is known
by construction: standard PC's error front moves one layer per inference iteration, so with
T = 2 on a 6-layer MLP layers 1-3 cannot be reached (their states never move: their energy
stays exactly 0), while ePC moves every layer's error at t = 1."""

import matplotlib
import numpy as np
import pytest

import pcdiag
from pcdiag import status
from pcdiag.cli import main

pytestmark = pytest.mark.usefixtures("clean_plot_state")

BASE = dict(dataset="fashion-mnist", depth=6, width=32, train_limit=512, test_limit=512,
            batch_size=64, epochs=1, inference_steps=2, gamma=0.1, log_every=1)


@pytest.fixture(scope="module")
def pc_short_T():
    return pcdiag.train(pcdiag.Config(**BASE))


@pytest.fixture(scope="module")
def sweep_pc_epc_bp():
    return pcdiag.sweep(pcdiag.Config(**BASE), algorithm=["pc", "epc", "bp"])


def test_short_inference_names_the_layers_the_error_cannot_reach(pc_short_T):
    diagnosis = pcdiag.diagnose(pc_short_T)
    run = diagnosis.run()
    # front after T = 2 iterations: layers 6 (clamped), 5 (t = 1), 4 (t = 2)
    assert np.isnan(run["reached_at"].sel(layer=[1, 2, 3])).all()
    np.testing.assert_array_equal(run["reached_at"].sel(layer=[4, 5, 6]), [2, 1, 0])
    assert int(run["layers_reached"]) == 3
    # nothing reaches layers 1-3, so their weights move only by AdamW's decay
    np.testing.assert_array_equal(run["stalled"].sel(layer=[1, 2, 3]), [1, 1, 1])
    text = diagnosis.report()
    assert "reached at T = 2: 3 of 6 layers (not reached: layers 1-3)" in text
    assert "T < the 5 iterations the error needs to reach layer 1" in text
    keys = [s.key for s in diagnosis.suggestions()]
    assert keys[:2] == ["not_reached", "stalled_adam"]
    assert "inference_steps >= 5, or algorithm='epc'" in diagnosis.suggestions()[0].action


def test_findings_of_a_sweep_keep_its_axes_and_compare_with_bp(sweep_pc_epc_bp):
    diagnosis = pcdiag.diagnose(sweep_pc_epc_bp)
    found = diagnosis.findings
    assert found["stalled_layers"].dims == ("algorithm",)
    assert found["energy_fraction"].dims == ("algorithm", "layer")
    bp = float(sweep_pc_epc_bp.test_accuracy.sel(algorithm="bp").isel(epoch=-1))
    np.testing.assert_array_equal(found["accuracy_bp"].values, [bp, bp, bp])
    # ePC moves every layer's error at t = 1; PC's front is still at layer 4 at T = 2
    epc = diagnosis.run(algorithm="epc")
    np.testing.assert_array_equal(epc["reached_at"].values, [1, 1, 1, 1, 1, 0])
    assert "not_reached" not in [s.key for s in diagnosis.suggestions(algorithm="epc")]
    assert int(found["layers_reached"].sel(algorithm="pc")) == 3
    # bp has no inference: no reached count, and only the stability rule can fire
    assert np.isnan(found["layers_reached"].sel(algorithm="bp"))
    assert "accuracy: " in diagnosis.report(algorithm="bp")


def test_sheet_draws_four_panels_with_the_verdict(pc_short_T, tmp_path):
    diagnosis = pcdiag.diagnose(pc_short_T)
    fig = diagnosis.sheet(tmp_path / "sheet.png")
    try:
        assert (tmp_path / "sheet.png").stat().st_size > 10_000
        titles = [ax.get_title(loc="left") for ax in fig.axes if ax.get_title(loc="left")]
        assert [t[:3] for t in titles] == ["(a)", "(b)", "(c)", "(d)"]
        assert any("not reached: layers 1-3" in t.get_text() for t in fig.texts)
    finally:
        matplotlib.pyplot.close(fig)


def test_jupyter_shows_the_text_and_the_sheet(pc_short_T):
    bundle = pcdiag.diagnose(pc_short_T)._repr_mimebundle_()
    assert "not reached: layers 1-3" in bundle["text/plain"]
    assert "data:image/png;base64," in bundle["text/html"]


def test_diverged_run_is_reported_with_no_counts():
    ds = pcdiag.train(pcdiag.Config(**{**BASE, "gamma": 50.0, "inference_steps": 4}))
    diagnosis = pcdiag.diagnose(ds)
    run = diagnosis.run()
    assert int(run["status"]) in (status.DIVERGED, status.UNSTABLE)
    if int(run["status"]) == status.DIVERGED:
        assert np.isnan(run["stalled_layers"]) and np.isnan(run["layers_reached"])
    assert diagnosis.suggestions()[0].key == "unstable"


def test_cli_prints_the_report_and_writes_the_sheet(pc_short_T, tmp_path, capsys):
    path = tmp_path / "run.nc"
    pcdiag.save(pc_short_T, path)
    assert main(["diagnose", str(path), "--png", str(tmp_path / "s.png")]) == 0
    out = capsys.readouterr().out
    assert "not reached: layers 1-3" in out and "what to try" in out
    assert (tmp_path / "s.png").exists()


def test_cli_rejects_a_run_selection_that_names_no_sweep_value(sweep_pc_epc_bp, tmp_path,
                                                               capsys):
    path = tmp_path / "sweep.nc"
    pcdiag.save(sweep_pc_epc_bp, path)
    assert main(["diagnose", str(path), "--run", "algorithm=ipc"]) == 2
    err = capsys.readouterr().err
    assert "--run algorithm=ipc: algorithm has no value ipc; its values are" in err
    assert main(["diagnose", str(path), "--run", "gamma=0.1"]) == 2
    assert "'gamma=0.1' must be DIM=VALUE with DIM one of the sweep dims" in capsys.readouterr().err
    assert main(["diagnose", str(path), "--run", "algorithm=epc"]) == 0
    assert "run: algorithm=epc" in capsys.readouterr().out


def test_selecting_a_dim_the_dataset_lacks_says_which_dims_it_has(pc_short_T):
    with pytest.raises(KeyError, match=r"not a sweep dim of this Dataset; its sweep dims are "
                                       r"none \(a single run\)"):
        pcdiag.diagnose(pc_short_T).run(gamma=0.1)


def test_readme_own_network_example_runs_and_ends_with_a_diagnosis(capsys, monkeypatch):
    """The README's "Your own network" code block, as written, on real Fashion-MNIST."""
    import re
    from pathlib import Path

    import pcdiag.nets

    monkeypatch.setattr(pcdiag.nets, "NETS", dict(pcdiag.nets.NETS))  # "mine" stays local
    readme = Path(__file__).resolve().parents[1] / "README.md"
    section = readme.read_text().split("### Your own network", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    assert code.rstrip().splitlines()[-1].startswith("print(pcdiag.diagnose(ds))")
    code = code.replace("train_limit=3000", "train_limit=512, test_limit=512")
    exec(compile(code, "README.md", "exec"), {})
    out = capsys.readouterr().out
    assert "pcdiag diagnosis of" in out and "layers stalled" in out
    assert "reached at T = 8: 2 of 2 layers" in out


def test_a_residual_net_near_chance_is_pointed_to_mupc_and_a_healthy_one_is_not():
    import xarray as xr

    from pcdiag.diagnosis.advice import suggestions

    run = xr.Dataset({"accuracy": 0.11, "chance": 0.1, "skip": True,
                      "parameterization_name": "sp", "algorithm_name": "pc"})
    (only,) = suggestions(run)
    assert only.key == "deep_residual" and "parameterization='mupc'" in only.action
    assert "0.110, near chance" in only.finding
    assert suggestions(run.assign(accuracy=0.6)) == []
    assert suggestions(run.assign(parameterization_name="mupc")) == []
    assert suggestions(run.assign(skip=False)) == []
