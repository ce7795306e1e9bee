"""Light correctness tests of the speed benchmark's helpers (pcdiag.speed, no timing): FLOP
counting from HLO, the hand count, the PCX weight layout, the PCX venv recipe and harness (package
data), option handling, the energy check and the old names (pcdiag bench, pcdiag.bench)."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from pcdiag.speed import cli, device, flops, pcx, settings


def _hlo(fn, *args) -> str:
    return jax.jit(fn).lower(*args).compile().as_text()


def test_flops_of_one_matmul():
    a, b = jnp.ones((64, 48)), jnp.ones((48, 16))
    counted = flops.count_hlo_flops(_hlo(jnp.matmul, a, b))
    assert counted.flops == 2 * 64 * 48 * 16
    assert counted.dots == 1


def test_flops_of_transposed_contraction():
    # x.T @ y contracts over the leading dim of x: 2 * 20 * 30 * 50
    x, y = jnp.ones((50, 20)), jnp.ones((50, 30))
    counted = flops.count_hlo_flops(_hlo(lambda x, y: x.T @ y, x, y))
    assert counted.flops == 2 * 20 * 30 * 50


def test_flops_of_batched_matmul_count_the_batch():
    a, b = jnp.ones((5, 8, 12)), jnp.ones((5, 12, 4))
    counted = flops.count_hlo_flops(_hlo(jax.vmap(jnp.matmul), a, b))
    assert counted.flops == 2 * 5 * 8 * 12 * 4


def test_flops_inside_a_scan_are_multiplied_by_its_trip_count():
    def f(x, w):
        return jax.lax.scan(lambda h, _: (jnp.tanh(h @ w), None), x, None, length=7)[0]

    x, w = jnp.ones((16, 32)), jnp.ones((32, 32))
    counted = flops.count_hlo_flops(_hlo(f, x, w))
    assert counted.flops == 7 * 2 * 16 * 32 * 32
    assert counted.loops >= 1 and counted.unknown_trip_counts == 0


def test_nested_loops_multiply():
    def f(x, w):
        def outer(h, _):
            inner = jax.lax.scan(lambda g, _: (jnp.sin(g @ w), None), h, None, length=3)[0]
            return inner, None

        return jax.lax.scan(outer, x, None, length=4)[0]

    x, w = jnp.ones((8, 16)), jnp.ones((16, 16))
    assert flops.count_hlo_flops(_hlo(f, x, w)).flops == 4 * 3 * 2 * 8 * 16 * 16


def test_a_conditional_costs_its_most_expensive_branch():
    def f(p, x, w):
        return jax.lax.cond(p, lambda x: x @ w @ w, lambda x: x, x)

    x, w = jnp.ones((8, 16)), jnp.ones((16, 16))
    counted = flops.count_hlo_flops(_hlo(f, True, x, w))
    assert counted.flops == 2 * (2 * 8 * 16 * 16)


def test_hand_count_of_a_pc_step():
    # sizes [4, 3, 2], batch 5, T = 2: matmuls 2*5*4*3 = 120 (layer 1), 2*5*3*2 = 60 (layer 2)
    # forward init 180 + 2 steps x 2 x 60 + weight step (fwd 180, dW 180, dx 60) = 840
    assert flops.pc_step_flops([4, 3, 2], 5, 2) == 180 + 240 + 420


def test_flops_of_a_convolution_and_its_gradients():
    # XLA's own conv op (as on an accelerator): 2 x output elements x (3 x 3 x C_in)
    x, w = jnp.ones((4, 8, 8, 3)), jnp.ones((3, 3, 3, 5))

    def conv(x, w):
        return jax.lax.conv_general_dilated(x, w, (1, 1), ((1, 1), (1, 1)),
                                            dimension_numbers=("NHWC", "HWIO", "NHWC"))

    one = 2 * (4 * 8 * 8 * 5) * (3 * 3 * 3)
    assert flops.count_hlo_flops(_hlo(conv, x, w)).flops == one
    # forward, d/dx and d/dw of sum(conv): three convolutions of the same cost
    grads = jax.value_and_grad(lambda x, w: conv(x, w).sum(), argnums=(0, 1))
    assert flops.count_hlo_flops(_hlo(grads, x, w)).flops == 3 * one


def test_hand_count_of_a_vgg():
    # VGG-5 of width 2 on 28 x 28 x 1 padded to 32: convs 1->2 (32^2), 2->4 (16^2), 4->8
    # (8^2), 8->8 (4^2), then linear 8 * 2 * 2 -> 10; batch 3
    model = settings.Model("t", depth=5, width=2, T=1, net="vgg")
    assert model.channels == [2, 4, 8, 8]
    assert model.sizes == [784, 16 * 16 * 2, 8 * 8 * 4, 4 * 4 * 8, 2 * 2 * 8, 10]
    from pcdiag.nets.vgg import VGG, vgg_blocks

    net = VGG(vgg_blocks(5, 2))
    assert flops.layer_flops(net, 3) == [2 * 3 * 32 * 32 * 9 * 1 * 2, 2 * 3 * 16 * 16 * 9 * 2 * 4,
                                         2 * 3 * 8 * 8 * 9 * 4 * 8, 2 * 3 * 4 * 4 * 9 * 8 * 8,
                                         2 * 3 * 32 * 10]
    mm = [1.0, 10.0, 100.0]
    # init 111 + T=2 x 2 x 110 + weight step (fwd 111, dW 111, dx 110) = 883; bp 111 + 111 + 110
    assert flops.pc_step_flops_of(mm, 2) == 883 and flops.bp_step_flops_of(mm) == 332


@pytest.mark.slow  # compiles a VGG program
def test_the_vgg_program_builds_and_its_hlo_flops_match_the_hand_count():
    """pcdiag's compiled training chunk of a tiny VGG-5 (full recording): its dots and
    convolutions, trip counts included, are the hand count less one layer-1 prediction (the
    forward initialisation's and the weight step's are the same op on the same weights and
    batch: XLA computes it once), as for the MLPs (dev/speed/README.md)."""
    # T = 2: with T = 1 XLA also shares the one inference step's predictions with the forward
    # initialisation's (the same ops on the same states)
    model = settings.Model("t", depth=5, width=2, T=2, net="vgg")
    cfg = settings.bench_config(model, full=True, epochs=1, train_limit=256, test_limit=128,
                                data_dir=None, seed=0)
    from pcdiag.runs import load_device_data

    counted = flops.chunk_flops(cfg, load_device_data(cfg))
    layer1 = 2 * 128 * 32 * 32 * 9 * 1 * 2
    assert counted["hand_flops_per_step"] == flops.pc_step_flops_of(
        [layer1, 2 * 128 * 16 * 16 * 9 * 2 * 4, 2 * 128 * 8 * 8 * 9 * 4 * 8,
         2 * 128 * 4 * 4 * 9 * 8 * 8, 2 * 128 * 32 * 10], 2)
    assert counted["hlo_flops_per_step"] == counted["hand_flops_per_step"] - layer1
    assert counted["hlo_unknown_trip_counts"] == 0


@pytest.mark.slow  # compiles a VGG program
def test_pcx_vgg_weights_compute_pcdiags_predictions(tmp_path):
    """Saved for PCX (OIHW kernels on (C, H, W) samples, the linear layer over the (C, H, W)
    flattening), pcdiag's VGG weights give PCX's layers pcdiag's predictions."""
    from pcdiag.nets.vgg import VGG, vgg_blocks

    net = VGG(vgg_blocks(5, 2))
    params = jax.tree_util.tree_map(np.asarray, net.init(jax.random.PRNGKey(1)))
    path = tmp_path / "w.npz"
    pcx.save_pcx_vgg_weights(params, path)
    saved = np.load(path)
    x = jax.random.normal(jax.random.PRNGKey(2), (3, 32, 32, 1))
    mu1 = net.predict(params, 1, x)
    assert saved["W1"].shape == (2, 1, 3, 3)
    pcx_conv = jax.lax.conv_general_dilated(x.transpose(0, 3, 1, 2), saved["W1"], (1, 1),
                                            ((1, 1), (1, 1)))  # NCHW, OIHW as equinox
    pcx_mu1 = jax.lax.reduce_window(jnp.clip(pcx_conv + saved["b1"][:, None, None], -1, 1),
                                    -jnp.inf, jax.lax.max, (1, 1, 2, 2), (1, 1, 2, 2), "VALID")
    np.testing.assert_allclose(pcx_mu1.transpose(0, 2, 3, 1), mu1, atol=1e-6)
    last = jax.random.normal(jax.random.PRNGKey(3), (3, 2, 2, 8))  # x_4, (B, H, W, C)
    flat_chw = last.transpose(0, 3, 1, 2).reshape(3, -1)
    np.testing.assert_allclose(flat_chw @ saved["W5"].T + saved["b5"],
                               net.predict(params, 5, last), atol=1e-5)


