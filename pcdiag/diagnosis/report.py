"""The plain-text diagnosis of one run (its findings without sweep dims)."""

from __future__ import annotations

import math

import numpy as np
import xarray as xr

from pcdiag import status
from pcdiag.diagnosis.advice import _layers, _value, suggestions


def run_label(coords: dict) -> str:
    return ", ".join(f"{k}={_fmt(v)}" for k, v in coords.items()) or "the run"


def _fmt(value) -> str:
    if isinstance(value, (float, np.floating)):
        return f"{float(value):g}"
    return str(value.item() if hasattr(value, "item") else value)


def _status_line(run: xr.Dataset) -> str:
    flag = int(_value(run, "status", status.OK))
    if flag == status.OK:
        return "status: ok"
    return f"status: {status.NAMES[flag]} (from step {int(_value(run, 'status_step', -1))})"


def _accuracy_line(run: xr.Dataset) -> str:
    if "mse" in run:
        return _mse_line(run)
    acc, chance = _value(run, "accuracy"), _value(run, "chance")
    text = f"accuracy: {acc:.3f} (chance {chance:.2f}"
    ref = _value(run, "accuracy_bp")
    if np.isfinite(ref):
        text += f"; BP {ref:.3f}, difference {acc - ref:+.3f}"
    return text + ")"


def _mse_line(run: xr.Dataset) -> str:
    """Generation's score: the reconstruction MSE against the mean image's (and BP's)."""
    mse, trivial = _value(run, "mse"), _value(run, "mse_mean_image")
    text = (f"reconstruction MSE: {mse:.4g} (mean image {trivial:.4g}: "
            f"{mse / trivial:.2f} of it")
    ref = _value(run, "mse_bp")
    if np.isfinite(ref):
        text += f"; BP {ref:.4g}, ratio {mse / ref:.2f}"
    return text + ")"


def _energy_lines(run: xr.Dataset) -> list[str]:
    if "energy_fraction" not in run:
        return ["energy: no per-t records in this Dataset (bp, or record_inference off)"]
    depth = int(_value(run, "depth"))
    share = np.asarray(_value(run, "energy_fraction"))[:depth]
    top = np.argsort(np.nan_to_num(share, nan=-1))[::-1][:3]
    shares = ", ".join(f"layer {i + 1} {_share(share[i])}" for i in top if np.isfinite(share[i]))
    lines = [f"energy at T: {shares} (of {depth} layers; profile "
             f"{_shape(run, 'energy')})"]
    reached, T = _value(run, "layers_reached"), _value(run, "inference_steps")
    needed = _value(run, "steps_needed")
    if np.isfinite(reached):
        first = np.asarray(_value(run, "reached_at"))[:depth]
        missing = _layers(np.isnan(first))
        line = f"reached at T = {T:g}: {reached:g} of {depth} layers"
        if reached < depth:
            line += f" (not reached: layers {missing})"
        if str(_value(run, "algorithm_name", "pc")) == "epc":
            line += "; ePC moves every layer's error from t = 1"
        elif np.isfinite(needed):
            relation = "<" if T < needed else ">="
            line += f"; T {relation} the {needed:g} iterations the error needs to reach layer 1"
        lines.append(line)
    else:
        lines.append("reached: no count (non-finite energies: diverged)")
    left = _value(run, "gradient_left")
    if np.isfinite(left):
        verdict = "relaxed" if _value(run, "relaxed") == 1 else "stopped early"
        lines.append(f"inference: {left:.1%} of its largest state gradient left at T ({verdict})")
    return lines


def _share(value: float) -> str:
    return f"{value:.1%}" if value >= 1e-3 else f"{value:.1e}"


def _shape(run: xr.Dataset, what: str) -> str:
    shape = str(_value(run, f"{what}_shape", "none"))
    rate = _value(run, f"{what}_rate")
    if np.isfinite(rate):
        return f"{shape.replace('_', '-')}, {rate:.2f} decades/layer"
    return shape.replace("_", "-")


def _learning_line(run: xr.Dataset) -> str:
    count, depth = _value(run, "stalled_layers"), int(_value(run, "depth"))
    if not np.isfinite(count):
        return "learning: no count (non-finite weights: diverged)"
    which = _layers(np.asarray(_value(run, "stalled")) == 1)
    text = f"learning: {count:g} of {depth} layers stalled"
    if count:
        text += f" (layers {which})"
    return text + f"; relative update profile {_shape(run, 'update')}"


def _extras(run: xr.Dataset) -> list[str]:
    lines = []
    condition = _value(run, "hessian_condition")
    if np.isfinite(condition):
        line = f"conditioning: inference Hessian condition number {condition:.3g}"
        limit = _value(run, "step_limit")
        if np.isfinite(limit):
            line += f"; largest stable gamma {limit:.3g}"
        lines.append(line)
    if "bp_cosine" in run:
        cos = np.asarray(_value(run, "bp_cosine"))[: int(_value(run, "depth"))]
        lines.append("alignment with BP (cosine, layer 1..L): "
                     + " ".join("nan" if math.isnan(c) else f"{c:.2f}" for c in cos))
    return lines


def run_report(run: xr.Dataset, coords: dict | None = None) -> str:
    """The text for one run: findings, then what to try."""
    lines = [f"run: {run_label(coords or {})} "
             f"({_value(run, 'algorithm_name', 'pc')}, L = {int(_value(run, 'depth'))})",
             _status_line(run), _accuracy_line(run), *_energy_lines(run), _learning_line(run),
             *_extras(run)]
    advice = suggestions(run)
    if advice:
        lines.append("what to try (suggestions from pcdiag's figures, not guarantees):")
        lines += [f"  {i}. {s.text()}" for i, s in enumerate(advice, 1)]
    else:
        lines.append("what to try: nothing flagged")
    return "\n".join(lines)
