"""Each run's verdict as data: the CF flag variable `run_status` and `run_status_step`.

Classified on the host, once, from a run's recorded data (never inside jit), by
`classify(ds)`; `pcdiag.dataset.build` adds both variables to every training Dataset. Where
several failures hold, the most severe is reported: diverged > inference_unstable > collapsed.

- diverged: a non-finite energy (or bp loss), as `diverged_at`; step: `diverged_at`.
- inference_unstable: on more than UNSTABLE_SHARE of the late logged steps (the last
  LATE_FRACTION of them, at least LATE_MIN_STEPS) inference made the total energy worse:
  F(t = T) > (1 + RISE_TOL) F(t = 0), or F over t oscillates (the last OSC_DIFFS successive
  differences alternate in sign, each larger than OSC_TOL F(0): the period-2 oscillation of
  too large a gamma); step: the first logged step where either held.
- collapsed: training made things worse or learned nothing: the mean train loss of the last
  LOSS_WINDOW of logged steps above LOSS_RISE times that of the first LOSS_WINDOW, or the
  final test accuracy at or below chance + CHANCE_MARGIN; step: the first logged step from
  which the loss stays above the starting mean (else the first step of the first epoch from
  which the test accuracy stays at or below chance).

The thresholds are far from healthy runs: healthy inference lowers F from t = 0 by tens of
percent (float32 rounding moves F by ~1e-6 relative, RISE_TOL is 1e-3), a learning run
lowers its loss several-fold, and on ten classes chance is 0.1 while even one epoch of a
small MLP on a few hundred Fashion-MNIST images reaches over 0.5.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

OK, DIVERGED, UNSTABLE, COLLAPSED = 0, 1, 2, 3
FLAG_VALUES = np.array([OK, DIVERGED, UNSTABLE, COLLAPSED], dtype=np.int8)
FLAG_MEANINGS = "ok diverged inference_unstable collapsed"
NAMES = dict(zip(FLAG_VALUES.tolist(), FLAG_MEANINGS.split()))

#: Late steps checked for inference stability: this last fraction of the logged steps ...
LATE_FRACTION = 0.25
#: ... but at least this many (all of them when fewer were logged).
LATE_MIN_STEPS = 3
#: A step's inference is unstable where F(T) > (1 + RISE_TOL) F(0) ...
RISE_TOL = 1e-3
#: ... or where its last OSC_DIFFS differences F(t+1) - F(t) alternate in sign (needs T >= 3)
OSC_DIFFS = 4
#: ... each larger in size than OSC_TOL F(0).
OSC_TOL = 1e-3
#: The run is inference_unstable when more than this share of its late steps are.
UNSTABLE_SHARE = 0.5
#: Train-loss windows compared for collapse: the first and the last fraction of logged steps.
LOSS_WINDOW = 0.1
#: Collapsed where mean loss of the last window > LOSS_RISE * mean loss of the first.
LOSS_RISE = 1.0
#: Collapsed where the final test accuracy <= 1 / classes + CHANCE_MARGIN.
CHANCE_MARGIN = 0.05
N_CLASSES = 10

COMMENT = (
    f"flag per run, most severe first: diverged (1) = a non-finite energy or loss, as "
    f"diverged_at; inference_unstable (2) = on more than {UNSTABLE_SHARE:g} of the last "
    f"{LATE_FRACTION:.0%} of logged steps (at least {LATE_MIN_STEPS}) the total energy at "
    f"t = T exceeds (1 + {RISE_TOL:g}) times its t = 0 value or oscillates over t (the last "
    f"{OSC_DIFFS} differences alternate in sign, each above {OSC_TOL:g} F(0)); collapsed (3) = "
    f"mean train loss of the last {LOSS_WINDOW:.0%} of logged steps above {LOSS_RISE:g} times "
    f"that of the first {LOSS_WINDOW:.0%}, or final test accuracy <= 1/{N_CLASSES} + "
    f"{CHANCE_MARGIN:g}; 0 = ok. Computed on the host by pcdiag.status.classify"
)
STEP_COMMENT = (
    "logged step where the run_status failure first showed (diverged: diverged_at; "
    "inference_unstable: first unstable step; collapsed: the step from which the loss stays "
    "above its start, or the first step of the epoch from which accuracy stays at chance); "
    "-1 when ok"
)


def classify(ds: xr.Dataset) -> tuple[xr.DataArray, xr.DataArray]:
    """(run_status, run_status_step) over `ds`'s sweep dims, from diverged_at, train_loss,
    test_accuracy and (when present) energy_total. A run not finished (all NaN) is ok."""
    lead = list(ds["diverged_at"].dims)
    shape = tuple(ds.sizes[d] for d in lead)
    steps = ds["step"].values
    epoch_of_step = ds["epoch_of_step"].values if "epoch_of_step" in ds.coords else None
    diverged = ds["diverged_at"].values.reshape(shape)
    loss = ds["train_loss"].transpose(*lead, "step").values
    acc = ds["test_accuracy"].transpose(*lead, "epoch").values
    energy = (ds["energy_total"].transpose(*lead, "step", "t").values
              if "energy_total" in ds and "t" in ds["energy_total"].dims else None)
    status = np.zeros(shape, np.int8)
    at = np.full(shape, -1, np.int64)
    for index in np.ndindex(*shape):
        status[index], at[index] = classify_run(
            int(diverged[index]), loss[index], acc[index],
            None if energy is None else energy[index], steps, epoch_of_step)
    coords = {d: ds[d] for d in lead}
    return (xr.DataArray(status, coords, lead, attrs=attrs(energy is not None)),
            xr.DataArray(at, coords, lead, attrs={"long_name": "run status step",
                                                   "units": "1", "comment": STEP_COMMENT}))


def attrs(energy: bool = True) -> dict:
    comment = COMMENT if energy else COMMENT + " (energy_total absent: inference not checked)"
    return {"long_name": "run status", "units": "1", "flag_values": FLAG_VALUES,
            "flag_meanings": FLAG_MEANINGS, "comment": comment}


def classify_run(diverged_at: int, loss: np.ndarray, accuracy: np.ndarray,
                 energy_total: np.ndarray | None, steps: np.ndarray,
                 epoch_of_step: np.ndarray | None = None) -> tuple[int, int]:
    """One run's (status, step): loss (step,), accuracy (epoch,), energy_total (step, t)."""
    if diverged_at >= 0:
        return DIVERGED, diverged_at
    if energy_total is not None:
        first = unstable_from(energy_total)
        if first is not None:
            return UNSTABLE, int(steps[first])
    first = collapsed_from(loss, accuracy, epoch_of_step)
    if first is not None:
        return COLLAPSED, int(steps[first])
    return OK, -1