def test_pcx_weights_are_saved_out_by_in(tmp_path):
    w1, b1 = np.arange(12, dtype=np.float32).reshape(4, 3), np.ones(3, np.float32)
    w2, b2 = np.arange(6, dtype=np.float32).reshape(3, 2), np.zeros(2, np.float32)
    path = tmp_path / "w.npz"
    pcx.save_pcx_weights([w1, b1, w2, b2], path)
    saved = np.load(path)
    assert saved["W1"].shape == (3, 4) and saved["W2"].shape == (2, 3)
    x = np.arange(8, dtype=np.float32).reshape(2, 4)
    np.testing.assert_array_equal(x @ w1 + b1, x @ saved["W1"].T + saved["b1"])


def test_pcx_venv_recipe_uses_the_pinned_requirements(tmp_path):
    venv = tmp_path / "pcx-venv"
    recipe = pcx.pcx_venv_recipe(venv, python="python3.11")
    assert recipe[0] == ["python3.11", "-m", "venv", str(venv)]
    vpy = str(venv / "bin" / "python")
    assert recipe[-1] == [vpy, "-m", "pip", "install", "-r", str(pcx.PCX_REQUIREMENTS)]
    pins = pcx.PCX_REQUIREMENTS.read_text().split()
    assert f"pcx=={pcx.PCX_VERSION}" in pins
    assert any(p.startswith("jax==0.4.") for p in pins)
    assert pcx.PCX_SCRIPT.is_file() and pcx.PCX_VGG_SCRIPT.is_file()


