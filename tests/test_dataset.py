"""The Dataset contract (pcdiag.dataset): names, attrs, derived variables, netCDF round trips
and the errors for files that are not pcdiag's."""

import json
import os

import numpy as np
import pytest
import xarray as xr

import pcdiag
from pcdiag.dataset import (
    ENGINE,
    SCHEMA_VERSION,
    VOLATILE_ATTRS,
    SchemaError,
    config_of,
    validate,
)
from pcdiag.records import VARIABLES, energy_ratio
from tests._tiny import GAMMAS, SEEDS, SHORT

SWEEP = dict(gamma=GAMMAS, seed=SEEDS)  # the sweep of the session fixture short_sweep


@pytest.fixture
def run(short_run):
    return short_run


@pytest.fixture
def swept(short_sweep):
    return short_sweep


@pytest.fixture(params=["run", "sweep"])
def ds(request, run, swept):
    return run if request.param == "run" else swept


def test_validate_passes_and_returns_the_dataset(ds):
    assert validate(ds) is ds


def test_run_dims_and_coords(run):
    assert dict(run.sizes) == {"step": 20, "t": 9, "layer": 3, "epoch": 2}
    assert run.layer.values.tolist() == [1, 2, 3]
    assert run.t.values.tolist() == list(range(9))
    assert run.epoch.values.tolist() == [1, 2]
    assert run.step.values.tolist() == list(range(20))
    assert run.epoch_of_step.dims == ("step",)
    assert run.diverged_at.dims == ()
    for name in ("step", "epoch_of_step", "layer", "t", "epoch", "diverged_at"):
        assert run[name].dtype == np.int64, name


def test_sweep_dims_lead(swept):
    assert swept.energy.dims == ("gamma", "seed", "step", "t", "layer")
    assert swept.diverged_at.dims == ("gamma", "seed")
    assert swept.gamma.values.tolist() == SWEEP["gamma"]
    assert swept.seed.values.tolist() == SWEEP["seed"]
    assert json.loads(swept.attrs["sweep"]) == SWEEP


def test_every_variable_and_coord_has_long_name_units_and_comment(ds):
    for name in list(ds.data_vars) + list(ds.coords):
        attrs = ds[name].attrs
        for key in ("long_name", "units", "comment"):
            assert isinstance(attrs.get(key), str) and attrs[key], (name, key)
    for name in ds.data_vars:
        assert ds[name].attrs["long_name"] == VARIABLES[name].long_name
        assert ds[name].attrs["units"] == "1"


def test_global_attrs_carry_the_config(run, swept):
    for ds in (run, swept):
        assert ds.attrs["schema_version"] == SCHEMA_VERSION
        assert ds.attrs["pcdiag_version"] == pcdiag.__version__
        assert config_of(ds) == SHORT
        assert ds.attrs["gamma_convention"] == "per_sample"
        assert set(VOLATILE_ATTRS) <= set(ds.attrs)
    assert "pc" in run.attrs["title"] and "fashion-mnist" in run.attrs["title"]
    assert "gamma" in swept.attrs["title"] and "seed" in swept.attrs["title"]


def test_energy_total_is_the_sum_over_layers(ds):
    np.testing.assert_allclose(ds.energy_total.values, ds.energy.values.sum(-1), rtol=1e-6)
    assert np.isfinite(ds.energy_total.values).all()


def test_energy_ratio_is_lower_over_upper_and_nan_at_the_output(ds):
    energy, ratio = ds.energy.values, ds.energy_ratio.values
    assert np.isnan(ratio[..., -1]).all()
    with np.errstate(divide="ignore", invalid="ignore"):
        want = energy[..., :-1] / energy[..., 1:]
    np.testing.assert_array_equal(ratio[..., :-1], want)  # NaN where 0 / 0 (t = 0)
    # t = 0: hidden nodes hold no energy, so E_{L-1} / E_L = 0 and 0/0 below it
    assert (ratio[..., 0, -2] == 0).all() and np.isnan(ratio[..., 0, :-2]).all()
    # after inference, the energy sits near the output: lower layers hold far less
    assert (ratio[..., -1, :-1] < 1).all()
    np.testing.assert_array_equal(energy_ratio(energy), ratio)


