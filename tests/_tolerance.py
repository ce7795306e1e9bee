"""How close two runs computed by different compiled programs must be, argued once.

A vmapped sweep and a run alone, a lax.scan and a Python loop of jitted steps, a batch of 2
runs and one of 4, an epoch in one call or in 10: XLA compiles each into other kernels (other
blocking of a dot product, other reduction trees, an FMA here and not there), so the same
arithmetic rounds differently, already in the first step (measured: 1 ulp apart in a state
gradient norm at step 0, t = 0, sweep against run alone). What must be equal is compared
exactly: the step, epoch and swept-value coordinates, the config, diverged_at, and where
values are NaN (clamped nodes, diverged runs). The rest is held to a bound from float32 and
the number of steps:

1. Rounding. eps = 2**-23 ~ 1.19e-7 is float32's relative spacing. A dot product of n terms,
   summed in any order (the freedom the programs have), is off by at most n * eps of the sum
   of its terms' magnitudes (Higham's gamma_n). In every trained test net the longest is the
   input layer's, n = FAN_IN = 784 pixels (widths <= 64, batches <= 32, 10 classes), so one
   step of arithmetic moves a value by at most 784 * eps ~ 9.3e-5 of its size. The record
   of step k (0-based) comes from k + 1 steps of arithmetic (k earlier weight updates and
   its own; an ipc step is T weight updates), and over a few dozen stable steps their
   perturbations add up rather than compound: after S steps the bound is S * 784 * eps,
   1.3e-3 at step 13, 1.9e-3 at step 19. It is a worst case per operation: random-walk
   rounding is sqrt(784) * eps a step, 28 times less, which leaves room for the modest
   amplification of 20-30 smooth training steps (measured on the runs of test_sweep.py:
   weights perturbed by 10 eps change step 13's state gradient norms by <= 2e-6). Norms of
   a whole weight matrix sum up to 784 * 64 squares, but positive ones: their rounding is
   relative to the result, ~sqrt(n) * eps = 2.7e-5 even summed in sequence, and nothing is
   computed from them. Energies E_l = 1/2 ||x_l - mu_l||^2 are differences of O(1) states,
   which round relative to the states, not to E_l: near forward initialisation (E_1 ~ 7e-5
   at t = 2 beside 7e-3 at t = T) the bound is relative to the layer's largest energy over
   t in that step, the size of the terms that cancel.

2. Corners. hard_tanh's derivative jumps at +-1 (relu's at 0). Where a sample's pre-
   activation lies within rounding of a corner, one program can put it on the other side:
   f' switches between 0 and 1 and what is computed through f' (the state gradients, the
   weight gradient and the update made from it) jumps by that sample's term, a 1/B share
   of a batch mean (B = batch_size), not by a rounding error. This is what failed on an AMD
   EPYC without AVX-512: state_grad_norm at step 13, t = 8, layer 1 of the gamma 0.05,
   seed 1 run, 0.0653521 vs 0.0653754 (3.6e-4): sample 23's layer-2 pre-activation, unit
   25, lies 2.7e-6 from -1 there, and switching f' at it (in a replay) moves the record by
   exactly that, 0.06535217 -> 0.06537543. Over every layer-2 pre-activation within 1e-3 of a corner
   at t = T in the four 20-step runs of tests/test_sweep.py, a switch moves that record by
   a median 7.6e-4 and at most 7.8e-3 of it. A switch in the weight step makes the next
   steps start from weights a fraction of a step apart: from then on the runs are two
   nearby trajectories, no longer one up to rounding. So with a cornered activation the
   records through f' may differ by 1/B of their size at every step, and every record by
   1/B from step 1 on; the first step's energies, losses and weight norms keep the
   rounding bound. Measured with switches made frequent on purpose (the run replayed as a
   Python loop whose weights get +-100 or +-784 eps of noise after every step, against the
   sweep): over 20 steps no record moved by more than 1.2e-2 of its size (energies: of the
   layer's largest; 6.1e-3 for the loop without noise), against 1/B = 3.1e-2.

3. Accuracies. An image's predicted class changes only where its top-two logit margin is
   below the logits' difference (at most 2 * rtol * |z|); early in training the margins
   spread over the logits' range, so about a 2 * rtol fraction of the images lie that close
   to a decision boundary. Two programs' correct counts of n images may differ by
   ceil(2 * rtol * n) + 1 (the + 1 for one unlucky image when 2 * rtol * n < 1): 5 of 1000
   test and 3 of 320 training images after 20 steps. Corner switches leave the logits
   closer than that (train_loss moved by <= 4.1e-4 in the noisy replays above, accuracy by
   <= 1 image).

A bug (another run's seed, gamma or batch order, a record read at another t) moves the first
step's energies and losses by 1e-2 or more (seeds 1 and 2: 1.1e-1 in the energies; gammas
0.05 and 0.2: 0.86), far outside the first step's 9.3e-5, and later ones mostly by more
than 1/B too.

The same compiled program run twice (same config, seed and machine: a rerun, a store's saved
unit, a second process, the on-disk XLA cache) is compared exactly elsewhere: that is
reproducibility, and XLA computes one executable identically on one machine.
"""