def test_the_pcx_harness_is_package_data():
    """The harness ships inside pcdiag (a wheel has it too: pyproject's package-data), found
    through importlib.resources, not through a source checkout's folders."""
    import pcdiag

    assert pcx.missing_harness_files() == []
    assert pcx.PCX_DIR == Path(pcdiag.__file__).parent / "speed" / "pcx_harness"
    assert not (pcx.PCX_DIR / "__init__.py").exists()  # scripts for PCX's venv, not modules


def test_a_missing_harness_is_reported_not_run(monkeypatch, tmp_path):
    monkeypatch.setattr(pcx, "HARNESS_FILES", (tmp_path / "pcx_mlp.py",))
    python, why = pcx.ensure_pcx(tmp_path / "venv")
    assert python is None
    assert why.startswith("the PCX harness is incomplete: ") and "reinstall pcdiag" in why


def test_pcx_venv_location_precedence(monkeypatch, tmp_path):
    monkeypatch.delenv(pcx.PCX_VENV_ENV, raising=False)
    monkeypatch.setenv("PCDIAG_CACHE", str(tmp_path / "cache"))
    assert pcx.resolve_pcx_venv(None) == tmp_path / "cache" / "pcx-venv"
    monkeypatch.setenv(pcx.PCX_VENV_ENV, str(tmp_path / "env"))
    assert pcx.resolve_pcx_venv(None) == tmp_path / "env"
    assert pcx.resolve_pcx_venv(str(tmp_path / "arg")) == tmp_path / "arg"


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    cli.configure_parser(parser)
    return parser.parse_args(list(argv))


def test_options_quick_and_no_pcx(monkeypatch):
    monkeypatch.setattr(device, "backend", lambda: "cpu")
    s = cli.settings_from_args(_args("--quick", "--no-pcx", "--out", "x.json"))
    assert s.quick and not s.pcx and s.out == "x.json"
    assert s.epochs == settings.QUICK["epochs"] >= 2
    assert set(s.train_limits) == set(s.models) == set(settings.QUICK["models"])
    assert all(limit % settings.BATCH == 0 for limit in s.train_limits.values())
    assert "vgg5-32" in s.models  # VGG-5 against PCX at a quarter of its channels
    full = cli.settings_from_args(_args())
    assert full.pcx and full.epochs >= 3 and "vgg5-128" in full.models
    # on a CPU only PCX's full-width VGG-5 is cut to a few batches
    assert full.train_limits == settings.CPU_FULL_LIMITS
    monkeypatch.setattr(device, "backend", lambda: "gpu")  # full epochs on an accelerator
    assert cli.settings_from_args(_args("--quick")).train_limits == {}
    assert cli.settings_from_args(_args()).train_limits == {}


def test_options_reject_bad_values():
    with pytest.raises(ValueError, match="--models: unknown model"):
        cli.settings_from_args(_args("--models", "mlp3-128,resnet"))
    with pytest.raises(ValueError, match="--epochs must be >= 2"):
        cli.settings_from_args(_args("--epochs", "1"))
    with pytest.raises(ValueError, match="--rounds must be >= 1"):
        cli.settings_from_args(_args("--rounds", "0"))


def test_recording_off_config_logs_once_per_epoch():
    model = settings.MODELS[0]
    off = settings.bench_config(model, full=False, epochs=2, train_limit=1280, test_limit=100,
                                data_dir=None, seed=0)
    assert not off.record_inference and off.log_every == off.steps_per_epoch == 10
    full = settings.bench_config(model, full=True, epochs=2, train_limit=1280, test_limit=100,
                                 data_dir=None, seed=0)
    assert full.record_inference and full.log_every == 1
    assert (full.batch_size, full.gamma, full.weight_decay) == (128, 0.1, 0.0)


