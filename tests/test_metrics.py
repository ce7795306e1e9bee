"""pcdiag.metrics on hand-made Datasets whose answers are known exactly.

Every Dataset here is built by hand with the names of the Dataset contract (energy(step, t,
layer), energy_total(step, t), update_norm / weight_norm(step, layer)), so the derived
quantities can be checked against numbers worked out on paper, without training anything.
"""

import numpy as np
import pytest
import xarray as xr

from pcdiag.metrics import (
    distance_from_output,
    energy_decay_rate,
    energy_front,
    log_slope,
    output_share,
    relative_update,
)

LAYERS = np.arange(1, 6)  # L = 5
DEPTH = len(LAYERS)


def energy_dataset(energy: np.ndarray, lead: dict | None = None) -> xr.Dataset:
    """A Dataset with energy (*lead, step, t, layer) and its total, coords as pcdiag sets them."""
    lead = lead or {}
    dims = (*lead, "step", "t", "layer")
    steps, ts, layers = energy.shape[-3:]
    coords = dict(lead)
    coords.update(step=np.arange(steps) * 10, t=np.arange(ts), layer=np.arange(1, layers + 1))
    ds = xr.Dataset({"energy": (dims, energy)}, coords=coords)
    ds["energy_total"] = ds["energy"].sum("layer")
    return ds


def geometric_energy(decades_per_layer: float, steps: int = 3, ts: int = 4) -> np.ndarray:
    """E_l = 10 ** (-rate * (L - l)) at every step and t: the output node holds 1."""
    per_layer = 10.0 ** (-decades_per_layer * (DEPTH - LAYERS))
    return np.broadcast_to(per_layer, (steps, ts, DEPTH)).copy()


def assert_labelled(da: xr.DataArray):
    assert {"long_name", "units", "comment"} <= set(da.attrs), da.attrs


# --- energy_decay_rate -------------------------------------------------------------------------


def test_energy_decay_rate_is_exactly_two_decades_per_layer():
    ds = energy_dataset(geometric_energy(2.0))
    out = energy_decay_rate(ds)
    assert out["rate"].dims == ("step",)
    np.testing.assert_allclose(out["rate"].values, 2.0, rtol=1e-12)
    np.testing.assert_allclose(out["spread"].values, 0.0, atol=1e-12)  # a perfect line
    np.testing.assert_allclose(float(out["rate_mean"]), 2.0, rtol=1e-12)
    np.testing.assert_allclose(float(out["rate_std"]), 0.0, atol=1e-12)
    for name in ("rate", "spread", "rate_mean", "rate_std"):
        assert_labelled(out[name])
    assert out["rate"].attrs["units"] == "decades / layer"


def test_energy_decay_rate_reads_t_and_has_known_rate_per_step():
    """Step k decays by k + 1 decades per layer at the last t; at t = 0 only the output node
    holds energy (forward initialisation), so there is nothing to fit (NaN)."""
    energy = np.stack([geometric_energy(k + 1.0, steps=1, ts=4)[0] for k in range(3)])
    energy[:, 0, :-1] = 0.0
    ds = energy_dataset(energy)
    out = energy_decay_rate(ds)
    np.testing.assert_allclose(out["rate"].values, [1.0, 2.0, 3.0], rtol=1e-12)
    np.testing.assert_allclose(float(out["rate_mean"]), 2.0, rtol=1e-12)
    np.testing.assert_allclose(float(out["rate_std"]), np.std([1.0, 2.0, 3.0]), rtol=1e-12)
    at_zero = energy_decay_rate(ds, t=0)
    assert np.isnan(at_zero["rate"].values).all()
    assert np.isnan(at_zero["spread"].values).all()


def test_energy_decay_rate_ignores_layers_with_zero_energy():
    """Layers the error has not reached (E_l = 0) are left out: the fit over the others is
    still exactly 2; with only two usable layers the slope exists but its error does not."""
    energy = geometric_energy(2.0)
    energy[..., :2] = 0.0  # layers 1, 2 not reached
    out = energy_decay_rate(energy_dataset(energy))
    np.testing.assert_allclose(out["rate"].values, 2.0, rtol=1e-12)
    np.testing.assert_allclose(out["spread"].values, 0.0, atol=1e-12)

    energy[..., 2] = 0.0  # only layers 4 and 5 left
    out = energy_decay_rate(energy_dataset(energy))
    np.testing.assert_allclose(out["rate"].values, 2.0, rtol=1e-12)
    assert np.isnan(out["spread"].values).all()


