"""pcdiag.measures on cases whose answer is known by construction.

Hand-made Datasets (a few numbers with the Dataset's names and a real config) where the
answer is arithmetic; real optax steps where the answer is an optimizer's algebra; and small
real runs (Fashion-MNIST, depth <= 8, width <= 32, 256 images, one epoch) where the answer is
the physics of the front: standard PC moves the error one layer per inference iteration
(layer l first at t = L - l, never more than T layers below the output), ePC reaches every
layer at t = 1. No tolerance here is fitted to a result; each is argued where it is used.
"""

import os
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import xarray as xr

import pcdiag
from pcdiag import measures
from pcdiag.algorithms import Hyper, Program, weight_optimizer
from pcdiag.config import Config

DATA = Path(
    os.environ.get("PCDIAG_DATA") or Path(__file__).resolve().parents[2] / "shared" / "data"
)
U = 2.0**-24  # float32 unit roundoff


def made(energy=None, update=None, weight=None, grad=None, **config) -> xr.Dataset:
    """A Dataset with pcdiag's names from arrays: energy and grad (step, t, layer), update and
    weight norms (step, layer); the config attr from a real (validated) Config."""
    data = {}
    if energy is not None:
        energy = np.asarray(energy, float)
        data["energy"] = (("step", "t", "layer"), energy)
        total = np.where(np.isnan(energy).all(-1), np.nan, np.nansum(energy, -1))
        data["energy_total"] = (("step", "t"), total)  # each run's own layers
    if grad is not None:
        data["state_grad_norm"] = (("step", "t", "layer"), np.asarray(grad, float))
    if update is not None:
        data["update_norm"] = (("step", "layer"), np.asarray(update, float))
        data["weight_norm"] = (("step", "layer"), np.asarray(weight, float))
    ds = xr.Dataset(data)
    depth = ds.sizes["layer"]
    ds = ds.assign_coords(layer=np.arange(1, depth + 1), step=np.arange(ds.sizes["step"]))
    if "t" in ds.dims:
        ds = ds.assign_coords(t=np.arange(ds.sizes["t"]))
        config.setdefault("inference_steps", ds.sizes["t"] - 1)
    ds.attrs["config"] = Config(depth=depth, **config).to_json()
    return ds


def stack(runs: list[xr.Dataset], dim: str, values) -> xr.Dataset:
    """Hand-made runs side by side along a sweep dim (the config attr of the first)."""
    out = xr.concat(runs, dim=dim, join="outer").assign_coords({dim: list(values)})
    out.attrs = runs[0].attrs
    return out


def labelled(da: xr.DataArray) -> None:
    assert {"long_name", "units", "comment"} <= set(da.attrs)


# --------------------------------------------------------------------------- reached


def front(depth: int, steps: int, size: float = 1e-3, output: float = 2.0) -> np.ndarray:
    """Energies (1, T+1, L) of standard PC's front: node l holds `size` from t = L - l on,
    exact 0 before; the output node holds `output` throughout."""
    energy = np.zeros((1, steps + 1, depth))
    for layer in range(1, depth):
        energy[0, depth - layer:, layer - 1] = size
    energy[0, :, -1] = output
    return energy


def test_reached_at_is_l_steps_from_the_output_for_pc_and_1_for_epc_hand_made():
    depth, steps = 6, 5
    pc = made(front(depth, steps))
    got = measures.reached_at(pc).isel(step=0).values
    np.testing.assert_array_equal(got, depth - np.arange(1, depth + 1))
    epc = front(depth, steps)
    epc[0, 1:, :-1] = 1e-3  # errors move together: every node holds energy from t = 1
    np.testing.assert_array_equal(
        measures.reached_at(made(epc, algorithm="epc")).isel(step=0).values,
        [1, 1, 1, 1, 1, 0])
    labelled(measures.reached_at(pc))
    labelled(measures.reached(pc))


