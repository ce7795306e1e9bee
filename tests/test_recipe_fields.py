"""The fields PCX's benchmark recipes need (issue 13): the weight learning-rate schedule, the
input normalisation and output nudging, each against its definition.

- warmup_cosine gives optax's warmup_cosine_decay_schedule at chosen steps, its step counts
  default to PCX's rule, and an optimizer built from it moves weights as optax's does;
- nudging with beta = 1 is the clamped output (same Dataset); beta = 0 leaves the output at
  its prediction (no energy, no gradient); a nudged target is u0 - beta (u0 - y); the
  per-epoch beta follows PCX's formula and its centred-nudging lists;
- normalisation "pcx" maps pixel 0 to -1 and 255 to 1;
- gelu_tanh is jax.nn.gelu's default; bad values are rejected with the field named.
"""

import json
import os
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import xarray as xr

import pcdiag
from pcdiag.algorithms import Hyper, Program, weight_optimizer
from pcdiag.algorithms.nudging import epoch_beta, target
from pcdiag.algorithms.optimizers import weight_schedule
from pcdiag.config import Config, ConfigError
from pcdiag.data import load, load_raw, locate
from pcdiag.dataset import VOLATILE_ATTRS

DATA = Path(
    os.environ.get("PCDIAG_DATA") or Path(__file__).resolve().parents[2] / "shared" / "data"
)
#: a tiny network and data set, SE output (so beta = 0 frees the output exactly)
TINY = Config(data_dir=str(DATA), train_limit=256, test_limit=200, depth=3, width=24,
              batch_size=32, epochs=2, inference_steps=4, output_energy="se", seed=3,
              log_every=2)
#: the PC-SE Fashion-MNIST recipe's schedule: lr, 1.1 lr peak after 1170 steps, 0.1 lr at 11700
LR = 2.972210629627541e-4
PCX_SCHEDULE = dict(lr_schedule="warmup_cosine", lr_warmup_steps=1170, lr_decay_steps=11700)


def _same_but_config(a: xr.Dataset, b: xr.Dataset) -> None:
    a, b = a.copy(), b.copy()
    for ds in (a, b):
        for name in (*VOLATILE_ATTRS, "config"):
            ds.attrs.pop(name, None)
    xr.testing.assert_identical(a, b)


# ----------------------------------------------------------------------- the lr schedule


def test_warmup_cosine_equals_optax_at_chosen_steps():
    prog = Program.from_config(Config(weight_lr=LR, **PCX_SCHEDULE))
    ours = weight_schedule(prog, jnp.float32(LR))
    # PCX passes warmup_steps = 0.1 * 468 * 25 (a float) and its lr as a Python float
    theirs = optax.warmup_cosine_decay_schedule(
        init_value=LR, peak_value=1.1 * LR, warmup_steps=0.1 * 468 * 25, decay_steps=468 * 25,
        end_value=0.1 * LR, exponent=1.0)
    steps = [0, 1, 585, 1169, 1170, 1171, 4000, 8000, 11699, 11700, 20000]
    np.testing.assert_array_equal([ours(s) for s in steps], [theirs(s) for s in steps])
    assert float(ours(1170)) == pytest.approx(1.1 * LR, rel=1e-6)
    assert float(ours(11700)) == pytest.approx(0.1 * LR, rel=1e-6)


def test_schedule_steps_default_to_pcx_rule_and_ipc_counts_every_inference_step():
    cfg = Config(lr_schedule="warmup_cosine", batch_size=128, epochs=25)
    assert cfg.lr_schedule_steps == (1170, 11700)  # 468 steps x 25 epochs
    prog = Program.from_config(cfg)
    assert (prog.lr_warmup_steps, prog.lr_decay_steps) == (1170, 11700)
    ipc = cfg.replace(algorithm="ipc", inference_steps=8)
    assert ipc.lr_schedule_steps == (9360, 93600)
    assert Config().lr_schedule_steps is None  # constant: nothing to fill in