def test_energy_decay_rate_standard_error_of_a_noisy_line():
    """log10 E = -1.5 (L - l) + known residuals: slope and stderr as ordinary least squares."""
    resid = np.array([0.1, -0.2, 0.0, 0.15, -0.05])
    energy = np.broadcast_to(10.0 ** (-1.5 * (DEPTH - LAYERS) + resid), (2, 2, DEPTH)).copy()
    out = energy_decay_rate(energy_dataset(energy))
    x = (DEPTH - LAYERS).astype(float)
    y = np.log10(energy[0, -1])
    slope, intercept = np.polyfit(x, y, 1)
    fitted = intercept + slope * x
    stderr = np.sqrt(np.sum((y - fitted) ** 2) / (len(x) - 2) / np.sum((x - x.mean()) ** 2))
    np.testing.assert_allclose(out["rate"].values, -slope, rtol=1e-10)
    np.testing.assert_allclose(out["spread"].values, stderr, rtol=1e-10)
    assert stderr > 0.01


def test_energy_decay_rate_keeps_sweep_dims_in_front():
    """A gamma dim in front passes through: each gamma has its own known rate; NaN energies
    (a diverged run) give a NaN rate without touching the others."""
    gammas = [0.01, 0.1, 1.0]
    energy = np.stack([geometric_energy(r) for r in (3.0, 2.0, 1.0)])
    energy[2, 1] = np.nan  # gamma = 1 blanked after divergence at its second logged step
    ds = energy_dataset(energy, {"gamma": gammas})
    out = energy_decay_rate(ds)
    assert out["rate"].dims == ("gamma", "step")
    np.testing.assert_array_equal(out["gamma"].values, gammas)
    want = np.array([[3.0] * 3, [2.0] * 3, [1.0, np.nan, 1.0]])
    np.testing.assert_allclose(out["rate"].values, want, rtol=1e-12)
    assert out["rate_mean"].dims == ("gamma",)
    np.testing.assert_allclose(out["rate_mean"].values, [3.0, 2.0, 1.0], rtol=1e-12)


def test_log_slope_along_another_dim_and_distance_from_output():
    ds = energy_dataset(geometric_energy(2.0))
    np.testing.assert_array_equal(distance_from_output(ds).values, [4, 3, 2, 1, 0])
    # 10 ** (0.5 * t): slope against (T - t) is -0.5
    values = xr.DataArray(10.0 ** (0.5 * np.arange(6)), dims="t", coords={"t": np.arange(6)})
    fit = log_slope(values, dim="t")
    np.testing.assert_allclose(float(fit["slope"]), -0.5, rtol=1e-12)


# --- output_share ------------------------------------------------------------------------------


def test_output_share_on_known_values():
    energy = np.array(
        [
            [[0.0, 0.0, 0.0, 0.0, 2.0], [0.1, 0.2, 0.3, 0.4, 1.0]],
            [[1.0, 1.0, 1.0, 1.0, 4.0], [0.0, 0.0, 0.0, 3.0, 1.0]],
        ]
    )  # (step, t, layer)
    ds = energy_dataset(energy)
    share = output_share(ds)
    assert share.dims == ("step", "t")
    np.testing.assert_allclose(share.values, [[1.0, 0.5], [0.5, 0.25]], rtol=1e-12)
    assert_labelled(share)
    assert share.attrs["units"] == "1"
    # sweep dims pass through
    swept = energy_dataset(np.stack([energy, 2 * energy]), {"gamma": [0.1, 0.2]})
    shares = output_share(swept)
    assert shares.dims == ("gamma", "step", "t")
    np.testing.assert_allclose(shares.values, [share.values] * 2, rtol=1e-12)


# --- energy_front ------------------------------------------------------------------------------