def test_a_node_holding_only_rounding_is_not_reached():
    """5e-16 at every t (a recomputed mu_l in another fusion) beside F ~ 2: neither above
    twice its t = 0 value nor above 2^-24 F."""
    energy = front(4, 3)
    energy[0, :, 0] = 5e-16  # layer 1 never reached; layers 2, 3 from t = 2, 1
    reached = measures.reached(made(energy)).isel(step=0)
    np.testing.assert_array_equal(reached.sel(layer=1).values, 0.0)
    np.testing.assert_array_equal(measures.reached_at(made(energy)).isel(step=0).values,
                                  [np.nan, 2, 1, 0])
    np.testing.assert_array_equal(measures.layers_reached(made(energy)).values, 3)


@pytest.mark.parametrize("factor, expected", [(0.9, 0.0), (1.1, 1.0)])
def test_an_energy_below_2_to_the_minus_24_of_F_is_not_reached(factor, expected):
    """Layer 1 holds factor * 2^-24 F(t) from t = 1 and exactly 0 at t = 0 (so the t = 0
    floor is 0 and only the energy budget's resolution decides); 10% from the threshold is
    far beyond float64's rounding of these numbers."""
    output = 2.0
    energy = np.zeros((1, 3, 3))
    energy[0, :, 2] = output
    energy[0, 1:, 1] = 0.5
    # E_1 = r (E_1 + E_2 + E_3)  =>  E_1 = r (E_2 + E_3) / (1 - r)
    r = factor * U
    energy[0, 1:, 0] = r * (output + 0.5) / (1 - r)
    ds = made(energy)
    np.testing.assert_allclose(ds["energy"][0, 1:, 0] / ds["energy_total"][0, 1:], r,
                               rtol=1e-12)
    np.testing.assert_array_equal(measures.reached(ds).isel(step=0, layer=0).values,
                                  [0.0, expected, expected])


def test_reached_is_nan_for_non_finite_energies_and_absent_layers():
    """A diverged step gives NaN, not 'not reached'; in a depth sweep the shallower net's
    padded layer is NaN and its own output (layer 2) counts as the clamped output."""
    deep = front(3, 2)
    deep = np.concatenate([deep, np.full_like(deep, np.nan)])  # step 1 diverged
    shallow = np.concatenate([front(2, 2), front(2, 2)])
    shallow = np.concatenate([shallow, np.full((2, 3, 1), np.nan)], axis=-1)
    ds = stack([made(deep), made(shallow)], "depth", [3, 2])
    reached = measures.reached(ds)
    assert reached.sel(depth=3, step=1).isnull().all()
    assert reached.sel(depth=2, layer=3).isnull().all()
    np.testing.assert_array_equal(reached.sel(depth=2, step=0, layer=2).values, 1.0)
    np.testing.assert_array_equal(measures.output_layer(ds).values, [3, 2])
    counts = measures.layers_reached(ds)
    assert np.isnan(counts.sel(depth=3)) and counts.sel(depth=2) == 2


def test_reached_at_reads_each_runs_own_T_in_an_inference_steps_sweep():
    """T = 2 and T = 4 side by side (t padded with NaN beyond 2): layer 1 of a depth-4 net
    needs 3 iterations, so the T = 2 run reaches layers 2 and 3 (at t = 2, 1) but not it."""
    short = np.concatenate([front(4, 2), np.full((1, 2, 4), np.nan)], axis=1)
    ds = stack([made(short, inference_steps=2), made(front(4, 4))],
               "inference_steps", [2, 4])
    got = measures.reached_at(ds).isel(step=0)
    np.testing.assert_array_equal(got.sel(inference_steps=2).values, [np.nan, 2, 1, 0])
    np.testing.assert_array_equal(got.sel(inference_steps=4).values, [3, 2, 1, 0])
    np.testing.assert_array_equal(measures.layers_reached(ds).values, [3, 4])