def test_scheduled_adamw_moves_weights_as_optax_adamw_with_the_schedule():
    cfg = Config(weight_lr=LR, weight_decay=1e-3, lr_schedule="warmup_cosine",
                 lr_warmup_steps=3, lr_decay_steps=10)
    prog, hyper = Program.from_config(cfg), Hyper.from_config(cfg)
    ours = weight_optimizer(prog, hyper)
    theirs = optax.adamw(optax.warmup_cosine_decay_schedule(LR, 1.1 * LR, 3, 10, 0.1 * LR),
                         weight_decay=1e-3)
    params = {"w": jnp.linspace(-1, 1, 12).reshape(3, 4)}
    p1, p2, s1, s2 = params, params, ours.init(params), theirs.init(params)
    for i in range(12):
        grads = {"w": jnp.sin(jnp.arange(12.0) + i).reshape(3, 4)}
        u1, s1 = ours.update(grads, s1, p1)
        u2, s2 = theirs.update(grads, s2, p2)
        p1, p2 = optax.apply_updates(p1, u1), optax.apply_updates(p2, u2)
    np.testing.assert_allclose(p1["w"], p2["w"], rtol=1e-6, atol=1e-9)


@pytest.mark.slow  # warmup_cosine against optax is the default test
def test_a_schedule_changes_training_and_constant_is_the_default():
    base = pcdiag.train(TINY)
    scheduled = pcdiag.train(TINY.replace(lr_schedule="warmup_cosine"))
    assert not np.array_equal(base.weight_norm.values, scheduled.weight_norm.values)
    # the first step's update is at lr = weight_lr in both (the schedule starts at init_value)
    np.testing.assert_allclose(base.update_norm.isel(step=0), scheduled.update_norm.isel(step=0),
                               rtol=1e-6)


# ----------------------------------------------------------------------- nudging


@pytest.mark.slow  # two trainings of 10 s; nudging's other checks stay default
@pytest.mark.parametrize("algorithm", ["pc", "ipc"])
def test_nudging_with_beta_one_is_the_clamped_output(algorithm):
    """Same Dataset to float32 rounding: the target is y bit for bit (next test), but the
    nudged step is another XLA program, whose dots may sum in another order."""
    clamped = pcdiag.train(TINY, algorithm=algorithm)
    nudged = pcdiag.train(TINY, algorithm=algorithm, nudging="positive", nudge_beta=1.0)
    _same_but_config(clamped.drop_vars(list(clamped.data_vars)),
                     nudged.drop_vars(list(nudged.data_vars)))
    for name in clamped.data_vars:
        np.testing.assert_allclose(nudged[name], clamped[name], rtol=2e-5, atol=1e-7,
                                   err_msg=name)
    np.testing.assert_array_equal(nudged.test_accuracy, clamped.test_accuracy)


def test_nudging_with_beta_zero_leaves_the_output_free():
    ds = pcdiag.train(TINY, nudging="positive", nudge_beta=0.0, epochs=1)
    # the output sits at its own prediction: every energy, state and weight gradient is 0
    # (to rounding: u0 + (0 - ...) carries the last bit of u0 - y)
    assert float(np.abs(ds.energy).max()) < 1e-12
    assert float(np.nanmax(ds.state_grad_norm)) < 1e-6
    assert float(ds.weight_grad_norm.max()) < 1e-6
    free = pcdiag.train(TINY, nudging="positive", nudge_beta=0.5, epochs=1)
    assert float(free.energy.isel(t=0, layer=-1).min()) > 1e-3  # beta > 0: energy to spend


def test_nudged_target_and_per_epoch_beta_follow_pcx():
    u0 = jnp.array([[0.3, -1.7, 2.5]])
    y = jnp.array([[0.0, 1.0, 0.0]])
    for beta in (0.75, -0.9, 0.25):
        hyper = Hyper.from_config(Config())._replace(nudge_beta=jnp.float32(beta))
        prog = Program.from_config(Config(nudging="positive"))
        np.testing.assert_allclose(target(prog, hyper, u0, y), u0 - beta * (u0 - y), rtol=1e-6)
    hyper = Hyper.from_config(Config())  # beta = 1: the target is y, bit for bit
    np.testing.assert_array_equal(
        target(Program.from_config(Config(nudging="positive")), hyper, u0 * 1e3, y), y)

    def betas(**fields):
        cfg = Config(epochs=25, **fields)
        prog = Program.from_config(cfg)
        return [float(epoch_beta(prog, cfg.nudge_beta, cfg.nudge_beta_step, e))
                for e in range(25)]

    # PCX: beta_factor * (beta + beta_ir * e), clipped to [-1, 1]
    pn = betas(nudging="positive", nudge_beta=0.75, nudge_beta_step=0.02)
    assert pn == [min(0.75 + 0.02 * e, 1.0) for e in range(25)]
    nn = betas(nudging="negative", nudge_beta=0.9, nudge_beta_step=0.02)
    assert nn == [max(-1.0 * (0.9 + 0.02 * e), -1.0) for e in range(25)]
    # centred: the signs of PCX's MLP_PC-CN_FashionMNIST_beta.json, magnitudes 0.25 + 0.02 e
    signs = "-+++-+++++-+-++--+-++++++"
    pcx_list = [(1 if s == "+" else -1) * (0.25 + 0.02 * e) for e, s in enumerate(signs)]
    cn = betas(nudging="centred", nudge_beta=0.25, nudge_beta_step=0.02, nudge_signs=signs)
    np.testing.assert_allclose(cn, pcx_list, rtol=0, atol=1e-15)
    alternating = betas(nudging="centred", nudge_beta=0.5)
    assert alternating[:4] == [0.5, -0.5, 0.5, -0.5]