def front_energy() -> np.ndarray:
    """L = 5, T = 5: the error enters at the top and moves down one layer per iteration.
    Layer 1 has not been reached at T (all zeros)."""
    per_layer = np.array(
        [
            [0.0, 0.0, 0.0, 0.0, 0.0, 0.0],  # layer 1: never reached
            [0.0, 0.0, 0.0, 0.1, 0.3, 0.4],  # layer 2: 0.5 * 0.4 = 0.2 first met at t = 4
            [0.0, 0.0, 0.2, 0.6, 0.9, 1.0],  # layer 3: 0.5 first met at t = 3
            [0.0, 1.0, 2.0, 2.0, 2.0, 2.0],  # layer 4: 1.0 met at t = 1 (>=, equality counts)
            [8.0, 6.0, 5.0, 4.5, 4.2, 4.0],  # layer 5 (output): falls; 2.0 met at t = 0
        ]
    )
    return per_layer.T[None]  # (step=1, t, layer)


def test_energy_front_on_a_hand_made_trajectory():
    ds = energy_dataset(front_energy())
    front = energy_front(ds)
    assert front.dims == ("step", "layer")
    np.testing.assert_array_equal(front.values[0], [np.nan, 4.0, 3.0, 1.0, 0.0])
    assert_labelled(front)
    # a higher fraction moves the front later: 0.9 of the final value
    np.testing.assert_array_equal(energy_front(ds, 0.9).values[0], [np.nan, 5.0, 4.0, 2.0, 0.0])


def test_energy_front_nan_for_non_finite_runs_and_keeps_sweep_dims():
    energy = np.stack([front_energy(), np.full_like(front_energy(), np.nan)])  # bp: all NaN
    ds = energy_dataset(energy, {"algorithm": ["pc", "bp"]})
    front = energy_front(ds)
    assert front.dims == ("algorithm", "step", "layer")
    np.testing.assert_array_equal(front.sel(algorithm="pc").values[0], [np.nan, 4, 3, 1, 0])
    assert np.isnan(front.sel(algorithm="bp").values).all()


# --- relative_update and its decay over layers (log_slope of the median) ----------------------


def update_dataset(relative: np.ndarray, lead: dict | None = None) -> xr.Dataset:
    """weight_norm = 2 everywhere and update_norm = 2 * relative (..., step, layer)."""
    lead = lead or {}
    dims = (*lead, "step", "layer")
    coords = dict(lead)
    coords.update(step=np.arange(relative.shape[-2]), layer=np.arange(1, relative.shape[-1] + 1))
    return xr.Dataset(
        {"update_norm": (dims, 2 * relative), "weight_norm": (dims, np.full_like(relative, 2.0))},
        coords=coords,
    )


def test_relative_update_on_known_numbers():
    ds = xr.Dataset(
        {
            "update_norm": (("step", "layer"), [[1.0, 0.5, 0.0], [3.0, 2.0, 1.0]]),
            "weight_norm": (("step", "layer"), [[2.0, 5.0, 1.0], [4.0, 8.0, 10.0]]),
        },
        coords={"step": [0, 5], "layer": [1, 2, 3]},
    )
    rel = relative_update(ds)
    np.testing.assert_allclose(rel.values, [[0.5, 0.1, 0.0], [0.75, 0.25, 0.1]], rtol=1e-12)
    assert rel.dims == ("step", "layer")
    assert_labelled(rel)


def update_decay(ds: xr.Dataset, last_steps: int | None = None) -> xr.DataArray:
    """Decades per layer by which the median relative update falls towards the input."""
    rel = relative_update(ds)
    if last_steps:
        rel = rel.isel(step=slice(-last_steps, None))
    return -log_slope(rel.median("step"))["slope"]


def test_relative_update_decay_on_known_numbers():
    """The relative update falls 1 decade per layer at the median step; an outlier step does
    not move the median; the last step alone falls 4 decades per layer."""
    base = 10.0 ** -(DEPTH - LAYERS).astype(float)  # 1 decade per layer
    relative = np.stack([base * 3.0, base, base * 1e-3 ** (DEPTH - LAYERS) / 3.0])
    np.testing.assert_allclose(float(update_decay(update_dataset(relative))), 1.0, rtol=1e-12)
    np.testing.assert_allclose(float(update_decay(update_dataset(relative), 1)), 4.0,
                               rtol=1e-12)


def test_relative_update_decay_keeps_sweep_dims():
    rows = [10.0 ** -(r * (DEPTH - LAYERS)) for r in (0.5, 1.0, 2.0)]
    relative = np.stack([np.stack([row, row]) for row in rows])  # (gamma, step, layer)
    rate = update_decay(update_dataset(relative, {"gamma": [0.01, 0.1, 1.0]}))
    assert rate.dims == ("gamma",)
    np.testing.assert_allclose(rate.values, [0.5, 1.0, 2.0], rtol=1e-12)


