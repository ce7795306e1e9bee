"""Each run's verdict as data: the CF flag variable `run_status` and `run_status_step`.

Classified on the host, once, from a run's recorded data (never inside jit), by
`classify(ds)`; `pcdiag.dataset.build` adds both variables to every training Dataset. Where
several failures hold, the most severe is reported: diverged > inference_unstable > collapsed.

- diverged: a non-finite energy (or bp loss), as `diverged_at`; step: `diverged_at`.
- inference_unstable: on more than UNSTABLE_SHARE of the late logged steps (the last
  LATE_FRACTION of them, at least LATE_MIN_STEPS) inference made the total energy worse:
  F(t = T) > (1 + RISE_TOL) F(0), or F over t oscillates (the last OSC_DIFFS successive
  differences alternate in sign, each larger than OSC_TOL F(0): the period-2 oscillation of
  too large a gamma); step: the first logged step where either held.
- collapsed: the run did not learn, or lost what it had learned. The train loss is read as
  medians of windows of LOSS_WINDOW of the logged steps (at least LOSS_WINDOW_MIN of them),
  never single values or means: a logged loss is one minibatch's, and ePC's swings 3-fold
  between logged steps of a healthy run. Its yardstick is L_ref, the loss of the best
  predictor that ignores its input: ln C for cross-entropy ("ce": the uniform prediction),
  (1 - 1/C) / 2 for squared error ("se": 1/C on every output unit), and, where the output
  energy is not known, the first logged loss (the untrained network, before any weight
  step). Collapsed where, checked in this order (the first that holds gives the step):
  1. blown up: the last window's median is above LOSS_RISE L_ref; step: the first step
     above it in the first window from which the window medians stay above it.
  2. never learned: no window median came MIN_GAIN below L_ref; step: the first logged step.
  3. at chance: the final test accuracy <= 1/C + CHANCE_MARGIN; step: the first step of the
     epoch from which the test accuracy stays at or below that.
  4. unlearned: the final test accuracy kept less than ACC_KEEP of the best epoch's gain
     over chance (step: the first step after the best epoch), or, for ce, it is more than
     ACC_SLACK below exp(-L_best), L_best the lowest window median of the first epoch's
     losses (step: the first from which the loss stays above -ln(accuracy + ACC_SLACK)).

Why these thresholds. Inference: healthy inference lowers F from t = 0 by tens of percent
(float32 rounding moves F by ~1e-6 relative, RISE_TOL is 1e-3). Chance: on ten classes chance
is 0.1, while one epoch of a small MLP on a few hundred Fashion-MNIST images reaches over 0.5.

Loss against L_ref, not against the run's own start: the first window of a run already holds
its fastest learning, so a healthy run whose loss rises late (an overconfident network: CE
grows with confident mistakes while the accuracy holds) ended above it (PCX convention, AdamW,
gamma 64, seed 2: 0.740 accuracy; ePC seeds 0 and 2: 0.761, 0.662). A network at L_ref
predicts nothing from its input; the window medians of the committed runs that learned
nothing sit within 1.5% of it (conv PC at 2.28-2.34 against ln 10 = 2.303; the ePC recipe's
PC at 0.447-0.453 against 0.45), so MIN_GAIN = 0.03 is twice that spread, while the slowest
runs that learn (VGG-7 PC, 0.25 and 0.35 accuracy) reach 4-5% below. A window median twice
L_ref (LOSS_RISE) is far beyond any committed ok run (all end at or below 0.96 L_ref) and,
for ce, the loss of a network giving the true class a geometric-mean probability of 1/C^2.

Accuracy against the run's own training: exp(-L) is the geometric mean of the probability
the network gives the true class, at most its arithmetic mean, which is at most the accuracy
of a calibrated classifier (sum_k p_k^2 <= max_k p_k). Every first-epoch batch is new to the
network when its loss is logged (the weights before that batch's step), so L_best is a
held-out loss the network once had; a final test accuracy below exp(-L_best) is a network
that ended worse than it was. Overconfidence raises CE at a given accuracy and only loosens
this. ACC_SLACK is one chance level: on the committed figures the runs that lost what they
had learned are 0.17 or more below exp(-L_best) (Adam states, gamma 0.1, seed 2: 0.366
against 0.550, its loss 2.2-fold up in the last two logged steps; PCX convention, momentum,
gamma 64, seeds 0 and 2), every healthy run 0.04 or more above it, and one run between, 0.015
below (that PCX setting's seed 1, 0.600: ok). For se no such bound holds, so only the
multi-epoch half of rule 4 applies. ACC_KEEP = 0.5: the accuracy gave back more than half of
what it had gained over chance.
"""

