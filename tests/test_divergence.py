"""Diverging runs (gamma and weight_lr up to 10) finish, `diverged_at` names the first step
with a non-finite energy (loss for bp), and the sweep's other runs are unaffected."""

import os
from pathlib import Path

import jax
import numpy as np
import pytest
import xarray as xr
from _tolerance import assert_runs_close, assert_steps_close, run_config

import pcdiag
from pcdiag.algorithms import Hyper, Program, init_state, train_step
from pcdiag.engine.loop import epoch_order
from pcdiag.runs import load_device_data
from tests._tiny import DIVERGING, DIVERGING_AXES

ROOT = Path(__file__).resolve().parents[1]
DATA = os.environ.get("PCDIAG_DATA") or str(ROOT.parent / "shared" / "data")
# tests/_tiny.py's DIVERGING: linear activation, unbounded states, so gamma = weight_lr = 10
# with sgd states diverges (at step 5 of 8); hard_tanh bounds the predictions and does not
BASE, AXES = DIVERGING, DIVERGING_AXES


def check_diverged_at(ds: xr.Dataset, measured: str) -> int:
    """For every run: `measured` is finite before diverged_at, not at it, NaN after it.

    Returns how many runs diverged. Needs log_every=1 (every step logged).
    """
    assert np.array_equal(ds.step.values, np.arange(ds.sizes["step"]))
    value = ds[measured]
    other = [d for d in value.dims if d not in ds.diverged_at.dims and d != "step"]
    finite = np.isfinite(value).all(other)  # (sweep dims..., step)
    diverged = 0
    for index in np.ndindex(ds.diverged_at.shape):
        d = int(ds.diverged_at.values[index])
        ok = finite.values[index]
        label = dict(zip(ds.diverged_at.dims, (ds[n].values[i] for n, i in
                                               zip(ds.diverged_at.dims, index))))
        if d < 0:
            assert ok.all(), f"{label}: non-finite {measured} but diverged_at=-1"
            continue
        diverged += 1
        assert ok[:d].all(), f"{label}: non-finite {measured} before diverged_at={d}"
        assert not ok[d], f"{label}: {measured} finite at diverged_at={d}"
        assert np.isnan(value.values[index][d + 1:]).all(), f"{label}: values after {d}"
        for name in ("test_accuracy", "train_accuracy"):
            assert np.isnan(ds[name].values[index][-1]), f"{label}: {name} after divergence"
    return diverged


@pytest.fixture(scope="module")
def swept() -> xr.Dataset:
    return pcdiag.sweep(BASE, **AXES)


def test_diverged_at_is_the_first_non_finite_energy(swept):
    diverged = check_diverged_at(swept, "energy")
    assert diverged >= 1  # gamma = weight_lr = 10 with sgd states and weights
    assert int(swept.diverged_at.sel(state_optimizer="sgd", gamma=0.1, weight_lr=0.01)) == -1
    assert np.isfinite(swept.energy.sel(state_optimizer="sgd", gamma=0.1)).all()


def test_diverged_at_matches_a_python_loop_replay(swept):
    """One run replayed step by step with the uncompiled-loop trainer (same batches)."""
    cfg = BASE.replace(state_optimizer="sgd", gamma=10.0, weight_lr=10.0)
    prog, hyper = Program.from_config(cfg), Hyper.from_config(cfg)
    data = load_device_data(cfg)
    state = init_state(prog, hyper, jax.random.PRNGKey(cfg.seed))
    state, order = epoch_order(state, n_train=data.n_train, steps=cfg.steps_per_epoch,
                                batch=cfg.batch_size)
    step = jax.jit(train_step, static_argnums=(0, 5))
    energies = []
    for idx in order:
        y = jax.nn.one_hot(data.y_train[idx], 10, dtype=data.x_train.dtype)
        state, record = step(prog, hyper, state, data.x_train[idx], y, True)
        energies.append(np.asarray(record.energy))
    finite = [bool(np.isfinite(e).all()) for e in energies]
    first_bad = finite.index(False) if False in finite else -1
    run = swept.sel(state_optimizer="sgd", gamma=10.0, weight_lr=10.0)
    assert first_bad >= 1
    assert int(state.diverged_at) == first_bad == int(run.diverged_at)
    # another program (one jitted step per call against 8 vmapped runs in a scan): the steps
    # before the divergence within the bound for different programs (tests/_tolerance.py;
    # a linear network has no corners, and its blow-up scales values, not relative errors)
    before = run.energy.isel(step=slice(first_bad))
    assert_steps_close(before.copy(data=np.stack(energies[:first_bad])), before, run_config(run),
                       "energy")


def test_other_runs_are_unaffected_by_diverging_ones(swept):
    """The non-diverging runs equal the same runs swept without the diverging ones.

    Not bit for bit: XLA compiles a batch of 2 runs and one of 4 into different matmul and
    reduction kernels, so values may differ in the last float32 bits (seen here: bit for bit
    equal for 4 against 2 runs; up to 2.4e-7 apart for 8 against 4 runs at width 16): the
    bound for different programs (tests/_tolerance.py), diverged_at and coordinates exact.
    """
    alone = pcdiag.sweep(BASE, state_optimizer=["sgd"], gamma=[0.1], weight_lr=[0.01, 10.0])
    assert (alone.diverged_at == -1).all()
    mixed = swept.sel(state_optimizer=["sgd"], gamma=[0.1])
    assert_runs_close(mixed, alone)


def test_bp_diverged_at_is_the_first_non_finite_loss():
    cfg = BASE.replace(algorithm="bp", activation="linear", output_energy="se")
    ds = pcdiag.sweep(cfg, weight_lr=[0.01, 10.0])
    assert check_diverged_at(ds, "train_loss") == 1
    assert int(ds.diverged_at.sel(weight_lr=0.01)) == -1


@pytest.mark.slow  # all 9 optimizer pairs + ipc + bp
def test_every_optimizer_pair_survives_divergence():
    pairs = pcdiag.sweep(BASE, state_optimizer=["sgd", "momentum", "adam"],
                         weight_optimizer=["sgd", "momentum", "adamw"],
                         gamma=[0.1, 10.0], weight_lr=[0.01, 10.0])
    ipc = pcdiag.sweep(BASE.replace(algorithm="ipc"), state_optimizer=["sgd", "momentum", "adam"],
                       gamma=[0.1, 10.0], weight_lr=[0.01, 10.0])
    bp = pcdiag.sweep(BASE.replace(algorithm="bp"), weight_optimizer=["sgd", "momentum", "adamw"],
                      weight_lr=[0.01, 10.0])
    counts = {name: check_diverged_at(ds, measured)
              for name, ds, measured in (("pc", pairs, "energy"), ("ipc", ipc, "energy"),
                                         ("bp", bp, "train_loss"))}
    print("diverged runs:", counts)
    print(pairs.diverged_at.to_series().to_string())
    print(ipc.diverged_at.to_series().to_string())
    print(bp.diverged_at.to_series().to_string())
    assert counts["pc"] >= 1