# --------------------------------------------------------------------------- learns


def test_a_relative_update_of_at_most_2_to_the_minus_25_leaves_float32_weights_unchanged():
    """The float32 fact `learns` rests on, in real float32 arithmetic: theta + r theta ==
    theta bit for bit for r <= 2^-25 (either sign), while r = 0.9 * 2^-24, below the unit
    roundoff, changes most weights by one unit in the last place: the threshold is u / 2."""
    theta = np.random.default_rng(0).standard_normal(100_000).astype(np.float32)
    theta = np.concatenate([theta, np.float32([1.0, 2.0, 0.5, -4.0])])  # powers of 2: ties
    assert measures.UNCHANGED == 2.0**-25
    for r in (measures.UNCHANGED, -measures.UNCHANGED, 0.99 * measures.UNCHANGED):
        delta = (theta.astype(np.float64) * r).astype(np.float32)
        assert (theta + delta == theta).all()
    delta = (theta.astype(np.float64) * 0.9 * U).astype(np.float32)
    changed = theta + delta != theta
    assert changed.mean() > 0.5
    spacing = np.spacing(np.abs(theta[changed]))
    np.testing.assert_array_equal(np.abs(theta[changed] + delta[changed] - theta[changed]),
                                  spacing)


def test_an_update_below_float32_resolution_does_not_count_as_learning():
    """sgd without decay: relative updates 0.5 and 1.5 times 2^-25 (of a weight norm of 3)."""
    weight = np.full((2, 2), 3.0)
    update = weight * np.array([0.5, 1.5]) * measures.UNCHANGED
    ds = made(update=update, weight=weight, weight_optimizer="sgd", weight_decay=0.0)
    np.testing.assert_array_equal(measures.learns(ds).values, [[0, 1], [0, 1]])
    np.testing.assert_array_equal(measures.stalled(ds).values, [1, 0])
    assert measures.stalled_layers(ds) == 1
    assert measures.learns(ds).attrs["signal_checked"] == 0  # no energies here
    labelled(measures.stalled(ds))
    labelled(measures.stalled_layers(ds))


def optax_norms(optimizer: str, steps: int, updates_per_step: int = 1, **changes):
    """Real pcdiag weight-optimizer steps on a 2-layer net: layer 1's gradient is 0 (decay
    only), layer 2's is a fixed random matrix. (update_norm, weight_norm) per step, float32,
    as the trainer records them (update: the optimizer's update, or new - old over
    `updates_per_step` updates as ipc records it)."""
    cfg = Config(depth=2, weight_optimizer=optimizer, **changes)
    prog, hyper = Program.from_config(cfg), Hyper.from_config(cfg)
    rng = np.random.default_rng(1)
    params = tuple((jnp.asarray(rng.standard_normal((8, 8)), jnp.float32),
                    jnp.asarray(rng.standard_normal(8), jnp.float32)) for _ in range(2))
    grads = ((jnp.zeros((8, 8)), jnp.zeros(8)),
             (jnp.asarray(rng.standard_normal((8, 8)), jnp.float32), jnp.zeros(8)))
    opt = weight_optimizer(prog, hyper)
    state = opt.init(params)

    def norm(tree):
        return [float(jnp.sqrt(sum(jnp.sum(a.astype(jnp.float32) ** 2) for a in layer)))
                for layer in tree]

    up, wn = [], []
    for _ in range(steps):
        old = params
        for _ in range(updates_per_step):
            change, state = opt.update(grads, state, params)
            params = jax.tree_util.tree_map(jnp.add, params, change)
        if updates_per_step > 1:
            change = jax.tree_util.tree_map(jnp.subtract, params, old)
        up.append(norm(change))
        wn.append(norm(params))
    return np.array(up), np.array(wn), cfg


