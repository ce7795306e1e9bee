"""The compiled trainer (pcdiag.loop, pcdiag.train, pcdiag.run) on real Fashion-MNIST.

- the scanned, vmapped, chunked trainer records what a plain Python loop of train_step over
  the same batches records (same key handling, same batch order);
- log_every keeps exactly the every-k-th records of each epoch;
- the same config and seed give the same Dataset, another seed another one;
- pc, ipc and bp learn; bp has no energies; a diverging run is a result, not a crash.

All runs share one network (784-64-64-10, hard_tanh, ce, T = 8, batch 32) so the compiled
step programs are reused.
"""

import json
import math
import os
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import xarray as xr
from _tolerance import assert_accuracy_close, assert_runs_close, assert_steps_close, run_config

import pcdiag
from pcdiag.algorithms import Hyper, Program, TrainState, init_state, train_step, weight_optimizer
from pcdiag.config import Config
from pcdiag.dataset import VOLATILE_ATTRS
from pcdiag.energy import output_loss
from pcdiag.engine.loop import epoch_order
from pcdiag.runs import load_device_data
from tests._nets import forward

DATA = Path(
    os.environ.get("PCDIAG_DATA") or Path(__file__).resolve().parents[2] / "shared" / "data"
)
NET = dict(depth=3, width=64, batch_size=32, inference_steps=8, seed=1)
#: one epoch on 3000 real training images: enough to learn
LEARN = Config(data_dir=str(DATA), train_limit=3000, test_limit=3000, **NET)
#: two short epochs (10 steps each) on the same network: for exact comparisons
SHORT = LEARN.replace(train_limit=320, epochs=2)
ALGORITHMS = ("pc", "ipc", "bp")
STEP_FIELDS = ("weight_grad_norm", "weight_norm", "update_norm", "train_loss")
PER_T = ("energy", "state_grad_norm")

step_fn = jax.jit(train_step, static_argnums=(0, 5))


@pytest.fixture(scope="module")
def learned():
    """pcdiag.train of LEARN for each algorithm (one epoch, 93 steps)."""
    return {alg: pcdiag.train(LEARN, algorithm=alg) for alg in ALGORITHMS}


@pytest.fixture(scope="module")
def short():
    return pcdiag.train(SHORT)


def python_loop(cfg: Config, max_steps: int | None = None):
    """The same training as pcdiag.train, written as a plain loop over train_step.

    Key handling as in TrainState: init_state splits the seed's key into (init, data);
    every epoch splits the data key again (pcdiag.loop.epoch_order) and permutes the
    training set with the sub-key; the last partial batch is dropped.
    """
    prog, hyper = Program.from_config(cfg), Hyper.from_config(cfg)
    data = load_device_data(cfg)
    state = init_state(prog, hyper, jax.random.PRNGKey(cfg.seed))
    steps = cfg.steps_per_epoch
    records, test_acc, train_acc = [], [], []
    for _ in range(cfg.epochs):
        state, order = epoch_order(state, n_train=data.n_train, steps=steps,
                                    batch=cfg.batch_size)
        for idx in np.asarray(order)[:max_steps]:
            y = jax.nn.one_hot(data.y_train[idx], 10)
            state, rec = step_fn(prog, hyper, state, data.x_train[idx], y, True)
            records.append(rec)
        if max_steps is None:
            test_acc.append(hand_accuracy(state.params, data.x_test[: data.n_test],
                                          data.y_test[: data.n_test], cfg.activation))
            train_acc.append(hand_accuracy(state.params, data.x_train[: data.n_train],
                                           data.y_train[: data.n_train], cfg.activation))
    stacked = {
        name: np.stack([np.asarray(getattr(r, name)) for r in records])
        for name in STEP_FIELDS + PER_T
    }
    return stacked, np.array(train_acc), np.array(test_acc), state


def hand_accuracy(params, images, labels, activation):
    logits = forward(params, images, activation)[-1]
    return float(np.mean(np.asarray(jnp.argmax(logits, -1)) == np.asarray(labels)))