@pytest.mark.slow  # two more programs; beta = 1 is the default test
def test_negative_and_centred_nudging_train():
    for fields in (dict(nudging="negative", nudge_beta=0.5),
                   dict(nudging="centred", nudge_beta=0.5, nudge_signs="+-")):
        ds = pcdiag.train(TINY, train_limit=1024, **fields)
        assert int(ds.diverged_at) == -1
        assert float(ds.test_accuracy.isel(epoch=-1)) > 0.5, fields


# ----------------------------------------------------------------------- normalisation


def test_pcx_normalisation_maps_0_and_255_to_minus_one_and_one():
    train, _ = load("fashion-mnist", DATA, train_limit=200, test_limit=10, normalisation="pcx")
    raw = load_raw("fashion-mnist", str(locate("fashion-mnist", DATA).resolve()))[0][:200]
    assert (raw == 0).any() and (raw == 255).any()
    images = train.images[..., 0]
    assert set(np.unique(images[raw == 0])) == {-1.0}
    assert set(np.unique(images[raw == 255])) == {1.0}
    np.testing.assert_allclose(images, (raw / 255 - 0.5) / 0.5, atol=1e-6)
    standard, _ = load("fashion-mnist", DATA, train_limit=200, test_limit=10)
    assert not np.array_equal(standard.images, train.images)


def test_normalisation_reaches_the_run():
    ds = pcdiag.train(TINY, normalisation="pcx", epochs=1)
    assert json.loads(ds.attrs["config"])["normalisation"] == "pcx"
    assert not np.array_equal(ds.energy.values, pcdiag.train(TINY, epochs=1).energy.values)


# ----------------------------------------------------------------------- the rest


def test_gelu_tanh_is_jax_default_gelu():
    from pcdiag.nets.base import ACTIVATION_FNS

    x = jnp.linspace(-4, 4, 101)
    np.testing.assert_array_equal(ACTIVATION_FNS["gelu_tanh"](x), jax.nn.gelu(x))
    assert not np.array_equal(ACTIVATION_FNS["gelu"](x), jax.nn.gelu(x))


@pytest.mark.parametrize("fields, message", [
    (dict(nudging="positive", algorithm="bp"), r"nudging='positive' is invalid: .*bp has none"),
    (dict(nudge_beta=1.5), r"nudge_beta=1.5 is invalid: must be a finite number >= 0.0 and <= 1"),
    (dict(nudge_signs="+-"), r"nudge_signs='\+-' is invalid: .*centred nudging only"),
    (dict(nudging="centred", nudge_signs="+x"), r"must be a string of \+ and -"),
    (dict(nudging="centred", nudge_signs="+-", epochs=3), r"gives 2 signs but epochs is 3"),
    (dict(lr_schedule="warmup_cosine", lr_warmup_steps=10, lr_decay_steps=10),
     r"lr_decay_steps=10 is invalid: must be > the warmup steps \(10\)"),
    (dict(lr_schedule="cosine"), r"lr_schedule='cosine' is invalid: must be one of constant"),
    (dict(normalisation="minmax"), r"normalisation='minmax' is invalid: must be one of"),
    (dict(lr_peak_factor=0.0), r"lr_peak_factor=0.0 is invalid"),
])
def test_bad_recipe_fields_are_rejected_with_the_field_named(fields, message):
    with pytest.raises(ConfigError, match=message):
        Config(**fields)