@pytest.mark.parametrize("optimizer, changes, per_step", [
    ("sgd", dict(weight_lr=0.05, weight_decay=0.01), 1),
    ("adamw", dict(weight_lr=0.05, weight_decay=0.01), 1),
    ("momentum", dict(weight_lr=0.01, weight_decay=0.01, momentum=0.9), 1),
    ("sgd", dict(weight_lr=0.05, weight_decay=0.01, algorithm="ipc", inference_steps=4), 4),
], ids=["sgd", "adamw", "momentum", "ipc-sgd-T4"])
def test_weight_decay_alone_is_not_learning_with_real_optax_steps(optimizer, changes, per_step):
    """A layer with a zero gradient moves by decay only; `decay_only_update` bounds what the
    trainer records for it, tightly (the bound is the limit the recorded ratio approaches:
    within 1% after 150 momentum steps, whose velocity converges like 0.9^k), so the layer
    learns at no step while the layer with a gradient learns at every one. d = lr wd = 5e-4
    (sgd, adamw) makes the correction of the bound visible: the ratio is taken against the
    weight norm after the step, d / (1 - d) = d + 2.5e-7, beyond the naive bound d by more
    than the 2^-25 resolution (which the naive rule would count as learning)."""
    steps = 150 if optimizer == "momentum" else 5
    update, weight, cfg = optax_norms(optimizer, steps, per_step, **changes)
    ds = made(update=update, weight=weight,
              **{k: v for k, v in cfg.to_dict().items() if k != "depth"})
    bound = float(measures.decay_only_update(ds))
    ratio = update[:, 0] / weight[:, 0]
    assert (ratio - bound <= measures.UNCHANGED).all()
    np.testing.assert_allclose(ratio[-1], bound, rtol=1e-2)
    learns = measures.learns(ds)
    np.testing.assert_array_equal(learns.sel(layer=1).values, 0.0)
    np.testing.assert_array_equal(learns.sel(layer=2).values, 1.0)
    np.testing.assert_array_equal(measures.stalled(ds).values, [1.0, 0.0])
    if optimizer in ("sgd", "adamw") and per_step == 1:
        naive = changes["weight_lr"] * changes["weight_decay"]
        assert (ratio - naive > measures.UNCHANGED).all()


def test_momentum_without_a_steady_state_gives_no_count():
    """lr wd = 0.05 with beta = 0.9: (1 - beta + d)^2 < 4 d, decay alone overshoots; the
    bound is NaN and so is `learns` (no count, never 0)."""
    ds = made(update=np.ones((2, 2)), weight=np.ones((2, 2)), weight_optimizer="momentum",
              weight_lr=0.5, weight_decay=0.1, momentum=0.9)
    assert np.isnan(measures.decay_only_update(ds))
    assert measures.learns(ds).isnull().all() and measures.stalled(ds).isnull().all()


def test_an_adam_layer_fed_by_rounding_is_stalled():
    """adamw moves every layer by ~lr whatever its gradient: layer 1's node holds rounding
    (5e-16 at every t), so its full-size updates are not learning; layer 2's node is
    reached and learns. Without per-t energies the check cannot be made and says so."""
    energy = front(3, 2)
    energy[0, :, 0] = 5e-16
    energy = np.repeat(energy, 2, axis=0)
    weight = np.full((2, 3), 5.0)
    update = weight * 1e-3
    ds = made(energy, update=update, weight=weight, weight_optimizer="adamw",
              weight_lr=1e-3, weight_decay=1e-4)
    np.testing.assert_array_equal(measures.stalled(ds).values, [1, 0, 0])
    assert measures.learns(ds).attrs["signal_checked"] == 1
    blind = ds.drop_vars(["energy", "energy_total"])
    np.testing.assert_array_equal(measures.stalled(blind).values, [0, 0, 0])
    assert "not checked here" in measures.learns(blind).attrs["comment"]