from __future__ import annotations

import json
import math

import numpy as np
import xarray as xr

EPS = float(np.finfo(np.float32).eps)
#: the longest dot product of a training step in every trained test net: 784 input pixels
FAN_IN = 784
#: activations whose derivative jumps (hard_tanh at +-1, relu and leaky_relu at 0)
CORNERED = ("hard_tanh", "relu", "leaky_relu")
#: records computed through the activation's derivative: a switch at a corner moves them
THROUGH_DERIVATIVE = ("state_grad_norm", "weight_grad_norm", "update_norm")
#: per-(step, t, layer) records whose bound is relative to the layer's largest value over t
CANCELLING = ("energy",)
#: derived from energy (E_l / E_l+1 of two small energies): compare energy instead; run_status
#: is classified from the records (a run sitting on a threshold may flip between programs)
DERIVED = ("energy_ratio", "run_status", "run_status_step")


def rtol_after(steps, fan_in: int = FAN_IN):
    """Relative bound on two programs' difference after `steps` steps of arithmetic."""
    return steps * fan_in * EPS


def flips_allowed(steps: int, n: int, fan_in: int = FAN_IN) -> int:
    """How many of n images two programs may classify differently after `steps` steps."""
    return math.ceil(2 * rtol_after(steps, fan_in) * n) + 1


def assert_runs_close(got: xr.Dataset, want: xr.Dataset, names=None, *, differ=()):
    """`got` and `want` hold the same run(s), computed by different compiled programs.

    Exact: the coordinates, the config (a sweep point's swept fields read from its
    coordinates; `differ` names fields the two differ in on purpose, e.g. log_every),
    diverged_at and where values are NaN. Within the bound: every per-step record
    (assert_steps_close) and the accuracies (assert_accuracy_close). `names` limits the
    variables compared (default: all but the derived energy_ratio).
    """
    assert dict(got.sizes) == dict(want.sizes), (dict(got.sizes), dict(want.sizes))
    for name, coord in want.coords.items():
        np.testing.assert_array_equal(got[name].transpose(*coord.dims).values, coord.values,
                                      err_msg=name)
    config = run_config(want)
    assert ({k: v for k, v in run_config(got).items() if k not in differ}
            == {k: v for k, v in config.items() if k not in differ})
    for name in [n for n in (names or want.data_vars) if n not in DERIVED]:
        a, b = got[name].transpose(*want[name].dims), want[name]
        if "step" in b.dims:
            assert_steps_close(a, b, config, name)
        elif name in ("test_accuracy", "train_accuracy", "validation_accuracy"):
            assert_accuracy_close(a, b, config, name)
        else:  # diverged_at: the first non-finite step, not a rounding-level quantity
            np.testing.assert_array_equal(a.values, b.values, err_msg=name)