def assert_records_match(ds, loop, steps):
    """The first `steps` records of the scanned, vmapped program equal the loop of single
    jitted steps within tests/_tolerance.py's bound (different programs round differently)."""
    config = run_config(ds)
    for name in STEP_FIELDS + PER_T:
        want = ds[name].isel(step=slice(steps))
        assert_steps_close(want.copy(data=loop[name][:steps]), want, config, name)


def test_scanned_trainer_equals_python_loop_bp(learned):
    """The first 30 of the epoch's 93 steps (the pc test below compares whole epochs)."""
    ds = learned["bp"]
    assert ds.sizes["step"] == LEARN.steps_per_epoch == 93
    loop, *_ = python_loop(LEARN.replace(algorithm="bp"), max_steps=30)
    assert_records_match(ds, loop, 30)


def test_scanned_trainer_equals_python_loop_ipc(learned):
    """ipc makes T = 8 adamw updates inside every step, each a step of arithmetic (the bound
    counts 8 a batch), and each through hard_tanh's corners: at step 14 of this run a
    relative change of 1e-7 in the weights changes layer 1's weight_grad_norm by 6e-5 (a
    corner switch), and the vmapped scan and the loop differ there by ~1e-3, inside the
    bound for different programs (tests/_tolerance.py)."""
    steps = 20
    loop, *_ = python_loop(LEARN.replace(algorithm="ipc"), max_steps=steps)
    assert_records_match(learned["ipc"], loop, steps)


def test_scanned_trainer_equals_python_loop_pc_over_two_epochs(short):
    """pc, two epochs: the second epoch's order comes from the key the first one left."""
    loop, train_acc, test_acc, state = python_loop(SHORT)
    assert short.step.values.tolist() == list(range(20))
    assert short.epoch_of_step.values.tolist() == [1] * 10 + [2] * 10
    assert_records_match(short, loop, 20)
    for name, hand in (("test_accuracy", test_acc), ("train_accuracy", train_acc)):
        assert_accuracy_close(short[name].copy(data=hand), short[name], run_config(short), name)
    assert int(state.step) == 20 and int(state.diverged_at) == -1
    # the two epochs visit the same 320 images in different orders
    prog, hyper = Program.from_config(SHORT), Hyper.from_config(SHORT)
    s = init_state(prog, hyper, jax.random.PRNGKey(SHORT.seed))
    s, first = epoch_order(s, n_train=320, steps=10, batch=32)
    _, second = epoch_order(s, n_train=320, steps=10, batch=32)
    first, second = np.asarray(first), np.asarray(second)
    assert sorted(first.ravel()) == sorted(second.ravel()) == list(range(320))
    assert not np.array_equal(first, second)


