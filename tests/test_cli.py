"""The `pcdiag` command line: train, sweep, info, extension commands, and one-line errors.

Runs `main([...])` in-process on a few hundred real Fashion-MNIST images (small, narrow nets
that share one compiled program), plus one real run of the console entry point.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from _tolerance import assert_runs_close

import pcdiag
from pcdiag.cli import app, cache, fields, main
from pcdiag.dataset import VOLATILE_ATTRS, config_of

ROOT = Path(__file__).resolve().parents[1]
REAL = Path(
    os.environ.get("PCDIAG_DATA") or ROOT.parent / "shared" / "data"
).resolve()
SMALL = ["--train-limit", "1000", "--test-limit", "500", "--width", "32"]
NUMBER = r"[-+]?(?:\d+\.?\d*(?:e[-+]?\d+)?|nan|inf)"

pytestmark = pytest.mark.skipif(
    not (REAL / "fashion-mnist").is_dir(), reason=f"no Fashion-MNIST under {REAL}"
)


@pytest.fixture(scope="module", autouse=True)
def real_data():
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PCDIAG_DATA", str(REAL))
        yield


def run_main(argv: list[str]) -> tuple[int, str, str]:
    """main(argv) with stdout and stderr captured (usable in module-scoped fixtures)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One small run made by `pcdiag train`: (path, exit code, stdout)."""
    path = tmp_path_factory.mktemp("train") / "run.nc"
    code, out, _ = run_main(["train", "--out", str(path), *SMALL, "--gamma", "0.05",
                             "--seed", "3", "--weight-lr", "0.002"])
    return path, code, out


def without_volatile(ds: xr.Dataset) -> xr.Dataset:
    ds = ds.copy()
    ds.attrs = {k: v for k, v in ds.attrs.items() if k not in VOLATILE_ATTRS}
    return ds


def numbers(line: str) -> list[float]:
    return [float(x) for x in re.findall(NUMBER, line.split(":", 1)[1], re.I)]


# --------------------------------------------------------------------------------------------
# train


def test_train_writes_a_run_whose_config_matches_the_flags(trained):
    path, code, out = trained
    assert code == 0
    ds = pcdiag.open_dataset(path)
    config = config_of(ds)
    assert (config.train_limit, config.test_limit, config.width) == (1000, 500, 32)
    assert (config.gamma, config.seed, config.weight_lr) == (0.05, 3, 0.002)
    assert config.depth == pcdiag.Config().depth  # untouched fields keep their defaults
    test_acc = float(ds["test_accuracy"][-1])
    assert test_acc > 0.3
    assert f"{test_acc:.4f}" in out
    assert f"{float(ds['train_accuracy'][-1]):.4f}" in out
    assert re.search(r"\d+\.\d steps/s", out) and "compile (apart):" in out
    assert f"saved: {path}" in out


def test_from_reruns_the_same_config_identically(trained, tmp_path):
    path, _, _ = trained
    again = tmp_path / "again.nc"
    code, _, _ = run_main(["train", "--from", str(path), "--out", str(again)])
    assert code == 0
    first, second = pcdiag.open_dataset(path), pcdiag.open_dataset(again)
    assert second.attrs["config"] == first.attrs["config"]
    # the same program on the same machine again: reproducible bit for bit
    xr.testing.assert_identical(without_volatile(first), without_volatile(second))


def test_precedence_defaults_from_config_file_flags(trained, tmp_path):
    """--from < --config < flags, field by field."""
    path, _, _ = trained
    toml = tmp_path / "cfg.toml"
    toml.write_text('# small run\nseed = 1\nweight_lr = 0.003\ntest_limit = 500\n')
    out = tmp_path / "p.nc"
    code, _, _ = run_main(["train", "--from", str(path), "--config", str(toml),
                           "--seed", "2", "--out", str(out)])
    assert code == 0
    config = config_of(pcdiag.open_dataset(out))
    assert config.gamma == 0.05  # from the run
    assert config.weight_lr == 0.003  # the file overrides the run
    assert config.seed == 2  # the flag overrides the file


def test_config_file_flat_or_config_table(tmp_path):
    flat = tmp_path / "flat.toml"
    flat.write_text('gamma = 0.2\nactivation = "tanh"\ntrain_limit = "none"\n')
    table = tmp_path / "table.toml"
    table.write_text('[config]\ngamma = 0.2\nactivation = "tanh"\ntrain_limit = "none"\n')
    expected = {"gamma": 0.2, "activation": "tanh", "train_limit": None}
    assert fields.read_toml(flat) == expected
    assert fields.read_toml(table) == expected


def test_flag_values_none_negative_numbers_and_bools():
    parser = app.build_parser()
    args = parser.parse_args(["train", "--train-limit", "none", "--no-record-inference",
                              "--depth", "5"])
    assert fields.explicit_fields(args) == {"train_limit": None, "depth": 5,
                                            "record_inference": False}
    args = parser.parse_args(fields.join_negative_values(["train", "--gamma", "-1e-3"]))
    assert args.gamma == -1e-3


# --------------------------------------------------------------------------------------------
# info


def test_info_prints_the_datasets_numbers(trained, capsys):
    path, _, _ = trained
    ds = pcdiag.open_dataset(path)
    assert main(["info", str(path)]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert any(re.fullmatch(r"\s*gamma\s*= 0\.05", line) for line in lines)
    assert "sweep axes: none" in out
    energy = ds["energy"].isel(step=-1, t=-1).values  # layer 1 first
    (e_line,) = [line for line in lines if line.strip().startswith("E_l:")]
    assert numbers(e_line) == pytest.approx(energy.tolist(), rel=1e-6)
    ratio = ds["energy_ratio"].isel(step=-1, t=-1).values
    ratio = ratio[np.isfinite(ratio)]
    (r_line,) = [line for line in lines if line.strip().startswith("E_l/E_l+1")]
    assert numbers(r_line) == pytest.approx([ratio.min(), ratio.max()], rel=1e-6)
    (acc_line,) = [line for line in lines if re.fullmatch(r"\s+1\s+\S+\s+\S+", line)]
    train_acc, test_acc = (float(x) for x in acc_line.split()[1:])
    assert train_acc == pytest.approx(float(ds["train_accuracy"][0]), abs=5e-5)
    assert test_acc == pytest.approx(float(ds["test_accuracy"][0]), abs=5e-5)
    assert "diverged_at: -1" in out
    assert "run status: ok" in out and "schema_version: 2" in out


def test_info_on_bp_runs_and_runs_without_inference_records(trained, tmp_path, capsys):
    ds = pcdiag.open_dataset(trained[0])
    bp = ds.copy(deep=True)
    for name in ("energy", "energy_total", "energy_ratio", "state_grad_norm"):
        bp[name][...] = np.nan
    bp.attrs["config"] = json.dumps(json.loads(ds.attrs["config"]) | {"algorithm": "bp"})
    pcdiag.save(bp, tmp_path / "bp.nc")
    no_t = ds.drop_dims("t")
    pcdiag.save(no_t, tmp_path / "no_t.nc")
    assert main(["info", str(tmp_path / "bp.nc")]) == 0
    assert "no energies (bp)" in capsys.readouterr().out
    assert main(["info", str(tmp_path / "no_t.nc")]) == 0
    out = capsys.readouterr().out
    assert "no energies (record_inference false)" in out and "test_acc" in out


# --------------------------------------------------------------------------------------------
# sweep


def test_sweep_has_a_dim_per_swept_flag_in_command_line_order(tmp_path, capsys):
    out = tmp_path / "sweep.nc"
    code = main(["sweep", "--gamma", "0.01,0.1", "--seed", "0,1", *SMALL, "--out", str(out)])
    assert code == 0
    printed = capsys.readouterr().out
    ds = pcdiag.open_dataset(out)
    assert ds["test_accuracy"].dims == ("gamma", "seed", "epoch")
    assert ds["gamma"].values.tolist() == [0.01, 0.1]
    assert ds["seed"].values.tolist() == [0, 1]
    assert config_of(ds).width == 32
    assert "mean of 2 seeds" in printed and "not ok: none" in printed
    assert "run status of 4 runs: 4 ok, 0 diverged, 0 inference_unstable, 0 collapsed" in printed
    for gamma in (0.01, 0.1):
        mean = float(ds["test_accuracy"].sel(gamma=gamma).isel(epoch=-1).mean())
        assert re.search(rf"^{gamma:g}\s+{mean:.4f}\s+0/2$", printed, re.M)

    assert main(["info", str(out)]) == 0
    info = capsys.readouterr().out
    assert "gamma = 0.01, 0.1" in info and "seed = 0, 1" in info
    assert len(re.findall(r"^  gamma=\S+ seed=\d: train", info, re.M)) == 4

    reversed_ = tmp_path / "reversed.nc"
    assert main(["sweep", "--seed", "0,1", "--gamma", "0.01,0.1", *SMALL,
                 "--out", str(reversed_)]) == 0
    other = pcdiag.open_dataset(reversed_)
    assert other["test_accuracy"].dims == ("seed", "gamma", "epoch")
    # the same executable with the runs in another order along the vmapped axis: held to the
    # bound for different programs (tests/_tolerance.py), coordinates and config exact
    assert_runs_close(other, ds, ("test_accuracy", "energy"))


def test_sweep_store_is_passed_on(tmp_path, monkeypatch, capsys):
    calls = []

    def with_store(config, *, progress=False, store=None, **axes):
        calls.append((store, list(axes)))
        raise KeyboardInterrupt

    monkeypatch.setattr(pcdiag, "sweep", with_store)
    code = main(["sweep", "--gamma", "0.01,0.1", *SMALL, "--store", str(tmp_path / "s")])
    assert code == 130
    assert calls == [(str(tmp_path / "s"), ["gamma"])]
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


def test_sweep_parses_lists_in_order():
    args = app.build_parser().parse_args(
        fields.join_negative_values(["sweep", "--seed", "0,1", "--gamma", "-1,0.1",
                                     "--width", "32", "--depth", "4,"]))
    assert list(fields.explicit_fields(args).items()) == [
        ("seed", [0, 1]), ("gamma", [-1.0, 0.1]), ("width", 32), ("depth", [4])]


# --------------------------------------------------------------------------------------------
# extension commands


def test_extension_commands_are_offered_only_when_their_module_has_the_hooks(monkeypatch):
    seen = []
    module = types.ModuleType("pcdiag.figures", "Make the figures.")
    module.configure_parser = lambda parser: parser.add_argument("--name", default="all")
    module.run_cli = lambda args: seen.append(args.name) or 0
    monkeypatch.setitem(sys.modules, "pcdiag.figures", module)
    monkeypatch.setitem(sys.modules, "pcdiag.speed", types.ModuleType("pcdiag.speed"))
    monkeypatch.setitem(sys.modules, "pcdiag.table1", types.ModuleType("pcdiag.table1"))
    assert set(app.load_extensions()) == {"figures"}  # speed, table1 lack the hooks
    assert main(["figures", "--name", "energy"]) == 0
    assert seen == ["energy"]
    assert app.load_extensions(("no_such_module",)) == {}


def test_missing_extension_is_not_a_command(monkeypatch, capsys):
    monkeypatch.setattr(app, "EXTENSIONS", {"no_such_module": "pcdiag.no_such_module"})
    assert main(["--help"]) == 0
    assert "no_such_module" not in capsys.readouterr().out
    assert main(["no_such_module"]) == 2
    assert "invalid choice" in capsys.readouterr().err


# --------------------------------------------------------------------------------------------
# bad input: exit 2, one line on stderr, no traceback


def write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def foreign_nc(tmp_path: Path) -> str:
    path = tmp_path / "foreign.nc"
    xr.Dataset({"x": ("a", np.arange(3.0))}).to_netcdf(path, engine="h5netcdf")
    return str(path)


BAD = {
    "unknown flag": (lambda p: ["train", "--bogus-flag", "1"], ["unrecognized", "--bogus-flag"]),
    "bad int": (lambda p: ["train", "--depth", "two"], ["--depth", "'two'", "int"]),
    "invalid value": (lambda p: ["train", *SMALL, "--gamma", "-1"], ["gamma", "-1"]),
    "unknown choice": (lambda p: ["train", *SMALL, "--activation", "sigmoid"],
                       ["activation", "sigmoid", "hard_tanh"]),
    "toml unknown key": (lambda p: ["train", "--config", write(p, "k.toml", "gama = 0.1\n")],
                         ["k.toml", "unknown", "gama"]),
    "toml wrong type": (lambda p: ["train", "--config", write(p, "t.toml", 'depth = "two"\n')],
                        ["t.toml", "depth", "int"]),
    "toml syntax": (lambda p: ["train", "--config",
                               write(p, "s.toml", "gamma = 0.1\nwidth = = 3\n")],
                    ["s.toml", "line 2"]),
    "missing config": (lambda p: ["train", "--config", str(p / "nope.toml")],
                       ["nope.toml", "no such"]),
    "missing from": (lambda p: ["train", "--from", str(p / "nope.nc")], ["nope.nc", "no such"]),
    "info foreign nc": (lambda p: ["info", foreign_nc(p)], ["foreign.nc", "not a pcdiag"]),
    "info missing": (lambda p: ["info", str(p / "missing.nc")], ["missing.nc", "no such"]),
    "missing data": (lambda p: ["train", *SMALL, "--data-dir", str(p / "nodata")],
                     ["data_dir", "nodata"]),
    "sweep without axis": (lambda p: ["sweep", *SMALL, "--gamma", "0.1"], ["comma"]),
    "no command": (lambda p: [], ["required"]),
}


@pytest.mark.parametrize("case", BAD, ids=list(BAD))
def test_bad_input_is_one_line_and_exit_2(case, tmp_path, capsys):
    make_argv, words = BAD[case]
    code = main(make_argv(tmp_path))
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert code == 2
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("pcdiag: error: ")
    assert "Traceback" not in captured.err and captured.out == ""
    for word in words:
        assert word in lines[0], (word, lines[0])


def test_help_exits_0(capsys):
    assert main(["train", "--help"]) == 0
    out = capsys.readouterr().out
    assert "--weight-lr" in out and "--no-record-inference" in out


# --------------------------------------------------------------------------------------------
# the console script, for real


@pytest.mark.slow  # a console-script process (~15 s); in-process CLI training stays default
def test_console_script_trains_on_real_fashion_mnist(tmp_path):
    """Twice, with the on-disk XLA cache in a fresh folder: the first run fills it with the
    run's compiled programs, the second reads them and gives the identical Dataset."""
    cache = tmp_path / "xla"
    env = dict(os.environ, PCDIAG_DATA=str(REAL), PCDIAG_XLA_CACHE=str(cache),
               PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    runs = []
    for name in ("first.nc", "second.nc"):
        out = tmp_path / name
        result = subprocess.run(
            [sys.executable, "-m", "pcdiag.cli", "train", "--train-limit", "2000",
             "--test-limit", "1000", "--epochs", "1", "--width", "32", "--out", str(out)],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
        )
        assert result.returncode == 0, result.stderr[-2000:]
        assert "steps/s" in result.stdout and str(out) in result.stdout
        if name == "first.nc":
            cached = sorted(p.name.split("-")[0] for p in cache.iterdir())
            assert {"jit__chunk", "jit__evaluate", "jit_init_state"} <= set(cached), cached
        runs.append(without_volatile(pcdiag.open_dataset(out)))
    assert float(runs[0]["test_accuracy"][-1]) > 0.5
    xr.testing.assert_identical(runs[0], runs[1])


@pytest.mark.slow  # a subprocess; the console-script test is default
def test_python_m_pcdiag_is_the_command(tmp_path):
    path = os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
    env = dict(os.environ, PYTHONPATH=path)
    result = subprocess.run([sys.executable, "-m", "pcdiag", "--version"], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == f"pcdiag {pcdiag.__version__}"


def test_compilation_cache_setting(tmp_path, monkeypatch):
    import jax

    monkeypatch.setenv("PCDIAG_XLA_CACHE", "off")
    assert cache.use_compilation_cache() is None
    before = jax.config.jax_compilation_cache_dir
    monkeypatch.setenv("PCDIAG_XLA_CACHE", str(tmp_path / "xla"))
    try:
        assert cache.use_compilation_cache() == tmp_path / "xla"
        assert jax.config.jax_compilation_cache_dir == str(tmp_path / "xla")
    finally:
        jax.config.update("jax_compilation_cache_dir", before)
    monkeypatch.delenv("PCDIAG_XLA_CACHE")
    monkeypatch.setenv("PCDIAG_CACHE", str(tmp_path / "user-cache"))
    try:
        assert cache.use_compilation_cache() == tmp_path / "user-cache" / "xla"
    finally:
        jax.config.update("jax_compilation_cache_dir", before)