def run_config(ds: xr.Dataset) -> dict:
    """The run's config: a sweep's base config with each selected point's swept value (a
    scalar coordinate) put in; fields still swept along a dim are left out."""
    config = json.loads(ds.attrs["config"])
    for name, coord in ds.coords.items():
        if name in config:
            if coord.ndim == 0:
                config[name] = coord.item()
            else:
                del config[name]
    return config


def step_bound(b: xr.DataArray, config: dict, name: str) -> np.ndarray:
    """The largest |a - b| allowed for the records b (dims ending in step[, t][, layer]; the
    step coordinate counts from the run's first step), as an array shaped like b: the
    rounding bound, plus 1/B for corner switches with a cornered activation.

    A field swept along a dim (absent from `config`) is taken at its widest: ipc's T
    updates a step, an activation with corners."""
    updates = config["inference_steps"] if config.get("algorithm", "ipc") == "ipc" else 1
    rtol = rtol_after((b.step + 1) * updates)  # a DataArray on step
    # depth 1: the only layer is the output, which has no activation
    if config.get("activation", "relu") in CORNERED and config["depth"] > 1:
        switched = (b.step >= 1) | (name in THROUGH_DERIVATIVE)
        rtol = rtol + switched / config["batch_size"]
    scale = abs(b).max("t") if name in CANCELLING and "t" in b.dims else abs(b)
    return (rtol * scale).broadcast_like(b).transpose(*b.dims).values


def assert_steps_close(a: xr.DataArray, b: xr.DataArray, config: dict, name: str = ""):
    """Per-step records of two programs: within step_bound, the same NaNs and infinities."""
    av, bv = a.values, b.values
    bound = step_bound(b, config, name)
    np.testing.assert_array_equal(np.isnan(av), np.isnan(bv), err_msg=f"{name}: NaN positions")
    finite = np.isfinite(bv)
    np.testing.assert_array_equal(av[~finite], bv[~finite], err_msg=f"{name}: non-finite")
    diff = np.abs(av.astype(np.float64) - bv)
    bad = finite & ~(diff <= bound)
    if bad.any():
        where = tuple(np.argwhere(bad)[0])
        raise AssertionError(
            f"{name}: {bad.sum()} of {bad.size} values differ by more than the bound for "
            f"different programs (tests/_tolerance.py); first at "
            f"{dict(zip(b.dims, map(int, where)))}: {av[where]!r} vs {bv[where]!r} "
            f"(difference {diff[where]:.3g}, allowed {bound[where]:.3g})")


def assert_accuracy_close(a: xr.DataArray, b: xr.DataArray, config: dict, name: str):
    """Accuracies after each epoch (dim `epoch`) of two programs: the same NaNs, and correct
    counts at most flips_allowed apart (the steps trained, plus the evaluation's pass)."""
    n = config[{"test_accuracy": "test_limit",
                "validation_accuracy": "validation_size"}.get(name, "train_limit")]
    steps_per_epoch = config["train_limit"] // config["batch_size"]
    av, bv = a.values, b.values
    np.testing.assert_array_equal(np.isnan(av), np.isnan(bv), err_msg=f"{name}: NaN positions")
    allowed = xr.DataArray([flips_allowed(e * steps_per_epoch + 1, n)
                            for e in range(1, b.sizes["epoch"] + 1)], dims="epoch")
    allowed = allowed.broadcast_like(b).transpose(*b.dims).values
    apart = np.abs(np.round(av * n) - np.round(bv * n))
    bad = np.isfinite(bv) & (apart > allowed)
    assert not bad.any(), (f"{name}: correct counts of {n} images differ by {apart[bad]}, "
                           f"more than flips_allowed {allowed[bad]}")