from __future__ import annotations

import json

import numpy as np
import xarray as xr
from numpy.lib.stride_tricks import sliding_window_view

from pcdiag.data import registry

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
#: The train loss is read as medians over windows of this fraction of the logged steps ...
LOSS_WINDOW = 0.1
#: ... but at least this many (all of them when fewer were logged): one odd batch is ignored.
LOSS_WINDOW_MIN = 3
#: Never learned: no window median came this fraction below L_ref (the input-blind loss).
MIN_GAIN = 0.03
#: Blown up: the last window's median above LOSS_RISE * L_ref.
LOSS_RISE = 2.0
#: At chance: the final test accuracy <= 1 / classes + CHANCE_MARGIN.
CHANCE_MARGIN = 0.05
#: Unlearned: the final accuracy kept less than this share of its best epoch's gain over chance
ACC_KEEP = 0.5
#: ... or (ce) it is more than ACC_SLACK below exp(-L_best).
ACC_SLACK = 0.1
#: Classes of every data set (pcdiag.data.registry): chance is 1 / N_CLASSES.
N_CLASSES = registry.common("classes")

COMMENT = (
    f"flag per run, most severe first: diverged (1) = a non-finite energy or loss, as "
    f"diverged_at; inference_unstable (2) = on more than {UNSTABLE_SHARE:g} of the last "
    f"{LATE_FRACTION:.0%} of logged steps (at least {LATE_MIN_STEPS}) the total energy at "
    f"t = T exceeds (1 + {RISE_TOL:g}) times its t = 0 value or oscillates over t (the last "
    f"{OSC_DIFFS} differences alternate in sign, each above {OSC_TOL:g} F(0)); collapsed (3) = "
    f"with the train loss read as medians of windows of {LOSS_WINDOW:.0%} of logged steps (at "
    f"least {LOSS_WINDOW_MIN}) and L_ref the loss of the input-blind predictor (ln "
    f"{N_CLASSES} for ce, (1 - 1/{N_CLASSES})/2 for se, else the first logged loss): the "
    f"last window median above {LOSS_RISE:g} L_ref (blown up), or none {MIN_GAIN:.0%} below "
    f"L_ref (never learned), or final test accuracy <= 1/{N_CLASSES} + "
    f"{CHANCE_MARGIN:g} (at chance), or (unlearned) final test accuracy keeping less than "
    f"{ACC_KEEP:g} of its best epoch's gain over chance or, for ce, more than {ACC_SLACK:g} "
    f"below exp(-L_best), L_best the lowest window median of the first epoch; 0 = ok. "
    f"Computed on the host by pcdiag.status.classify"
)
STEP_COMMENT = (
    "logged step where the run_status failure first showed (diverged: diverged_at; "
    "inference_unstable: first unstable step; collapsed: the step from which the loss stays "
    "blown up, the first step if it never learned, the first step of the epoch from which "
    "accuracy stays at chance, the first step after its best epoch, or the step from which "
    "the loss stays above the level its final accuracy allows); -1 when ok"
)