def unstable_steps(energy_total: np.ndarray) -> np.ndarray:
    """Per logged step: did inference raise F(T) above F(0) or oscillate? (step, t) -> (step,)"""
    e = np.asarray(energy_total, np.float64)
    e = e[:, np.isfinite(e).any(axis=0)]  # a shorter run of a T sweep is NaN-padded in t
    if e.shape[1] < 2:
        return np.zeros(e.shape[0], bool)
    f0, ft = e[:, 0], e[:, -1]
    with np.errstate(invalid="ignore"):
        rise = ft > (1 + RISE_TOL) * f0
        diffs = np.diff(e, axis=1)
        if diffs.shape[1] >= 3:
            last = diffs[:, -min(OSC_DIFFS, diffs.shape[1]):]
            big = (np.abs(last) > OSC_TOL * np.abs(f0)[:, None]).all(axis=1)
            flips = (np.sign(last[:, 1:]) * np.sign(last[:, :-1]) < 0).all(axis=1)
            oscillating = big & flips
        else:
            oscillating = np.zeros_like(rise)
    return rise | oscillating


def unstable_from(energy_total: np.ndarray) -> int | None:
    """Index of the first unstable logged step, if the run's late steps are mostly unstable."""
    bad = unstable_steps(energy_total)
    n = len(bad)
    if n == 0:
        return None
    late = bad[n - min(n, max(LATE_MIN_STEPS, int(round(n * LATE_FRACTION)))):]
    if late.mean() <= UNSTABLE_SHARE:
        return None
    return int(np.argmax(bad))


def collapsed_from(loss: np.ndarray, accuracy: np.ndarray,
                   epoch_of_step: np.ndarray | None = None) -> int | None:
    """Index of the logged step where the run collapsed, or None when it did not."""
    loss = np.asarray(loss, np.float64)
    n = len(loss)
    if n >= 2 and np.isfinite(loss).all():
        k = max(1, int(round(n * LOSS_WINDOW)))
        start = loss[:k].mean()
        if loss[n - k:].mean() > LOSS_RISE * start:
            below = np.nonzero(loss <= start)[0]
            stays = int(below[-1]) + 1 if below.size else 0
            return stays if stays < n else n - k
    accuracy = np.asarray(accuracy, np.float64)
    chance = 1 / N_CLASSES + CHANCE_MARGIN
    if accuracy.size and np.isfinite(accuracy[-1]) and accuracy[-1] <= chance:
        above = np.nonzero(~(accuracy <= chance))[0]
        epoch = int(above[-1]) + 2 if above.size else 1  # 1-based epoch it started in
        if epoch_of_step is None:
            return 0
        hits = np.nonzero(np.asarray(epoch_of_step) >= epoch)[0]
        return int(hits[0]) if hits.size else n - 1
    return None


def counts(status: xr.DataArray) -> dict[str, int]:
    """How many runs have each status, by flag meaning."""
    values = np.asarray(status.values).ravel()
    return {name: int((values == value).sum()) for value, name in NAMES.items()}
