"""pcdiag.sweep: grids of runs equal the same runs trained alone; padding; axis errors."""


import numpy as np
import pytest
import xarray as xr
from _tolerance import assert_accuracy_close, assert_runs_close, run_config

import pcdiag
from pcdiag.config import ConfigError
from pcdiag.runs import check_axes
from tests._tiny import GAMMAS, SEEDS, SHORT


def assert_same_run(point: xr.Dataset, alone: xr.Dataset):
    """A sweep point and the run trained alone: a vmapped program and a single run round
    differently, so equal where they must be and within tests/_tolerance.py's bound for
    float32 and the step count elsewhere."""
    assert_runs_close(point, alone)


@pytest.fixture(scope="module")
def alone():
    """pcdiag.train of every (gamma, seed) point by itself."""
    return {(g, s): pcdiag.train(SHORT, gamma=g, seed=s) for g in GAMMAS for s in SEEDS}


@pytest.fixture
def grid(short_sweep):
    """The gamma x seed sweep (4 runs vmapped in one program; conftest trains it once)."""
    return short_sweep


@pytest.fixture(scope="module")
def optimizers():
    return pcdiag.sweep(SHORT, weight_optimizer=["sgd", "adamw"], gamma=GAMMAS, seed=SEEDS)


def test_gamma_seed_sweep_equals_runs_trained_alone(grid, alone):
    ds = grid
    assert ds.energy.dims == ("gamma", "seed", "step", "t", "layer")
    assert dict(ds.sizes) == {"gamma": 2, "seed": 2, "step": 20, "t": 9, "layer": 3, "epoch": 2}
    assert ds.gamma.values.tolist() == GAMMAS and ds.seed.values.tolist() == SEEDS
    pcdiag.validate(ds)
    for (g, s), single in alone.items():
        assert_same_run(ds.sel(gamma=g, seed=s), single)
    # the points are distinct runs: seeds change the weights, gammas the inference
    assert not np.allclose(ds.weight_norm.sel(seed=1).values, ds.weight_norm.sel(seed=2).values)
    e = ds.energy.isel(step=0, t=-1).values
    assert not np.allclose(e[0], e[1])


def test_sweep_axis_order_follows_the_call(grid):
    ds = pcdiag.sweep(SHORT, seed=SEEDS, gamma=GAMMAS)
    assert ds.energy.dims[:2] == ("seed", "gamma")
    # the same executable with the runs in another order along the vmapped axis: nothing
    # promises that a run rounds alike at another position (vectorised loops), so the bound
    # for different programs
    assert_runs_close(ds, grid)


def test_weight_optimizer_by_gamma_sweep(optimizers, alone):
    ds = optimizers
    assert ds.energy.dims[:3] == ("weight_optimizer", "gamma", "seed")
    assert ds.weight_optimizer.values.tolist() == ["sgd", "adamw"]
    pcdiag.validate(ds)
    for (g, s), single in alone.items():  # adamw is the base config's optimizer
        assert_same_run(ds.sel(weight_optimizer="adamw", gamma=g, seed=s), single)
    # sgd without momentum: delta theta = -lr (g + wd theta), so by the triangle inequality
    # | update_norm - lr * weight_grad_norm | <= lr * wd * ||theta before the step||
    sgd = ds.sel(weight_optimizer="sgd")
    lr, wd = SHORT.weight_lr, SHORT.weight_decay
    before = sgd.weight_norm.values[..., :-1, :]  # after step k = before step k + 1
    gap = np.abs(sgd.update_norm.values - lr * sgd.weight_grad_norm.values)[..., 1:, :]
    assert (gap <= lr * wd * before * 1.001 + 1e-9).all()
    assert (sgd.update_norm.values > 0).all()
    # and the two optimizers really trained differently
    adamw = ds.sel(weight_optimizer="adamw")
    assert not np.allclose(sgd.weight_norm.values, adamw.weight_norm.values)


def test_sweep_with_string_coords_round_trips(optimizers, tmp_path):
    path = pcdiag.save(optimizers, tmp_path / "opt.nc")
    back = pcdiag.open_dataset(path)
    xr.testing.assert_identical(back, optimizers)
    assert back.weight_optimizer.values.tolist() == ["sgd", "adamw"]
    assert back.diverged_at.dtype == np.int64


@pytest.fixture(scope="module")
def depths():
    return pcdiag.sweep(SHORT, depth=[1, 3])


def test_depth_sweep_pads_shallower_runs_with_nan(depths):
    ds = depths
    assert ds.layer.values.tolist() == [1, 2, 3]
    pcdiag.validate(ds)
    shallow, deep = ds.sel(depth=1), ds.sel(depth=3)
    for name in ("energy", "state_grad_norm", "energy_ratio", "weight_norm", "update_norm",
                 "weight_grad_norm"):
        assert np.isnan(shallow[name].sel(layer=[2, 3]).values).all(), name
    for name in ("weight_norm", "update_norm", "weight_grad_norm"):
        assert np.isfinite(shallow[name].sel(layer=1).values).all(), name
    # the depth-1 run alone, and the depth-3 run alone, are what the sweep holds (each depth is
    # a unit of one run, today the executable pcdiag.train uses, and bit-equal to it; held to
    # the bound for different programs so that the test does not rest on that)
    single = pcdiag.train(SHORT, depth=1)
    assert_runs_close(shallow.sel(layer=[1]), single)
    assert_same_run(deep, pcdiag.train(SHORT))
    # a depth-1 pc network has one node, the output: its energy is the output loss
    np.testing.assert_allclose(shallow.energy.sel(layer=1).values[:, 0],
                               shallow.train_loss.values, rtol=1e-6)