def classify(ds: xr.Dataset) -> tuple[xr.DataArray, xr.DataArray]:
    """(run_status, run_status_step) over `ds`'s sweep dims, from diverged_at, train_loss,
    test_accuracy, (when present) energy_total and the output energy (a swept
    `output_energy` coordinate, else ds.attrs["config"]). A run not finished (all NaN) is ok."""
    lead = list(ds["diverged_at"].dims)
    shape = tuple(ds.sizes[d] for d in lead)
    steps = ds["step"].values
    epoch_of_step = ds["epoch_of_step"].values if "epoch_of_step" in ds.coords else None
    diverged = ds["diverged_at"].values.reshape(shape)
    loss = ds["train_loss"].transpose(*lead, "step").values
    generation = "test_mse" in ds and "test_accuracy" not in ds
    if generation:  # skill over the mean image: 0 at "chance", 1 for a perfect reconstruction
        mse = ds["test_mse"].transpose(*lead, "epoch").values
        trivial = ds["mean_image_mse"].transpose(*lead).values[..., None]
        acc = 1 - mse / trivial
    else:
        acc = ds["test_accuracy"].transpose(*lead, "epoch").values
    energy = (ds["energy_total"].transpose(*lead, "step", "t").values
              if "energy_total" in ds and "t" in ds["energy_total"].dims else None)
    # generation's loss (a reconstruction's squared error) is judged against its start
    kinds = np.full(shape, None, object) if generation else output_energies(ds, lead, shape)
    status = np.zeros(shape, np.int8)
    at = np.full(shape, -1, np.int64)
    for index in np.ndindex(*shape):
        status[index], at[index] = classify_run(
            int(diverged[index]), loss[index], acc[index],
            None if energy is None else energy[index], steps, epoch_of_step,
            output_energy=kinds[index], chance=0.0 if generation else 1 / N_CLASSES)
    coords = {d: ds[d] for d in lead}
    return (xr.DataArray(status, coords, lead, attrs=attrs(energy is not None)),
            xr.DataArray(at, coords, lead, attrs={"long_name": "run status step",
                                                   "units": "1", "comment": STEP_COMMENT}))


def output_energies(ds: xr.Dataset, lead: list[str], shape: tuple[int, ...]) -> np.ndarray:
    """Each run's output energy ("ce", "se"; None where unknown) as an object array."""
    if "output_energy" in ds.coords:
        kind = ds["output_energy"].broadcast_like(ds["diverged_at"]).transpose(*lead)
        return np.asarray(kind.values, object).reshape(shape)
    try:
        kind = json.loads(ds.attrs["config"]).get("output_energy")
    except (KeyError, TypeError, ValueError, AttributeError):
        kind = None
    return np.full(shape, kind, object)


def reclassify(ds: xr.Dataset) -> tuple[xr.DataArray, xr.DataArray]:
    """classify(ds) for a Dataset that was classified before: where energy_total is absent but
    the stored run_status was computed with it (a figure's .nc keeps only what it plots), the
    stored inference_unstable verdicts and steps are kept, as that check cannot be rerun."""
    status, step = classify(ds)
    stored = ds.get("run_status")
    if stored is None or "energy_total" in ds or "not checked" in stored.attrs.get("comment", ""):
        return status, step
    kept = stored == UNSTABLE
    return (status.where(~kept, stored).astype(np.int8).assign_attrs(attrs(True)),
            step.where(~kept, ds["run_status_step"]).astype(np.int64).assign_attrs(step.attrs))


def attrs(energy: bool = True) -> dict:
    comment = COMMENT if energy else COMMENT + " (energy_total absent: inference not checked)"
    return {"long_name": "run status", "units": "1", "flag_values": FLAG_VALUES,
            "flag_meanings": FLAG_MEANINGS, "comment": comment}


def classify_run(diverged_at: int, loss: np.ndarray, accuracy: np.ndarray,
                 energy_total: np.ndarray | None, steps: np.ndarray,
                 epoch_of_step: np.ndarray | None = None, *,
                 output_energy: str | None = None,
                 chance: float = 1 / N_CLASSES) -> tuple[int, int]:
    """One run's (status, step): loss (step,), accuracy (epoch,), energy_total (step, t);
    output_energy "ce" or "se" (None: unknown, the loss is judged against its start);
    `chance` the accuracy of a guess (generation: its skill 1 - test_mse / mean_image_mse,
    chance 0, the mean image)."""
    if diverged_at >= 0:
        return DIVERGED, diverged_at
    if energy_total is not None:
        first = unstable_from(energy_total)
        if first is not None:
            return UNSTABLE, int(steps[first])
    first = collapsed_from(loss, accuracy, epoch_of_step, output_energy, chance)
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