def test_energy_comparison_tolerance():
    ref = np.array([[0.0, 0.0, 2.30], [0.01, 0.02, 2.10]])
    assert pcx.compare_energies(ref + 1e-7, ref)["ok"]
    bad = pcx.compare_energies(ref + np.array([[0, 0, 0], [0, 1e-3, 0]]), ref)
    assert not bad["ok"] and bad["max_abs_diff"] == pytest.approx(1e-3)
    assert not pcx.compare_energies(ref[:, :2], ref)["ok"]


@pytest.mark.slow  # subprocesses; the CLI tests run the console script
def test_the_package_face_and_python_m():
    """dev/speed/experiments/*.py and the sweep comparison's subprocess import these names;
    `python -m pcdiag.speed` is the same command as `pcdiag speed`, and the old module name
    (`python -m pcdiag.bench`) still runs it."""
    import pcdiag.speed

    for name in ("MODELS", "SWEEP_GAMMAS", "bench_config", "sweep_side", "configure_parser",
                 "run_cli", "main"):
        assert hasattr(pcdiag.speed, name), name
    for module, prog in (("pcdiag.speed", "pcdiag speed"), ("pcdiag.bench", "pcdiag bench")):
        done = subprocess.run([sys.executable, "-m", module, "--help"], capture_output=True,
                              text=True, timeout=120, cwd=Path(__file__).resolve().parents[1])
        assert done.returncode == 0, done.stderr[-2000:]
        assert done.stdout.startswith(f"usage: {prog}") and "--no-pcx" in done.stdout
        assert pcdiag.speed.__doc__.splitlines()[0] in done.stdout


def test_the_old_module_path_is_the_same_modules():
    """pcdiag.bench (deprecated for one release) re-exports pcdiag.speed and its modules."""
    with pytest.warns(DeprecationWarning, match="pcdiag.bench is now pcdiag.speed"):
        sys.modules.pop("pcdiag.bench", None)
        import pcdiag.bench
    from pcdiag.bench.pcx import PCX_VERSION
    from pcdiag.bench.settings import bench_config

    assert pcdiag.bench.run_bench is pcdiag.speed.run_bench
    assert bench_config is settings.bench_config and PCX_VERSION == pcx.PCX_VERSION
    assert pcdiag.bench.pcx is pcx


def test_the_old_command_name_is_an_alias(capsys):
    """`pcdiag bench` is `pcdiag speed` for one release: same options, a note on stderr."""
    from pcdiag.cli import main

    assert main(["bench", "--models", "no-such-model", "--out", "-"]) == 2
    err = capsys.readouterr().err
    assert "'pcdiag bench' is now 'pcdiag speed'" in err
    assert "--models: unknown model(s) no-such-model" in err
    assert main(["bench", "--help"]) == 0
    assert capsys.readouterr().out.startswith("usage: pcdiag speed")


def test_the_plain_jax_reference_computes_pcdiags_energies():
    """The speed benchmark's plain-JAX reference (pcdiag.speed.reference), started from
    pcdiag's initial state, draws the same batches and records the same per-t energies as
    pcdiag's full record: two epochs of a small network, the first step bit-identical, every
    step within the float32 bound for different programs (tests/_tolerance.py)."""
    import os

    import xarray as xr

    import pcdiag
    from pcdiag.runs import load_device_data
    from pcdiag.speed.reference import epoch_energies
    from tests._tolerance import assert_steps_close

    data_dir = os.environ.get("PCDIAG_DATA") or str(Path(__file__).resolve().parents[2] /
                                                     "shared" / "data")
    model = settings.Model("mlp3-32", depth=3, width=32, T=4)
    cfg = settings.bench_config(model, full=True, epochs=2, train_limit=320, test_limit=100,
                                data_dir=data_dir, seed=1).replace(batch_size=32)
    data = load_device_data(cfg)
    ds = pcdiag.train(cfg, data=data)
    ref = epoch_energies(cfg, data, epochs=2)
    assert ref.shape == ds.energy.shape == (20, 5, 3)
    np.testing.assert_array_equal(ref[0], ds.energy.values[0])
    config = dict(cfg.to_dict(), algorithm="pc")
    assert_steps_close(xr.DataArray(ref, dims=ds.energy.dims, coords=ds.energy.coords),
                       ds.energy, config, "energy")
    with pytest.raises(ValueError, match="speed benchmark's PC step only"):
        epoch_energies(cfg.replace(output_energy="se"), data)
