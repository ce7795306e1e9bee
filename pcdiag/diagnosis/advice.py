"""What to try: each suggestion is triggered by a measured finding of one run, names it, and
points to the evidence in pcdiag's own figures (figures/README.md). Suggestions, never
guarantees: the evidence is from other networks and budgets than the user's."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import xarray as xr

from pcdiag import measures, status


@dataclass(frozen=True)
class Suggestion:
    key: str
    finding: str  # what was measured in this run
    action: str  # what to try
    evidence: str  # where pcdiag's figures show it

    def text(self) -> str:
        return f"{self.finding} -> try {self.action}. Evidence: {self.evidence}"


def _value(run: xr.Dataset, name: str, default=math.nan):
    if name not in run:
        return default
    value = run[name].values
    return value.item() if np.ndim(value) == 0 else value


def _layers(mask) -> str:
    layers = [i + 1 for i, v in enumerate(np.asarray(mask)) if v]
    if not layers:
        return "none"
    runs, start = [], layers[0]
    for prev, cur in zip(layers, [*layers[1:], None]):
        if cur != prev + 1:
            runs.append(f"{start}" if start == prev else f"{start}-{prev}")
            start = cur
    return ", ".join(runs)


def not_reached(run: xr.Dataset) -> Suggestion | None:
    depth, reached = _value(run, "depth"), _value(run, "layers_reached")
    if not np.isfinite(reached) or reached >= depth:
        return None
    T, needed = _value(run, "inference_steps"), _value(run, "steps_needed")
    missing = _layers(np.isnan(_value(run, "reached_at"))[: int(depth)])
    if np.isfinite(needed) and T < needed:
        finding = (f"inference stops at T = {T:g}, below the {needed:g} iterations the error "
                   f"needs to reach layer 1; layers {missing} are not reached at T")
        action = (f"inference_steps >= {needed:g}, or algorithm='epc' (the error reaches "
                  "every layer at t = 1) at the same settings")
    elif str(_value(run, "algorithm_name", "pc")) == "epc":
        finding = (f"layers {missing} are not reached at T = {T:g} although ePC moves every "
                   "error from t = 1: the gradient through the chain of layers falls below "
                   "float32 resolution before it gets there")
        action = ("a larger gamma within its stability limit, a shallower network or a "
                  "residual one (skip=True), or checking that the activations do not "
                  "saturate (hard_tanh passes no gradient where it is flat)")
    else:
        finding = (f"layers {missing} are not reached at T = {T:g} although T >= "
                   f"{needed:g}: the error decays below float32 resolution on its way down")
        action = ("algorithm='epc', a larger gamma within its stability limit, or more "
                  "inference steps")
    return Suggestion("not_reached", finding, action,
                      "energy_propagation: a 16-layer PC MLP reaches 13 of 16 layers at T = 64 "
                      "and all 16 at T = 256; ePC reaches all 16 at t = 1")


def stalled(run: xr.Dataset) -> Suggestion | None:
    count = _value(run, "stalled_layers")
    if not np.isfinite(count) or count == 0:
        return None
    which = _layers(_value(run, "stalled") == 1)
    optimizer = str(_value(run, "weight_optimizer_name", "adamw"))
    finding = f"{count:g} of {_value(run, 'depth'):g} layers learn at no logged step ({which})"
    if optimizer in ("sgd", "momentum"):
        return Suggestion(
            "stalled_momentum", finding + f" with {optimizer} weights, whose step shrinks with "
            "the vanishing gradient below float32 resolution",
            "weight_optimizer='adamw' (its step does not shrink with the gradient), once the "
            "layers are reached",
            "depth_gamma: with momentum weights a 16-layer PC MLP has 10, 8, 3-4 and 0 stalled "
            "layers at gamma 0.01, 0.03, 0.1, 0.3; update_decay: layers 1-3 stalled in every "
            "seed")
    return Suggestion(
        "stalled_adam", finding + " with Adam-type weights: their nodes hold no error beyond "
        "rounding, or so little that the update stays below float32 resolution (Adam's "
        "epsilon, 1e-8, scales down gradients smaller than itself)",
        "reaching them first (see the suggestion on reached layers)",
        "energy_propagation: with muPC's and precision weighting's settings the front "
        "reaches 4 and 6 of 16 layers and the lowest 8 and 7 stall, while ePC reaches all 16 "
        "and none stalls")


def deep_residual_at_chance(run: xr.Dataset) -> Suggestion | None:
    acc, chance = _value(run, "accuracy"), _value(run, "chance")
    skip = bool(_value(run, "skip", False))
    parameterization = str(_value(run, "parameterization_name", "sp"))
    if not (skip and parameterization == "sp" and np.isfinite(acc)) or acc > chance + 0.1:
        return None
    return Suggestion(
        "deep_residual", f"a residual network (skip=True) at {acc:.3f}, near chance "
        f"({chance:.2f})", "parameterization='mupc' (depth-scaled residual branches; it still "
        "leaves many lower layers stalled, so diagnose it again)",
        "remedies_vs_depth: on jpc's muPC recipe (residual MLP, MNIST, 64 steps) PC is at "
        "0.10-0.16 from depth 8 to 64 and muPC at 0.74-0.65, still 9-15 points below BP, "
        "with 3-55 of its layers stalled")


def unstable(run: xr.Dataset) -> Suggestion | None:
    flag = int(_value(run, "status", status.OK))
    limit, stable = _value(run, "step_limit"), _value(run, "stable")
    if flag == status.UNSTABLE or flag == status.DIVERGED:
        what = status.NAMES[flag].replace("_", " ")
        finding = f"the run is {what} from step {int(_value(run, 'status_step', -1))}"
    elif np.isfinite(stable) and stable == 0:
        finding = "gamma exceeds the state step limit of the inference Hessian"
    else:
        return None
    if np.isfinite(limit):
        finding += f" (largest stable gamma 2 (1+beta) / lambda_max = {limit:.3g})"
    return Suggestion("unstable", finding,
                      "a smaller gamma (below the Hessian's limit where recorded), or a smaller "
                      "weight_lr if the energy diverges after learning starts",
                      "accuracy_vs_gamma and energy_ratio_vs_gamma mark the runs at large gamma "
                      "as unstable or diverged")


def not_relaxed(run: xr.Dataset) -> Suggestion | None:
    left = _value(run, "gradient_left")
    if not np.isfinite(left) or left <= measures.RELAXED_FRACTION:
        return None
    return Suggestion(
        "not_relaxed", f"inference stops with {left:.0%} of its largest state gradient left "
        "(it stopped early, far from equilibrium)",
        "more inference steps, or a larger gamma within its stability limit",
        "energy_propagation: PC with T = 256 ends nearer equilibrium than with T = 64")


def below_bp(run: xr.Dataset) -> Suggestion | None:
    acc, ref = _value(run, "accuracy"), _value(run, "accuracy_bp")
    if not (np.isfinite(acc) and np.isfinite(ref)) or ref - acc < 0.05:
        return None
    if _value(run, "stalled_layers", 0) or _value(run, "layers_reached", math.inf) < \
            _value(run, "depth"):
        return None  # explained by the findings above
    return Suggestion(
        "below_bp", f"accuracy {acc:.3f} is {ref - acc:.3f} below BP's {ref:.3f} although "
        "every layer is reached and learns",
        "tuning gamma and weight_lr for PC on a validation split (PC's best settings differ "
        "from BP's)", "accuracy_vs_gamma: PC's accuracy depends on gamma by several points")


RULES: tuple[Callable[[xr.Dataset], Suggestion | None], ...] = (
    unstable, not_reached, stalled, deep_residual_at_chance, not_relaxed, below_bp,
)


def suggestions(run: xr.Dataset) -> list[Suggestion]:
    """The suggestions for one run's findings (a findings Dataset with no sweep dims)."""
    if str(_value(run, "algorithm_name", "pc")) == "bp":
        return [s for s in (unstable(run),) if s is not None]
    return [s for rule in RULES if (s := rule(run)) is not None]