def test_netcdf_round_trip_is_identical(ds, tmp_path):
    path = pcdiag.save(ds, tmp_path / "out" / "ds.nc")  # creates the folder
    assert path == tmp_path / "out" / "ds.nc" and path.is_file()
    assert os.listdir(path.parent) == ["ds.nc"]  # the temporary file is gone
    back = pcdiag.open_dataset(path)
    xr.testing.assert_identical(back, ds)
    for name in ds.variables:  # assert_identical does not compare dtypes
        assert back[name].dtype == ds[name].dtype, name
    assert back.diverged_at.dtype == np.int64 and back.step.dtype == np.int64
    assert config_of(back) == SHORT


def test_open_dataset_on_foreign_netcdf_names_what_is_missing(tmp_path):
    path = tmp_path / "foreign.nc"
    xr.Dataset({"a": ("x", np.arange(3.0))}).to_netcdf(path, engine=ENGINE)
    with pytest.raises(SchemaError, match=r"foreign\.nc: not a pcdiag Dataset: global "
                                          r"attribute\(s\) schema_version, config, "
                                          r"pcdiag_version missing"):
        pcdiag.open_dataset(path)


def test_open_dataset_refuses_a_newer_schema(run, tmp_path):
    newer = run.copy()
    newer.attrs["schema_version"] = SCHEMA_VERSION + 1
    path = pcdiag.save(newer, tmp_path / "newer.nc")
    with pytest.raises(SchemaError, match=rf"schema_version {SCHEMA_VERSION + 1} is newer than "
                                          rf"this pcdiag understands \({SCHEMA_VERSION}\)"):
        pcdiag.open_dataset(path)


def test_open_dataset_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"nope\.nc: no such file"):
        pcdiag.open_dataset(tmp_path / "nope.nc")
    with pytest.raises(FileNotFoundError, match="no such file"):
        pcdiag.open_dataset(tmp_path)  # a folder is not a file


def test_open_dataset_garbage_file(tmp_path):
    path = tmp_path / "garbage.nc"
    path.write_bytes(b"this is not a netCDF file at all\n" * 10)
    with pytest.raises(SchemaError, match=r"garbage\.nc: not a readable netCDF4 file"):
        pcdiag.open_dataset(path)
    empty = tmp_path / "empty.nc"
    empty.write_bytes(b"")
    with pytest.raises(SchemaError, match=r"empty\.nc: not a readable netCDF4 file"):
        pcdiag.open_dataset(empty)


def test_validate_names_what_is_wrong(run):
    with pytest.raises(SchemaError, match=r"variable 'train_loss' missing from the Dataset"):
        validate(run.drop_vars("train_loss"))
    with pytest.raises(SchemaError, match=r"variable 'energy_ratio' missing"):
        validate(run.drop_vars("energy_ratio"))
    with pytest.raises(SchemaError, match=r"variable 'energy' has dims \('step', 'layer', 't'\), "
                                          r"expected \('step', 't', 'layer'\)"):
        validate(run.assign(energy=run.energy.transpose("step", "layer", "t")))
    no_units = run.copy()
    no_units["weight_norm"].attrs = {"long_name": "weight norm", "comment": "x"}
    with pytest.raises(SchemaError, match=r"variable 'weight_norm' lacks the attribute 'units'"):
        validate(no_units)
    flipped = run.isel(layer=slice(None, None, -1))
    with pytest.raises(SchemaError, match=r"layer coordinate must be 1\.\.L in order, got "
                                          r"\[3, 2, 1\]"):
        validate(flipped)
    bare = run.copy()
    bare.attrs = {}
    with pytest.raises(SchemaError, match="not a pcdiag Dataset"):
        validate(bare)
    assert issubclass(SchemaError, ValueError)
