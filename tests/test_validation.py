"""The validation split (Config.validation_size, pcdiag.data.holdout): which examples are held
out, that the loop evaluates them as it evaluates the test set, that a sweep records the
same as its runs alone, and best_setting (pcdiag.selection), which selects on them."""

import numpy as np
import pytest
import xarray as xr

import pcdiag
from pcdiag import Config, ConfigError
from pcdiag import data as data_module
from pcdiag.algorithms import Program
from pcdiag.engine import resources
from pcdiag.engine.loop import _evaluate
from pcdiag.measures import best_setting
from pcdiag.selection import at_best_gamma
from tests._tiny import SHORT
from tests._tolerance import assert_runs_close

HELD_OUT = 256
CONFIG = SHORT.replace(validation_size=HELD_OUT)  # 320 training images, 10 steps an epoch


@pytest.fixture(scope="module")
def held_out_run(tmp_path_factory):
    """CONFIG trained once, checkpointed (for load_params): (Dataset, checkpoint folder)."""
    folder = tmp_path_factory.mktemp("validation") / "ckpt"
    return pcdiag.train(CONFIG, checkpoint_dir=folder), folder


def test_held_out_rows_are_the_last_of_the_training_file_and_disjoint():
    train, validation, test = data_module.load_with_validation(
        CONFIG.dataset, CONFIG.data_dir, CONFIG.train_limit, CONFIG.test_limit,
        CONFIG.normalisation, HELD_OUT)
    everything, _ = data_module.load(CONFIG.dataset, CONFIG.data_dir)  # the whole file
    n = len(everything.labels)
    # the same elementwise normalisation of the same pixels: bit-equal
    np.testing.assert_array_equal(validation.images, everything.images[n - HELD_OUT:])
    np.testing.assert_array_equal(validation.labels, everything.labels[n - HELD_OUT:])
    np.testing.assert_array_equal(train.images, everything.images[: CONFIG.train_limit])
    assert len(test.labels) == CONFIG.test_limit
    rows = {row.tobytes() for row in train.images.reshape(len(train.images), -1)}
    assert not any(row.tobytes() in rows
                   for row in validation.images.reshape(HELD_OUT, -1))
    device = pcdiag.load_device_data(CONFIG)
    assert (device.n_train, device.n_validation, device.n_test) == (320, HELD_OUT, 1000)
    np.testing.assert_array_equal(np.asarray(device.x_validation[:HELD_OUT]), validation.images)
    np.testing.assert_array_equal(np.asarray(device.y_validation[HELD_OUT:]), -1)  # padding
    np.testing.assert_array_equal(np.asarray(device.x_test[: CONFIG.test_limit]), test.images)


def test_whole_file_without_train_limit_keeps_the_held_out_rows_out():
    config = Config(validation_size=5000)
    assert config.n_train == 55000 and config.steps_per_epoch == 55000 // 64


def test_recorded_validation_accuracy_is_the_evaluation_of_the_trained_net(held_out_run):
    ds, folder = held_out_run
    pcdiag.validate(ds)
    recorded = ds.validation_accuracy.isel(epoch=-1).item()
    assert "held out" in ds.validation_accuracy.attrs["comment"]
    trained = pcdiag.load_params(folder)
    assert trained.config.validation_size == HELD_OUT
    params = trained.run(0)
    data = pcdiag.load_device_data(CONFIG)
    # the loop's own evaluation code on the held-out rows: exactly the recorded count
    prog = Program.from_config(trained.config)
    count = int(np.sum(_evaluate(params, None, data.x_validation, data.y_validation, prog)))
    assert count / HELD_OUT == recorded
    # a direct forward pass over the 256 images alone: another compiled program, whose logits
    # may differ from the loop's by float32 rounding (~1e-6 relative); a prediction changes
    # only where the top two logits are that close, so at most one image of 256 may differ
    x = data.x_validation[:HELD_OUT]
    labels = np.asarray(data.y_validation[:HELD_OUT])
    direct = np.mean(np.argmax(np.asarray(trained.net.forward(params, x)[-1]), -1) == labels)
    assert abs(direct - recorded) <= 1 / HELD_OUT


def test_checkpoint_gives_the_validation_counts_back(held_out_run):
    ds, folder = held_out_run
    again, timing = pcdiag.train_with_timing(CONFIG, checkpoint_dir=folder)
    assert timing.train_s == []  # every epoch restored from the checkpoint, none trained
    np.testing.assert_array_equal(again.validation_accuracy.values,
                                  ds.validation_accuracy.values)


def test_sweep_records_the_runs_alone(held_out_run):
    ds, _ = held_out_run
    swept = pcdiag.sweep(CONFIG, gamma=[CONFIG.gamma, 0.2])
    assert swept.validation_accuracy.dims == ("gamma", "epoch")
    assert_runs_close(swept.sel(gamma=CONFIG.gamma), ds,
                      names=["validation_accuracy", "test_accuracy", "train_accuracy"])


def test_default_holds_nothing_out(short_run):
    assert "validation_accuracy" not in short_run
    assert "validation_size" not in Config().to_dict()  # stored configs stay as before
    assert Config(validation_size=7).to_dict()["validation_size"] == 7
    assert Config.from_json(Config(validation_size=7).to_json()).validation_size == 7


