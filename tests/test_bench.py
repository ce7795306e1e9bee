"""Light correctness tests of the bench helpers (no timing): FLOP counting from HLO, the hand
count, the PCX weight layout, the PCX venv recipe, option handling and the energy check."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from pcdiag.bench import cli, device, flops, pcx, settings


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
    assert pcx.PCX_SCRIPT.is_file()


def test_pcx_venv_location_precedence(monkeypatch, tmp_path):
    monkeypatch.delenv(pcx.PCX_VENV_ENV, raising=False)
    assert pcx.resolve_pcx_venv(None) == pcx.DEFAULT_PCX_VENV
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
    full = cli.settings_from_args(_args())
    assert full.pcx and full.train_limits == {} and full.epochs >= 3
    monkeypatch.setattr(device, "backend", lambda: "gpu")  # full epochs on an accelerator
    assert cli.settings_from_args(_args("--quick")).train_limits == {}


def test_options_reject_bad_values():
    with pytest.raises(ValueError, match="--models: unknown model"):
        cli.settings_from_args(_args("--models", "mlp3-128,resnet"))
    with pytest.raises(ValueError, match="--epochs must be >= 2"):
        cli.settings_from_args(_args("--epochs", "1"))


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


def test_the_package_face_and_python_m():
    """benchmarks/experiments/*.py and the sweep comparison's subprocess import these names;
    `python -m pcdiag.bench` is the same command as `pcdiag bench`."""
    import pcdiag.bench

    for name in ("MODELS", "SWEEP_GAMMAS", "bench_config", "sweep_side", "configure_parser",
                 "run_cli", "main"):
        assert hasattr(pcdiag.bench, name), name
    done = subprocess.run([sys.executable, "-m", "pcdiag.bench", "--help"], capture_output=True,
                          text=True, timeout=120, cwd=Path(__file__).resolve().parents[1])
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.startswith("usage: pcdiag bench") and "--no-pcx" in done.stdout
    assert pcdiag.bench.__doc__.splitlines()[0] in done.stdout