def test_log_every_keeps_every_kth_step_of_each_epoch(short):
    every = 3  # 10 steps an epoch: the last group of each epoch is partial
    ds = pcdiag.train(SHORT, log_every=every)
    kept = [s for epoch in (0, 10) for s in range(epoch, epoch + 10, every)]
    assert ds.step.values.tolist() == kept
    assert ds.epoch_of_step.values.tolist() == [1 + s // 10 for s in kept]
    assert ds.step.dtype == np.int64
    # another program (scans of 3 steps, 1 recorded): equal within the bound for different
    # programs, at the step numbers kept; the unlogged steps still trained, so the
    # accuracies after each epoch agree too
    assert_runs_close(ds, short.sel(step=kept), differ=("log_every",))


def _stable(ds):
    ds = ds.copy()
    for name in VOLATILE_ATTRS:
        ds.attrs.pop(name, None)
    return ds


def test_same_config_and_seed_give_identical_datasets(short):
    # the same executable run again on the same machine: reproducible bit for bit
    again = pcdiag.train(SHORT)
    xr.testing.assert_identical(_stable(again), _stable(short))
    assert set(VOLATILE_ATTRS) <= set(short.attrs)


def test_different_seeds_give_different_weights(short):
    other = pcdiag.train(SHORT, seed=2)
    assert not np.allclose(other.weight_norm.values[0], short.weight_norm.values[0])
    assert not np.allclose(other.energy.values, short.energy.values)
    assert json.loads(other.attrs["config"])["seed"] == 2
    assert json.loads(short.attrs["config"])["seed"] == 1


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_each_algorithm_learns_fashion_mnist_in_one_epoch(learned, algorithm):
    ds = learned[algorithm]
    assert int(ds.diverged_at) == -1
    assert ds.test_accuracy.values[0] > 0.7, float(ds.test_accuracy[0])
    assert ds.train_accuracy.values[0] > 0.7, float(ds.train_accuracy[0])
    # at initialisation the network guesses: CE of about ln(10)
    assert abs(float(ds.train_loss[0]) - math.log(10)) < 0.15, float(ds.train_loss[0])
    # and the loss falls: last 10 steps well below the first 10
    loss = ds.train_loss.values
    assert loss[-10:].mean() < 0.6 * loss[:10].mean()
    assert np.isfinite(ds.weight_norm.values).all()


def test_pc_energies_obey_the_physics_on_real_data(learned):
    ds = learned["pc"]
    energy = ds.energy.values
    assert (energy >= 0).all()
    assert (energy[:, 0, :-1] == 0).all(), "hidden energies are 0 at forward initialisation"
    np.testing.assert_allclose(energy[:, 0, -1], ds.train_loss.values, rtol=1e-5)
    # inference lowers F (gamma 0.1, sgd) and moves energy off the output node
    total = ds.energy_total.values
    assert (total[:, -1] < total[:, 0]).all()
    assert (energy[:, -1, -1] < energy[:, 0, -1]).all()
    assert np.isnan(ds.state_grad_norm.values[..., -1]).all()


def test_bp_records_no_energies_but_finite_weight_quantities(learned):
    ds = learned["bp"]
    for name in ("energy", "energy_total", "energy_ratio", "state_grad_norm"):
        assert name in ds and np.isnan(ds[name].values).all(), name
    for name in STEP_FIELDS:
        assert np.isfinite(ds[name].values).all(), name
    assert (ds.update_norm.values > 0).all()


def test_depth_one_pc_is_backprop():
    """With no free node, F is the output loss: pc's weight step is bp's, exactly."""
    cfg = Config(depth=1, batch_size=8, train_limit=64, inference_steps=3)
    prog_pc, prog_bp = Program.from_config(cfg), Program.from_config(cfg.replace(algorithm="bp"))
    hyper = Hyper.from_config(cfg)
    state = init_state(prog_pc, hyper, jax.random.PRNGKey(0))
    x0 = jnp.asarray(np.random.default_rng(0).standard_normal((8, 784)), jnp.float32)
    y = jax.nn.one_hot(jnp.arange(8) % 10, 10)
    new_pc, rec_pc = step_fn(prog_pc, hyper, state, x0, y, True)
    new_bp, rec_bp = step_fn(prog_bp, hyper, state, x0, y, True)
    for a, b in zip(jax.tree_util.tree_leaves(new_pc.params),
                    jax.tree_util.tree_leaves(new_bp.params)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-6, atol=1e-8)
    for name in STEP_FIELDS:
        np.testing.assert_allclose(np.asarray(getattr(rec_pc, name)),
                                   np.asarray(getattr(rec_bp, name)), rtol=1e-5, err_msg=name)
    # the single energy is the output loss at every t; there is no state to move
    loss = float(jnp.mean(output_loss(forward(state.params, x0, "hard_tanh")[-1], y, "ce")))
    np.testing.assert_allclose(np.asarray(rec_pc.energy)[:, 0], loss, rtol=1e-6)
    assert np.isnan(np.asarray(rec_pc.state_grad_norm)).all()


def test_diverging_inference_is_recorded_not_raised(short):
    ds = pcdiag.train(SHORT, gamma=1e4)  # sgd state steps of 1e4: errors grow 1e4-fold a step
    assert int(ds.diverged_at) == 0
    assert ds.diverged_at.dtype == np.int64
    assert not np.isfinite(ds.energy.values[0]).all()  # the step that diverged
    for name in STEP_FIELDS + PER_T:
        assert np.isnan(ds[name].values[1:]).all(), name
    assert np.isnan(ds.test_accuracy.values).all() and np.isnan(ds.train_accuracy.values).all()
    assert int(short.diverged_at) == -1
    pcdiag.validate(ds)


def test_divergence_mid_training_keeps_the_steps_before_it():
    """Linear regression (bp, depth 1, squared error) by sgd at weight_lr 0.1 blows up after
    a dozen steps; the steps before are kept, the one that diverged shows the non-finite
    loss, later ones are NaN, and only accuracies evaluated after the divergence are NaN."""
    ds = pcdiag.train(SHORT, depth=1, algorithm="bp", output_energy="se",
                      weight_optimizer="sgd", weight_lr=0.1)
    at = int(ds.diverged_at)
    assert 10 < at < 20, at  # in the second epoch for this seed
    loss = ds.train_loss.values
    assert np.isfinite(loss[:at]).all() and not np.isfinite(loss[at])
    assert np.isnan(loss[at + 1 :]).all()
    assert np.isfinite(ds.weight_norm.values[:10]).all()
    assert np.isnan(ds.weight_norm.values[at + 1 :]).all()
    assert np.isfinite(ds.test_accuracy.values[0]) and np.isnan(ds.test_accuracy.values[1])


def test_diverged_at_counts_weight_steps_from_the_state():
    """train_step sets diverged_at to the step counter of the first non-finite step and
    keeps it afterwards."""
    cfg = Config(depth=1, batch_size=4, train_limit=64, algorithm="bp")
    prog, hyper = Program.from_config(cfg), Hyper.from_config(cfg)
    state = init_state(prog, hyper, jax.random.PRNGKey(0))
    x0 = jnp.ones((4, 784))
    y = jax.nn.one_hot(jnp.arange(4), 10)
    state = TrainState(state.params, weight_optimizer(prog, hyper).init(state.params),
                       state.key, jnp.int32(5), jnp.int32(-1))
    state, _ = step_fn(prog, hyper, state, x0, y, False)
    assert int(state.diverged_at) == -1 and int(state.step) == 6
    state, _ = step_fn(prog, hyper, state, x0 * jnp.nan, y, False)
    assert int(state.diverged_at) == 6
    state, _ = step_fn(prog, hyper, state, x0, y, False)
    assert int(state.diverged_at) == 6 and int(state.step) == 8


def test_progress_bar_chunks_give_the_same_dataset(short):
    """With a progress bar an epoch is ~20 compiled calls (here 10 of one step each), without
    one a single call: the records and accuracies must not depend on it. The two are
    different programs (a scan of 1 step and one of 10), so: the same attrs, coordinates and
    diverged_at, and records within the bound for different programs."""
    with_bar, timing = pcdiag.train_with_timing(SHORT, progress=True)
    assert _stable(with_bar).attrs == _stable(short).attrs
    assert_runs_close(with_bar, short)
    assert len(timing.eval_s) == len(timing.train_s) == SHORT.epochs
    assert all(0 < e < t for e, t in zip(timing.eval_s, timing.train_s))


def test_update_norm_is_the_optimizers_step_even_below_float32_resolution():
    """Plain SGD: the update is -lr * grad, so update_norm = lr * weight_grad_norm exactly,
    also at lr = 1e-12 where new - old in float32 would be 0 for almost every weight."""
    for lr in (0.05, 1e-12):
        ds = pcdiag.train(SHORT, epochs=1, weight_optimizer="sgd", weight_decay=0.0,
                          weight_lr=lr, algorithm="pc")
        np.testing.assert_allclose(ds.update_norm.values, lr * ds.weight_grad_norm.values,
                                   rtol=1e-5, err_msg=f"weight_lr={lr}")