def test_memory_estimate_counts_the_held_out_rows():
    plain = resources.estimate([(SHORT, 1)])
    held = resources.estimate([(CONFIG, 1)])
    row = 784 + 1  # an image and its label
    assert held.data - plain.data == (1000 + HELD_OUT) * row * 4
    assert held.host > plain.host


@pytest.mark.parametrize("value, says", [
    (-1, "validation_size=-1 is invalid: must be an integer >= 0"),
    (2.5, "validation_size=2.5 is invalid: must be an integer >= 0"),
    (True, "validation_size=True is invalid: must be an integer >= 0"),
    (60000, "fashion-mnist has only 60000 training examples and at least one must stay for "
            "training; set validation_size < 60000"),
])
def test_bad_validation_size(value, says):
    with pytest.raises(ConfigError) as error:
        Config(validation_size=value)
    assert says in str(error.value)


def test_validation_and_train_limit_must_fit():
    with pytest.raises(ConfigError) as error:
        Config(validation_size=2000, train_limit=59000)
    message = str(error.value)
    assert "validation_size + train_limit (2000 + 59000) must be <= 60000" in message
    assert "lower validation_size or train_limit to at most 1000 or 58000" in message
    Config(validation_size=1000, train_limit=59000)  # exactly fits


def test_validation_size_cannot_be_swept():
    with pytest.raises(ConfigError, match="validation_size.*cannot be swept"):
        pcdiag.sweep(SHORT, validation_size=[0, 100])


def _hand_made() -> xr.Dataset:
    """gamma x seed x depth x epoch; the best gamma per depth known by construction."""
    acc = np.zeros((3, 2, 3, 2))
    acc[:, :, :, 0] = 0.9  # epoch 1 would pick anything: only the final epoch counts
    acc[:, :, 0, 1] = [[0.5, 0.6], [0.7, 0.8], [0.6, 0.6]]  # depth 2: gamma 0.2 (median 0.75)
    acc[:, :, 1, 1] = [[0.5, 0.5], [0.9, 0.9], [0.7, 0.7]]  # depth 3: 0.2 failed -> 0.3
    acc[:, :, 2, 1] = np.nan  # depth 4: nothing finished
    status = np.zeros((3, 2, 3), np.int8)
    status[1, 0, 1] = 1  # gamma 0.2, seed 1, depth 3 diverged
    return xr.Dataset(
        {"validation_accuracy": (("gamma", "seed", "depth", "epoch"), acc),
         "test_accuracy": (("gamma", "seed", "depth", "epoch"), acc[::-1].copy()),
         "run_status": (("gamma", "seed", "depth"), status)},
        coords={"gamma": [0.1, 0.2, 0.3], "seed": [1, 2], "depth": [2, 3, 4], "epoch": [1, 2]})


def test_best_setting_picks_the_known_best():
    best = best_setting(_hand_made(), over=("gamma",))
    np.testing.assert_array_equal(best.gamma.values, [0.2, 0.3, np.nan])
    np.testing.assert_allclose(best.validation_accuracy.values, [0.75, 0.7, np.nan])
    assert best.gamma.dims == ("depth",)
    joint = best_setting(_hand_made(), over=("gamma", "seed"))  # no median: seeds chosen too
    np.testing.assert_array_equal(joint.gamma.values[:2], [0.2, 0.2])
    np.testing.assert_array_equal(joint.seed.values[:2], [2, 2])


def test_fallback_reads_every_run_and_at_best_gamma_says_which_rule_chose():
    """Depth 3: gamma 0.2 has a diverged seed, so the strict rule picks 0.3 (median 0.7);
    without the status (only_ok=False) 0.2's seeds both score 0.9, and it wins."""
    ds = _hand_made()
    loose = best_setting(ds, only_ok=False)
    np.testing.assert_array_equal(loose.gamma.values, [0.2, 0.2, np.nan])
    # a single depth where no gamma keeps every seed ok: the fallback picks, flagged
    failing = ds.sel(depth=3).assign(run_status=ds["run_status"].sel(depth=3).where(
        ds["gamma"] != 0.3, 1).where(ds["gamma"] != 0.1, 1))
    runs, step, every_seed_ok = at_best_gamma(failing, default=0.1)
    assert (step, every_seed_ok) == (0.2, False) and "gamma" not in runs.dims
    np.testing.assert_allclose(runs["validation_accuracy"].isel(epoch=-1), [0.9, 0.9])
    runs, step, every_seed_ok = at_best_gamma(ds.sel(depth=3), default=0.1)
    assert (step, every_seed_ok) == (0.3, True)
    _, step, every_seed_ok = at_best_gamma(ds.sel(depth=4), default=0.1)  # no score at all
    assert (step, every_seed_ok) == (0.1, False)
    same, step, _ = at_best_gamma(ds.sel(gamma=0.1, drop=True), default=0.3)
    assert same is not None and np.isnan(step), "no gamma axis: returned as it is"


def test_best_setting_refuses_the_test_set():
    with pytest.raises(ValueError, match="selection on the test set is not allowed.*"
                                         "validation_size"):
        best_setting(_hand_made(), by="test_accuracy")
    with pytest.raises(ValueError, match="no 'validation_accuracy'.*validation_size"):
        best_setting(_hand_made().drop_vars("validation_accuracy"))