def test_a_diverged_run_gives_nan_and_depth_padding_nan_for_absent_layers():
    ok = made(update=np.full((3, 3), 1e-7), weight=np.ones((3, 3)), weight_optimizer="sgd",
              weight_decay=0.0)
    diverged = ok.copy(deep=True)
    diverged["update_norm"][2] = np.nan
    diverged["weight_norm"][2] = np.nan
    shallow = ok.copy(deep=True)
    shallow["update_norm"][:, 2] = np.nan
    shallow["weight_norm"][:, 2] = np.nan
    shallow["update_norm"][:, 0] = 0.0  # layer 1 of the shallow net is stalled
    ds = stack([ok, diverged, shallow], "run", ["ok", "diverged", "shallow"])
    stalled = measures.stalled(ds)
    np.testing.assert_array_equal(stalled.sel(run="ok").values, [0, 0, 0])
    assert stalled.sel(run="diverged").isnull().all()
    np.testing.assert_array_equal(stalled.sel(run="shallow").values, [1, 0, np.nan])
    np.testing.assert_array_equal(measures.stalled_layers(ds).values, [0, np.nan, 1])


def test_decay_bound_follows_swept_settings():
    """weight_decay and weight_optimizer swept (coordinates), lr_schedule from the config:
    each run's own d at the schedule's peak (lr_peak_factor 1.1)."""
    base = made(update=np.ones((1, 2)), weight=np.ones((1, 2)), weight_lr=0.01,
                lr_schedule="warmup_cosine", lr_peak_factor=1.1)
    runs = [stack([base, base], "weight_decay", [0.0, 0.01])] * 2
    ds = stack(runs, "weight_optimizer", ["sgd", "momentum"])
    d = 0.011 * 0.01
    got = measures.decay_only_update(ds).transpose("weight_optimizer", "weight_decay")
    np.testing.assert_allclose(got.sel(weight_decay=0.0).values, 0.0, atol=0)
    np.testing.assert_allclose(got.sel(weight_optimizer="sgd", weight_decay=0.01),
                               d / (1 - d), rtol=1e-12)
    # momentum 0.9 (the config default): the fixed point of s -> 0.9 s / (1 - s) + d (the
    # velocity's share of theta), iterated here, 1.1% above the naive d / (1 - 0.9)
    s = d
    for _ in range(2000):
        s = 0.9 * s / (1 - s) + d
    got_momentum = float(got.sel(weight_optimizer="momentum", weight_decay=0.01))
    np.testing.assert_allclose(got_momentum, s / (1 - s), rtol=1e-9)
    assert got_momentum > 1.01 * d / 0.1


# --------------------------------------------------------------------------- profiles


@pytest.mark.parametrize("values, shape", [
    ([1e-6, 1e-4, 1e-2, 1.0], "rising"),
    ([1.0, 1e-1, 1e-3, 1e-3], "falling"),
    ([1.0, 1.2, 0.9, 1.5], "flat"),
    ([1.0, 1e-3, 1e-2, 1.0], "u_shaped"),
    ([1e-3, 1e-1, 1.0, 1e-2], "peaked"),
    ([1.0, 1e-3, 1.0, 1e-3], "irregular"),
    ([np.nan, 0.0, 1.0, np.nan], "none"),
    ([1e-4, 0.0, np.nan, 1.0], "rising"),  # zeros and NaN are left out
])
def test_classify_shape(values, shape):
    assert measures.classify_shape(values) == shape


def test_profile_rate_is_the_known_slope_where_monotone_and_nan_elsewhere():
    """10^(-2 (L - l)): rising at 2 decades per layer away from the output; its reverse
    falls at -2; a U is not a line."""
    layers = np.arange(1, 6)
    rows = {"rising": 10.0 ** (-2 * (5 - layers)), "falling": 10.0 ** (-2 * (layers - 1)),
            "u_shaped": np.array([1.0, 1e-2, 1e-4, 1e-2, 1.0])}
    values = xr.DataArray(np.stack(list(rows.values())), dims=("case", "layer"),
                          coords={"case": list(rows), "layer": layers})
    out = measures.profile(values, "energy", "1", "test")
    np.testing.assert_array_equal(out["shape"].values, list(rows))
    np.testing.assert_allclose(out["rate"].values[:2], [2.0, -2.0], rtol=1e-12)
    assert np.isnan(out["rate"].values[2])
    for name in out:
        labelled(out[name])