@pytest.mark.parametrize("dead_layer", [1, 3])
def test_log_slope_leaves_out_layers_whose_update_is_exactly_zero(dead_layer):
    """A zero update has log10 = -inf: left out of the fit, not a point at -inf."""
    relative = np.stack([10.0 ** -(2.0 * (DEPTH - LAYERS))] * 2)
    relative[:, dead_layer - 1] = 0.0
    np.testing.assert_allclose(float(update_decay(update_dataset(relative))), 2.0, rtol=1e-12)


# --- sweeps over depth or inference_steps: shorter runs are NaN-padded at the end ---------------
#
# pcdiag.sweep (sweep._stack) puts a depth-L run's layers at layer = 1..L and NaN above, and a
# T-step run's records at t = 0..T and NaN after. The metrics must read each run's own output
# node and own last iteration, and its energy_total must be its own sum.


def padded_depth_sweep() -> xr.Dataset:
    """depth in (3, 5); the depth-3 run holds 1/100, 1/10, 1 in layers 1..3, NaN in 4..5."""
    energy = np.full((2, 1, 2, 5), np.nan)
    energy[0, :, :, :3] = [0.01, 0.1, 1.0]
    energy[1, :, :, :] = [1e-4, 1e-3, 0.01, 0.1, 1.0]
    ds = energy_dataset(energy, {"depth": [3, 5]})
    ds["energy_total"] = ds["energy"].sum("layer", skipna=True)  # each run's own total
    return ds


def test_energy_decay_rate_in_a_depth_sweep_ignores_the_padding():
    rate = energy_decay_rate(padded_depth_sweep())["rate"]
    np.testing.assert_allclose(rate.values, [[1.0], [1.0]], rtol=1e-12)


def test_output_share_in_a_depth_sweep_reads_each_runs_own_output_node():
    share = output_share(padded_depth_sweep())
    np.testing.assert_allclose(share.sel(depth=5).values, 1.0 / 1.1111, rtol=1e-12)
    np.testing.assert_allclose(share.sel(depth=3).values, 1.0 / 1.11, rtol=1e-12)


def padded_steps_sweep() -> xr.Dataset:
    """inference_steps in (2, 4), L = 5: the T = 2 run has t = 0..2 and NaN at t = 3, 4; at
    its last t it decays 2 decades per layer, the T = 4 run 1 decade per layer."""
    energy = np.full((2, 1, 5, DEPTH), np.nan)
    energy[0, 0, :3] = 10.0 ** (-2.0 * (DEPTH - LAYERS))
    energy[1, 0, :] = 10.0 ** (-1.0 * (DEPTH - LAYERS))
    return energy_dataset(energy, {"inference_steps": [2, 4]})


def test_energy_decay_rate_and_front_in_an_inference_steps_sweep_read_each_runs_own_T():
    ds = padded_steps_sweep()
    np.testing.assert_allclose(energy_decay_rate(ds)["rate"].values, [[2.0], [1.0]], rtol=1e-12)
    front = energy_front(ds)
    assert np.isfinite(front.sel(inference_steps=2).values).all(), front.values


def test_build_energy_total_of_a_padded_depth_sweep_is_each_runs_own_sum():
    from pcdiag.config import Config
    from pcdiag.dataset import build

    energy = np.full((2, 1, 3, 3), np.nan, np.float32)  # (depth, step, t, layer)
    energy[0, 0, :, :2] = [[0.0, 2.0], [0.5, 1.0], [0.75, 0.5]]
    energy[1, 0] = [[0.0, 0.0, 4.0], [0.0, 1.0, 2.0], [0.5, 1.0, 1.0]]
    records = {
        "energy": energy,
        "step": np.array([0]),
        "epoch_of_step": np.array([1]),
        "diverged_at": np.array([-1, -1]),
    }
    ds = build(records, Config(depth=3, inference_steps=2), {"depth": [2, 3]})
    np.testing.assert_allclose(ds["energy_total"].sel(depth=3).values, [[4.0, 3.0, 2.5]])
    np.testing.assert_allclose(ds["energy_total"].sel(depth=2).values, [[2.0, 1.5, 1.25]])