def reference_loss(output_energy: str | None, loss: np.ndarray) -> float:
    """L_ref: the loss of the best input-blind predictor (ce: ln C, se: (1 - 1/C) / 2), or
    the first logged loss (the untrained network) where the output energy is unknown."""
    if output_energy == "ce":
        return float(np.log(N_CLASSES))
    if output_energy == "se":
        return 0.5 * (1 - 1 / N_CLASSES)
    return float(loss[0])


def window_medians(loss: np.ndarray) -> np.ndarray:
    """Medians of the loss over every window of LOSS_WINDOW of its logged steps (at least
    LOSS_WINDOW_MIN, at most all): (step,) -> (step - window + 1,)."""
    loss = np.asarray(loss, np.float64)
    n = len(loss)
    w = min(n, max(LOSS_WINDOW_MIN, int(round(n * LOSS_WINDOW))))
    return np.median(sliding_window_view(loss, w), axis=-1)


def collapsed_from(loss: np.ndarray, accuracy: np.ndarray,
                   epoch_of_step: np.ndarray | None = None,
                   output_energy: str | None = None,
                   chance: float = 1 / N_CLASSES) -> int | None:
    """Index of the logged step where the run collapsed, or None when it did not."""
    loss = np.asarray(loss, np.float64)
    n = len(loss)
    accuracy = np.asarray(accuracy, np.float64)
    final = accuracy[-1] if accuracy.size else np.nan
    if n and np.isfinite(loss).all():
        medians = window_medians(loss)
        ref = reference_loss(output_energy, loss)
        if medians[-1] > LOSS_RISE * ref:  # 1. blown up
            start = _stays(medians <= LOSS_RISE * ref, n)  # the first window that stays up
            return start + int(np.argmax(loss[start:] > LOSS_RISE * ref))
        if medians.min() >= (1 - MIN_GAIN) * ref:  # 2. never learned
            return 0
    if not np.isfinite(final):
        return None
    if final <= chance + CHANCE_MARGIN:  # 3. at chance
        above = np.nonzero(~(accuracy <= chance + CHANCE_MARGIN))[0]
        return _epoch_start(int(above[-1]) + 2 if above.size else 1, epoch_of_step, n)
    best = int(np.nanargmax(accuracy))  # 4. unlearned
    if final - chance < ACC_KEEP * (accuracy[best] - chance):
        return _epoch_start(best + 2, epoch_of_step, n)
    if output_energy == "ce" and n and np.isfinite(loss).all():
        first = loss if epoch_of_step is None else loss[np.asarray(epoch_of_step)
                                                         == epoch_of_step[0]]
        if final < np.exp(-window_medians(first).min()) - ACC_SLACK:
            return _stays(loss <= -np.log(final + ACC_SLACK), n)
    return None


def _stays(below: np.ndarray, n: int) -> int:
    """Index from which `below` (per logged step or per window) stays False; n - 1 at most."""
    hits = np.nonzero(below)[0]
    return min(int(hits[-1]) + 1, n - 1) if hits.size else 0


def _epoch_start(epoch: int, epoch_of_step: np.ndarray | None, n: int) -> int:
    """Index of the first logged step of 1-based `epoch` (0 without epochs; n - 1 if none)."""
    if epoch_of_step is None:
        return 0
    hits = np.nonzero(np.asarray(epoch_of_step) >= epoch)[0]
    return int(hits[0]) if hits.size else n - 1


def counts(status: xr.DataArray) -> dict[str, int]:
    """How many runs have each status, by flag meaning."""
    values = np.asarray(status.values).ravel()
    return {name: int((values == value).sum()) for value, name in NAMES.items()}