def test_energy_and_update_profiles_use_T_and_the_late_steps():
    energy = np.repeat(front(4, 3, size=1e-3), 4, axis=0)
    energy[:, -1, :-1] *= 10.0 ** -np.arange(3, 0, -1)  # at T: 1e-6, 1e-5, 1e-4, then 2
    weight = np.ones((4, 4))
    update = np.tile(10.0 ** -np.arange(4, 0, -1), (4, 1))
    update[0] = 1.0  # the first step is not a late one (last 25% of 4 steps: step 3)
    ds = made(energy, update=update, weight=weight)
    energy_profile = measures.energy_profile(ds)
    assert str(energy_profile["shape"].values) == "rising"
    updates = measures.update_profile(ds)
    assert str(updates["shape"].values) == "rising"
    np.testing.assert_allclose(updates["rate"].values, 1.0, rtol=1e-12)
    share = measures.energy_fraction(ds).isel(step=0)
    np.testing.assert_allclose(share.sum("layer"), 1.0, rtol=1e-12)


# --------------------------------------------------------------------------- relaxation


def test_relaxation_against_known_gradients():
    """Two free nodes and the clamped output (NaN). Total sqrt(sum of squares) over t:
    2, 1, sqrt(1.25), sqrt(0.26) -> left 0.255 (not relaxed); a second step whose gradients
    fall to 1/20 of their start -> left 0.05 (relaxed)."""
    nan = np.nan
    grad = np.array([
        [[0.0, 2.0, nan], [0.0, 1.0, nan], [1.0, 0.5, nan], [0.5, 0.1, nan]],
        [[0.0, 2.0, nan], [0.3, 1.0, nan], [0.1, 0.4, nan], [0.06, 0.08, nan]],
    ])
    ds = made(front(3, 3).repeat(2, axis=0), grad=grad)
    out = measures.relaxation(ds)
    np.testing.assert_allclose(out["left_total"].values, [np.sqrt(0.26) / 2, 0.05],
                               rtol=1e-12)
    np.testing.assert_array_equal(out["relaxed"].values, [0.0, 1.0])
    np.testing.assert_allclose(out["left"].isel(step=0).values, [0.5, 0.05, nan], rtol=1e-12)
    for name in out:
        labelled(out[name])


# --------------------------------------------------------------------------- stability


def test_step_limit_conventions_on_a_known_lambda():
    """lambda_max = 4: sgd 2/4, momentum (beta 0.5) 2 (1.5)/4, batch_mean with batch 16 and
    sgd 16 times 2/4, adam none. gamma_convention and state_optimizer swept."""
    lam = xr.DataArray(np.full(3, 4.0), dims="step", coords={"step": [0, 1, 2]})
    base = xr.Dataset({"hessian_lambda_max": lam})
    base.attrs["config"] = Config(gamma=0.6, state_momentum=0.5, batch_size=16).to_json()
    by_optimizer = [base] * 3
    conventions = [stack(by_optimizer, "state_optimizer", ["sgd", "momentum", "adam"])] * 2
    ds = stack(conventions, "gamma_convention", ["per_sample", "batch_mean"])
    out = measures.step_limit(ds).isel(step=0)
    limit = out["limit"].transpose("gamma_convention", "state_optimizer").values
    np.testing.assert_allclose(limit, [[0.5, 0.75, np.nan], [8.0, 12.0, np.nan]], rtol=1e-12)
    stable = out["stable"].transpose("gamma_convention", "state_optimizer").values
    np.testing.assert_array_equal(stable, [[0, 1, np.nan], [1, 1, np.nan]])
    product = out["gamma_lambda"].transpose("gamma_convention", "state_optimizer").values
    np.testing.assert_allclose(product, [[2.4, 2.4, np.nan], [0.15, 0.15, np.nan]],
                               rtol=1e-12)
    for name in out:
        labelled(out[name])