def test_depth_sweep_energy_total_of_shallow_run_is_its_own_sum(depths):
    """Summing after the NaN padding would make every shallower run's total NaN."""
    shallow = depths.sel(depth=1)
    np.testing.assert_allclose(shallow.energy_total.values,
                               shallow.energy.sel(layer=1).values, rtol=1e-6)


def test_one_diverging_gamma_leaves_the_other_runs_unchanged(grid, alone):
    """gamma 1e4 (sgd state steps) diverges at once; the gamma 0.05 runs vmapped beside it
    equal those of the same sweep with gamma 0.2 instead, and those trained alone."""
    ds = pcdiag.sweep(SHORT, gamma=[0.05, 1e4], seed=SEEDS)
    assert ds.diverged_at.values.tolist() == [[-1, -1], [0, 0]]
    assert ds.diverged_at.dtype == np.int64
    assert np.isnan(ds.train_loss.sel(gamma=1e4).values[:, 1:]).all()
    assert np.isnan(ds.test_accuracy.sel(gamma=1e4).values).all()
    assert (grid.diverged_at.values == -1).all()
    for s in SEEDS:
        # the same executable (4 runs of one program) with the same inputs at the same place
        # in the batch: the run beside it cannot change a bit of it
        beside = ds.sel(gamma=0.05, seed=s)
        xr.testing.assert_equal(beside, grid.sel(gamma=0.05, seed=s))
        assert_same_run(beside, alone[(0.05, s)])
    pcdiag.validate(ds)


def test_sweep_accuracy_is_a_count_like_the_run_alone(grid, alone):
    """Accuracies are correct counts / n in float64 in the sweep and alone (not a float32
    mean, whose last bits depend on the program); the counts agree within the bound for
    images near a decision boundary, and equal counts give bit-equal fractions."""
    for (g, s), single in alone.items():
        point = grid.sel(gamma=g, seed=s)
        for name, n in (("test_accuracy", SHORT.test_limit),
                        ("train_accuracy", SHORT.train_limit)):
            assert point[name].dtype == single[name].dtype == np.float64, name
            for values in (point[name].values, single[name].values):
                np.testing.assert_array_equal(values, np.round(values * n) / n, err_msg=name)
            assert_accuracy_close(point[name], single[name], run_config(single), name)
            same = np.round(point[name].values * n) == np.round(single[name].values * n)
            np.testing.assert_array_equal(point[name].values[same], single[name].values[same])


@pytest.mark.parametrize(
    ("axes", "message"),
    [
        ({"gama": [0.1]}, r"sweep axis 'gama' is not a config field; known fields: "),
        ({"batch_size": [32, 64]}, r"sweep axis 'batch_size' cannot be swept: it changes the "
                                   r"step axis or the data source"),
        ({"train_limit": [320]}, r"sweep axis 'train_limit' cannot be swept"),
        ({"epochs": [1, 2]}, r"sweep axis 'epochs' cannot be swept"),
        ({"log_every": [1, 2]}, r"sweep axis 'log_every' cannot be swept"),
        ({"gamma": [0.1, 0.1]}, r"sweep axis 'gamma' repeats a value: \[0\.1, 0\.1\]; "
                                r"list each once"),
        ({"gamma": []}, r"sweep axis 'gamma' has no values; give at least one"),
        ({"gamma": [0.1, -1.0]}, r"gamma=-1\.0 is invalid: must be a finite number > 0"),
        ({"activation": ["tanh", "sigmoid"]}, r"activation='sigmoid' is invalid: must be "
                                              r"one of "),
        ({"depth": [2, 0]}, r"depth=0 is invalid: must be an integer >= 1"),
    ],
    ids=lambda v: str(v),
)
def test_sweep_axis_errors(axes, message):
    with pytest.raises(ConfigError, match=message):
        pcdiag.sweep(SHORT, **axes)


def test_single_value_axis_is_a_length_one_dim():
    assert check_axes(SHORT, {"gamma": 0.1}) == {"gamma": [0.1]}
    assert check_axes(SHORT, {"gamma": (0.1, 0.2)}) == {"gamma": [0.1, 0.2]}
    assert check_axes(SHORT, {"gamma": np.array([0.1, 0.2])}) == {"gamma": [0.1, 0.2]}


def test_numpy_scalar_axes_are_accepted():
    """np.arange seeds, numpy depths and float32 gammas become plain Python values."""
    assert check_axes(SHORT, {"seed": np.arange(2)}) == {"seed": [0, 1]}
    assert check_axes(SHORT, {"depth": np.array([1, 3])}) == {"depth": [1, 3]}
    gamma = check_axes(SHORT, {"gamma": np.array([0.1], np.float32)})["gamma"][0]
    assert type(gamma) is float and gamma == pytest.approx(0.1)
    assert all(type(s) is int for s in check_axes(SHORT, {"seed": np.arange(2)})["seed"])


def test_sweep_with_preloaded_data_equals_the_sweep_that_loads_it(grid):
    from pcdiag.runs import load_device_data

    again = pcdiag.sweep(SHORT, gamma=GAMMAS, seed=SEEDS, data=load_device_data(SHORT))
    for name in ("created", "history"):
        again.attrs.pop(name, None)
    expected = grid.copy()
    for name in ("created", "history"):
        expected.attrs.pop(name, None)
    xr.testing.assert_identical(again, expected)  # the same executable: bit for bit
