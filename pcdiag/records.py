"""Every recorded variable, declared once: its dims, long_name, units, comment, and where
it is computed. The Dataset schema (pcdiag.dataset), the compiled step's record
(`StepRecord`) and the memory estimate (pcdiag.engine.resources, which counts from the
compiled record layout) all follow from `RECORDS`.

``source`` says where a value comes from:

- ``"step"``: computed inside the compiled training step, once per logged step
  (`StepRecord`, in declaration order), packed into one float32 vector per step;
- ``"host"``: derived on the host from step records when the Dataset is built
  (``derive(records) -> array``);
- ``"epoch"``: measured by the loop after each epoch (accuracies);
- ``"run"``: one value per run (divergence);
- ``"host"`` with dims () (run_status, run_status_step): one value per run, classified on
  the host from the run's records (pcdiag.status), added by pcdiag.dataset.build.

:class:`RunRecords` carries the recorded arrays of a batch of runs from the loop
(pcdiag.engine.loop) to a sweep's assembly and the Dataset (pcdiag.dataset.build).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from pcdiag import status


@dataclass(frozen=True)
class Variable:
    name: str
    dims: tuple[str, ...]  # after the sweep dims
    long_name: str
    comment: str
    source: str  # "step" | "host" | "epoch" | "run"
    computed_in: str  # where the value is computed (for readers of the code)
    units: str = "1"
    required: bool = False  # validate() insists on it (per-t ones only when t is present)
    derive: Callable[[dict], np.ndarray] | None = None
    task: str | None = None  # the only task (pcdiag.tasks) that records it; None: every task

    def required_for(self, task: str) -> bool:
        """Whether validate() insists on it in a Dataset of `task`."""
        return self.required and self.task in (None, task)


def energy_total(energy: np.ndarray) -> np.ndarray:
    """F = the sum of `energy` over its last (layer) axis: give each run its own layers, not
    the NaN padding of a sweep over depth (which would make every shallower run NaN)."""
    return energy.sum(axis=-1)


def energy_ratio(energy: np.ndarray) -> np.ndarray:
    """E_l / E_{l+1} along the last axis, NaN at the output layer."""
    ratio = np.full_like(energy, np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio[..., :-1] = energy[..., :-1] / energy[..., 1:]
    return ratio


RECORDS: tuple[Variable, ...] = (
    Variable(
        "energy", ("step", "t", "layer"), "layer energy",
        "batch mean of per-sample E_l = 1/2 ||x_l - mu_l||^2 (output node: its output energy; "
        "with layer_precision, pi_l E_l); "
        "t = 0 right after forward initialisation, t = k after the k-th state update",
        "step", "pcdiag.algorithms.infer.measure", required=True,
    ),
    Variable(
        "energy_total", ("step", "t"), "total energy", "F = sum over layers of energy",
        "host", "pcdiag.records.energy_total (each run's own layers)", required=True,
    ),
    Variable(
        "energy_ratio", ("step", "t", "layer"), "energy ratio E_l / E_l+1",
        "energy of layer l over energy of layer l+1 (lower over upper); NaN at l = L",
        "host", "pcdiag.records.energy_ratio", required=True,
        derive=lambda r: energy_ratio(r["energy"]),
    ),
    Variable(
        "state_grad_norm", ("step", "t", "layer"), "state gradient norm",
        "batch mean of per-sample ||dF_i/dx_l||, read at the states of iteration t; "
        "NaN where the node is clamped",
        "step", "pcdiag.algorithms.infer.measure", required=True,
    ),
    Variable(
        "latent_grad_norm", ("step", "t"), "latent gradient norm",
        "batch mean of per-sample ||dF_i/dx_0||, the free latent's (task generation), read "
        "at the states of iteration t",
        "step", "pcdiag.algorithms.infer.measure", task="generation",
    ),
    Variable(
        "weight_grad_norm", ("step", "layer"), "weight gradient norm",
        "Frobenius norm of (dW_l, db_l): the gradient the weight optimizer received "
        "(pc: batch-mean F at x_T; ipc: at its last update; bp: batch-mean output loss)",
        "step", "pcdiag.algorithms.record.step_record", required=True,
    ),
    Variable(
        "weight_norm", ("step", "layer"), "weight norm",
        "Frobenius norm of (W_l, b_l) after the step",
        "step", "pcdiag.algorithms.record.step_record", required=True,
    ),
    Variable(
        "update_norm", ("step", "layer"), "update norm",
        "Frobenius norm of the weight optimizer's update to (W_l, b_l) in the step "
        "(ipc: new - old, the sum of its T updates)",
        "step", "pcdiag.algorithms.record.step_record", required=True,
    ),
    Variable(
        "train_loss", ("step",), "train loss",
        "batch mean of the output energy of the feedforward prediction, before the step",
        "step", "pcdiag.algorithms.record.step_record", required=True,
    ),
    Variable(
        "bp_cosine", ("step", "layer"), "cosine with backprop gradient",
        "cosine between the weight gradient the optimizer received and the backprop gradient "
        "of the batch-mean output loss, same weights and batch (W_l and b_l together)",
        "step", "pcdiag.algorithms.record.step_record",
    ),
    Variable(
        "hessian_condition", ("step",), "Hessian condition number",
        "lambda_max / lambda_min of the Hessian of a sample's F w.r.t. its inference "
        "variables (states; errors for epc) at t = 0, median over the batch's first "
        "hessian_samples samples; exact below 512 free units, else 64-step Lanczos",
        "step", "pcdiag.algorithms.record.hessian_probe",
    ),
    Variable(
        "hessian_lambda_max", ("step",), "largest Hessian eigenvalue",
        "lambda_max of the Hessian of a sample's F w.r.t. its inference variables (states; "
        "errors for epc) at t = 0, median over the batch's first hessian_samples samples; "
        "exact below 512 free units, else 64-step Lanczos; a state step on the per-sample "
        "energy is stable on the quadratic part while gamma lambda_max < 2 (sgd; "
        "pcdiag.measures.step_limit); NaN for bp",
        "step", "pcdiag.algorithms.record.hessian_probe",
    ),
    Variable(
        "train_accuracy", ("epoch",), "train accuracy",
        "fraction of the training set the feedforward prediction classifies correctly",
        "epoch", "pcdiag.engine.loop.run", required=True, task="classification",
    ),
    Variable(
        "test_accuracy", ("epoch",), "test accuracy",
        "fraction of the test set the feedforward prediction classifies correctly",
        "epoch", "pcdiag.engine.loop.run", required=True, task="classification",
    ),
    Variable(
        "validation_accuracy", ("epoch",), "validation accuracy",
        "fraction of the validation split the feedforward prediction classifies correctly "
        "(evaluated as the test set): the last validation_size examples of the official "
        "training file, held out of training; present only when validation_size > 0",
        "epoch", "pcdiag.engine.loop.run", task="classification",
    ),
    Variable(
        "test_mse", ("epoch",), "test reconstruction MSE",
        "per-pixel mean of (x_hat - x)^2 over the test set, x_hat the decoder's feedforward "
        "output from the latent inferred with the weights fixed (T state steps from 0, as in "
        "training: PCX's eval_on_batch); bp: the autoencoder's output",
        "epoch", "pcdiag.engine.evaluate.squared_errors", required=True, task="generation",
    ),
    Variable(
        "validation_mse", ("epoch",), "validation reconstruction MSE",
        "test_mse's measure on the validation split (the last validation_size examples of "
        "the official training file, held out); present only when validation_size > 0",
        "epoch", "pcdiag.engine.evaluate.squared_errors", task="generation",
    ),
    Variable(
        "mean_image_mse", (), "mean-image MSE",
        "per-pixel MSE on the test set of the trivial predictor: the mean training image for "
        "every image (the scale of test_mse, its 'chance')",
        "run", "pcdiag.engine.evaluate.mean_image_mse", required=True, task="generation",
    ),
    Variable(
        "diverged_at", (), "diverged at step",
        "first step with a non-finite energy (or loss for bp); -1 if none",
        "run", "pcdiag.algorithms.train_step", required=True,
    ),
    Variable(
        "run_status", (), "run status", status.COMMENT,
        "host", "pcdiag.status.classify (flag_values, flag_meanings: CF flags)",
    ),
    Variable(
        "run_status_step", (), "run status step", status.STEP_COMMENT,
        "host", "pcdiag.status.classify",
    ),
)

VARIABLES: dict[str, Variable] = {v.name: v for v in RECORDS}
#: The variables with a t dim (present when per-t recording is on).
PER_T = tuple(v.name for v in RECORDS if "t" in v.dims)
#: The variables the compiled step records, in the order of StepRecord's fields.
STEP_FIELDS = tuple(v.name for v in RECORDS if v.source == "step")


#: What one logged step records (fields: STEP_FIELDS); per-t ones are (T+1, L). An optional
#: record that is off is None. Built from RECORDS, so a new step record is one declaration.
StepRecord = NamedTuple("StepRecord", [(name, object) for name in STEP_FIELDS])


#: The arrays every run of a batch shares: the logged steps' numbers and epochs.
SHARED = ("step", "epoch_of_step")


@dataclass
class RunRecords:
    """The recorded arrays of a batch of runs, by variable name (see RECORDS).

    Each of `values` has the runs' axes first: one axis of R runs as the loop returns them
    (pcdiag.engine.loop.run), the sweep dims once a sweep is assembled, none for one run
    (`run(i)`). `step` and `epoch_of_step` (the logged steps) are shared by all of them.
    """

    step: np.ndarray
    epoch_of_step: np.ndarray
    values: dict[str, np.ndarray]

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray]) -> RunRecords:
        """From one flat mapping of names to arrays (a unit file's, or a hand-made one)."""
        values = {name: a for name, a in arrays.items() if name not in SHARED}
        return cls(arrays["step"], arrays["epoch_of_step"], values)

    def arrays(self) -> dict[str, np.ndarray]:
        """One flat dict of every array, the shared ones included (a unit file's contents)."""
        return {**self.values, "step": self.step, "epoch_of_step": self.epoch_of_step}

    def run(self, index) -> RunRecords:
        """The records of run `index` (an index into the leading run axes)."""
        return RunRecords(self.step, self.epoch_of_step,
                          {name: a[index] for name, a in self.values.items()})

    def __contains__(self, name: str) -> bool:
        return name in self.values

    def __getitem__(self, name: str) -> np.ndarray:
        return self.values[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self.values)