def test_step_limit_with_a_gamma_sweep_and_nan_for_bp():
    lam = xr.DataArray([[2.0, np.nan]], dims=("step", "algorithm"),
                       coords={"step": [0], "algorithm": ["pc", "bp"]})
    base = xr.Dataset({"hessian_lambda_max": lam})
    base.attrs["config"] = Config().to_json()
    ds = stack([base, base], "gamma", [0.5, 1.0])
    out = measures.step_limit(ds).isel(step=0).transpose("gamma", "algorithm")
    np.testing.assert_array_equal(out["stable"].values, [[1, np.nan], [0, np.nan]])


# --------------------------------------------------------------------------- real runs


SMALL = dict(dataset="fashion-mnist", data_dir=str(DATA), train_limit=256, test_limit=64,
             batch_size=32, epochs=1)


@pytest.fixture(scope="module")
def deep_runs():
    """Depth 8, width 32, T = 4 < L - 1, pc and epc at gamma 0.1 and 0.5, hard_tanh, ce,
    adamw: 8 steps of 32 real images. gamma 0.5 is below the measured step limit (about
    0.57: lambda_max 3.5 at t = 0, see hessian_lambda_max), and makes the front's energy at
    T = 4 layers below the output about 200 times 2^-24 F."""
    cfg = Config(depth=8, width=32, inference_steps=4, hessian_samples=2, **SMALL)
    return pcdiag.sweep(cfg, gamma=[0.1, 0.5], algorithm=["pc", "epc"])


def test_pc_front_cannot_pass_more_than_T_layers_on_fashion_mnist(deep_runs):
    """Standard PC: layer l cannot be reached before t = L - l (its node moves only after
    the node above it has), so with T = 4 the layers l < L - T = 4 are never reached: exact
    at any gamma. At gamma = 0.5 the front is above the energy budget's resolution, so
    layer l is reached at exactly t = L - l for l >= 4. At gamma = 0.1 the front's energy
    shrinks ~gamma^2 per layer and falls below 2^-24 F near T layers from the output, so
    there it is only bounded."""
    depth, steps = 8, 4
    layers = np.arange(1, depth + 1)
    first = measures.reached_at(deep_runs.sel(algorithm="pc"))
    beyond = first.sel(layer=layers < depth - steps)
    assert beyond.isnull().all()
    assert (first >= depth - first["layer"]).where(np.isfinite(first), True).all()
    at_half = first.sel(gamma=0.5, layer=layers >= depth - steps)
    np.testing.assert_array_equal(
        at_half.transpose("step", "layer").values,
        np.tile(depth - np.arange(depth - steps, depth + 1), (at_half.sizes["step"], 1)))
    assert (measures.step_limit(deep_runs).sel(algorithm="pc", gamma=0.5)["stable"] == 1).all()
    np.testing.assert_array_equal(
        measures.layers_reached(deep_runs.sel(algorithm="pc", gamma=0.5)), steps + 1)


def test_epc_reaches_every_layer_at_t_1_on_fashion_mnist(deep_runs):
    first = measures.reached_at(deep_runs.sel(algorithm="epc"))
    hidden = first.sel(layer=slice(1, 7))
    np.testing.assert_array_equal(hidden.values, 1.0)
    np.testing.assert_array_equal(first.sel(layer=8).values, 0.0)
    np.testing.assert_array_equal(measures.layers_reached(deep_runs.sel(algorithm="epc")), 8)


def test_layers_the_error_never_reaches_are_stalled_on_fashion_mnist(deep_runs):
    """pc, T = 4: layers 1..3 get an exactly zero gradient (their nodes never move), so adamw
    moves them by decay alone; the output layer learns. epc reaches them all: none stalled
    that far down (every node reached at T)."""
    stalled = measures.stalled(deep_runs)
    pc = stalled.sel(algorithm="pc")
    np.testing.assert_array_equal(pc.sel(layer=[1, 2, 3]).values, 1.0)
    np.testing.assert_array_equal(pc.sel(layer=8).values, 0.0)
    assert (deep_runs["weight_grad_norm"].sel(algorithm="pc", layer=[1, 2, 3]) == 0).all()
    np.testing.assert_array_equal(stalled.sel(algorithm="epc", layer=[1, 2, 3]).values, 0.0)


@pytest.mark.parametrize("optimizer", ["sgd", "momentum"])
def test_decay_only_layers_are_stalled_with_sgd_and_momentum_on_fashion_mnist(optimizer):
    """The same cut-off layers with L2 decay in the gradient (sgd, momentum): lr wd = 1e-4,
    each decay step 3000 times the 2^-25 resolution, still counted as decay only."""
    cfg = Config(depth=8, width=32, inference_steps=4, gamma=0.5, weight_optimizer=optimizer,
                 weight_lr=0.01, weight_decay=0.01, **SMALL)
    ds = pcdiag.train(cfg)
    assert (ds["weight_grad_norm"].sel(layer=[1, 2, 3]) == 0).all()
    ratio = ds["update_norm"] / ds["weight_norm"]
    assert (ratio.sel(layer=[1, 2, 3]) > 1000 * measures.UNCHANGED).all()
    stalled = measures.stalled(ds)
    np.testing.assert_array_equal(stalled.sel(layer=[1, 2, 3]).values, 1.0)
    np.testing.assert_array_equal(stalled.sel(layer=8).values, 0.0)
    assert measures.stalled_layers(ds) >= 3


@pytest.mark.slow  # four programs with the Hessian probe; the real-data front test is default
def test_linear_chain_front_and_an_inference_steps_sweep():
    """A deep linear MLP (identity activation, se output): in exact arithmetic node l's
    energy is exactly 0 until t = L - l and positive from then on. Depth 6, T = L - 1 = 5
    reaches every layer at t = L - l; the T = 2 run of the same sweep only layers 4, 5.
    The front's energy at its first arrival shrinks by ~(gamma sigma_max(W))^2 per layer
    (measured on this net: about 1/30 per layer at gamma 0.3, where layer 1 held 0.8 times
    2^-24 F at t = 5 and so did not count); gamma 0.5, below the run's own step limit of
    about 0.6 (checked), leaves it 130 times above that floor at layer 1."""
    cfg = Config(depth=6, width=16, activation="linear", output_energy="se", gamma=0.5,
                 hessian_samples=2, **SMALL)
    ds = pcdiag.sweep(cfg, inference_steps=[2, 5], algorithm=["pc", "epc"])
    assert (measures.step_limit(ds).sel(algorithm="pc")["stable"] == 1).all()
    first = measures.reached_at(ds)
    pc = first.sel(algorithm="pc").transpose("inference_steps", "step", "layer")
    np.testing.assert_array_equal(pc.sel(inference_steps=5).values,
                                  np.broadcast_to([5, 4, 3, 2, 1, 0], (8, 6)))
    np.testing.assert_array_equal(
        pc.sel(inference_steps=2).values,
        np.broadcast_to([np.nan, np.nan, np.nan, 2, 1, 0], (8, 6)))
    epc = first.sel(algorithm="epc").transpose("inference_steps", "step", "layer")
    np.testing.assert_array_equal(epc.values, np.broadcast_to([1, 1, 1, 1, 1, 0], (2, 8, 6)))
