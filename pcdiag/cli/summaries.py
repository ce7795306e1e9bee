"""The text the commands print: a run's accuracies, status and speed, a sweep's table of
final accuracies and run statuses (ok, diverged, inference unstable, collapsed), a saved
file's config, axes, energies and diagnostic measures (`pcdiag info`: layers reached at T,
stalled layers, profile shapes, from pcdiag.measures), and where a stored sweep stands
(`pcdiag sweep --status`)."""

from __future__ import annotations

import dataclasses
import json
import math
import time
from pathlib import Path

import numpy as np

from pcdiag import measures
from pcdiag import status as status_module
from pcdiag.config import Config, field_names
from pcdiag.dataset import config_of

#: The per-epoch scores a summary shows, in order: (variable, column header).
SCORE_COLUMNS = (("train_accuracy", "train_acc"), ("validation_accuracy", "val_acc"),
                 ("test_accuracy", "test_acc"), ("validation_mse", "val_mse"),
                 ("test_mse", "test_mse"))


def score_columns(ds) -> list[tuple[str, str]]:
    """The (variable, header) pairs of SCORE_COLUMNS that `ds` holds."""
    return [(name, header) for name, header in SCORE_COLUMNS if name in ds]


def final_score(ds) -> tuple[str, str]:
    """(variable, header) of the test score: test_accuracy, or generation's test_mse."""
    return ("test_mse", "test_mse") if "test_mse" in ds else ("test_accuracy", "test_acc")


def train_summary(ds, config: Config, timing, path: Path) -> str:
    """Scores per epoch (accuracies; reconstruction MSE for generation, with the mean
    image's for scale), divergence, speed (from the run's Timing) and where it was saved."""
    columns = score_columns(ds)
    lines = [f"{ds.attrs.get('title', 'pcdiag run')}",
             "  epoch  " + "  ".join(header.rjust(9) for _, header in columns)]
    for i, epoch in enumerate(ds["epoch"].values):
        cells = [_score(name, ds[name].values[i]).rjust(9) for name, _ in columns]
        lines.append(f"  {epoch:5d}  " + "  ".join(cells))
    if "mean_image_mse" in ds:
        lines.append(f"mean-image MSE (the trivial predictor, for scale): "
                     f"{float(ds['mean_image_mse']):.4g}")
    diverged = int(ds["diverged_at"])
    if diverged >= 0:
        lines.append(f"diverged at step {diverged} (later values are NaN)")
    lines.append(_run_status_line(ds))
    if timing.train_s:
        median = float(np.median(timing.train_s))
        rate = config.steps_per_epoch / median if median > 0 else math.inf
        lines.append(f"speed: {rate:.1f} steps/s ({config.steps_per_epoch} steps/epoch, "
                     f"median epoch {median:.2f} s incl. the end-of-epoch evaluation); "
                     f"compile (apart): {timing.compile_s:.2f} s")
    lines.append(f"saved: {path}")
    return "\n".join(lines)


def _acc(value) -> str:
    value = float(value)
    return "nan" if math.isnan(value) else f"{value:.4f}"


def _score(name: str, value) -> str:
    """An accuracy to 4 decimals, an MSE to 4 significant digits."""
    value = float(value)
    if math.isnan(value) or not name.endswith("_mse"):
        return _acc(value)
    return f"{value:.4g}"


def _run_status_line(ds) -> str:
    """'run status: ok' or the failure and the step it first showed at."""
    if "run_status" not in ds:
        return "run status: not classified (no run_status in the file)"
    value = int(ds["run_status"])
    if value == status_module.OK:
        return "run status: ok"
    return (f"run status: {status_module.NAMES[value]} (from step "
            f"{int(ds['run_status_step'])}; see the run_status comment)")


def sweep_summary(ds, axes: list[str]) -> str:
    """Final test accuracy (generation: test MSE) per combination (mean over seed if swept),
    how many runs are not ok (run_status: diverged, inference unstable, collapsed) and
    which."""
    score, score_header = final_score(ds)
    final = ds[score].isel(epoch=-1)
    failed = ds["run_status"] != status_module.OK
    shown = [a for a in axes if a != "seed"]
    if "seed" in axes:
        n_seeds = ds.sizes["seed"]
        final = final.mean("seed")  # skips diverged (NaN) seeds; the count is shown beside
        header = f"{score_header} (mean of {n_seeds} seeds)"
        n_failed = failed.sum("seed")
    else:
        header, n_seeds, n_failed = score_header, 1, failed.astype(int)
    widths = [max(len(a), *(len(_fmt(v)) for v in ds[a].values)) for a in shown]
    lines = ["  ".join([*(a.ljust(w) for a, w in zip(shown, widths)), header, "not ok"])]
    for index in np.ndindex(*(ds.sizes[a] for a in shown)):
        where = dict(zip(shown, index))
        cells = [_fmt(ds[a].values[i]).ljust(w) for a, i, w in zip(shown, index, widths)]
        acc = _score(score, final.isel(where).values)
        count = int(n_failed.isel(where).values)
        lines.append("  ".join([*cells, acc.ljust(len(header)), f"{count}/{n_seeds}"]))
    lines.append(_status_counts(ds))
    runs = _failed_runs(ds, axes)
    lines.append("not ok: " + ("none" if not runs else "; ".join(runs)))
    return "\n".join(lines)


def _status_counts(ds) -> str:
    counts = status_module.counts(ds["run_status"])
    return (f"run status of {int(ds['run_status'].size)} runs: "
            + ", ".join(f"{n} {name}" for name, n in counts.items()))


def _failed_runs(ds, axes: list[str]) -> list[str]:
    values = ds["run_status"].transpose(*axes).values
    steps = ds["run_status_step"].transpose(*axes).values
    out = []
    for index in zip(*np.nonzero(values != status_module.OK)):
        label = ", ".join(f"{a}={_fmt(ds[a].values[i])}" for a, i in zip(axes, index))
        out.append(f"{label} {status_module.NAMES[int(values[index])]} from step "
                   f"{int(steps[index])}")
    return out


def _fmt(value) -> str:
    if isinstance(value, (float, np.floating)):
        return f"{float(value):g}"
    if isinstance(value, bytes):
        return value.decode()
    return str(value)


def info_text(ds, path: str) -> str:
    config = config_of(ds)
    axes = list(json.loads(ds.attrs.get("sweep", "{}")))
    lines = [f"{path}: {ds.attrs.get('title', '')} "
             f"(pcdiag {ds.attrs.get('pcdiag_version', '?')})"]
    lines.append("config:" + ("  (base config of the sweep)" if axes else ""))
    width = max(map(len, field_names()))
    for field in dataclasses.fields(config):
        value = getattr(config, field.name)
        lines.append(f"  {field.name.ljust(width)} = {'none' if value is None else value}")
    if axes:
        lines.append("sweep axes:")
        for axis in axes:
            lines.append(f"  {axis} = {', '.join(_fmt(v) for v in ds[axis].values)}")
    else:
        lines.append("sweep axes: none (a single run)")
    if axes:
        lines.extend(_info_sweep(ds, axes, config))
    else:
        lines.extend(_info_run(ds, config))
    lines.append(f"schema_version: {ds.attrs['schema_version']}")
    return "\n".join(lines)


def _where_energies(ds) -> str:
    """Which energies the info lines show."""
    if "t" not in ds.dims:
        return "energies: none recorded"
    return (f"E_l at t = T = {int(ds['t'].values[-1])} of the last logged step "
            f"(step {int(ds['step'].values[-1])}), layer 1 first")


def _info_run(ds, config: Config) -> list[str]:
    lines = [_where_energies(ds) + ":"]
    lines.extend(_energy_lines(ds, config.algorithm, indent="  "))
    found = _measures(ds)
    lines.append("measures (pcdiag.measures; reached: last logged step, profiles: late "
                 f"{measures.LATE_FRACTION:.0%} of steps):")
    lines.extend(f"  {text}" for text in _measure_texts(found, {}, compact=False))
    columns = score_columns(ds)
    lines.append("reconstruction MSE:" if "test_mse" in ds else "accuracy:")
    lines.append("  epoch  " + "  ".join(header.rjust(9) for _, header in columns))
    for i, epoch in enumerate(ds["epoch"].values):
        cells = [_score(name, ds[name].values[i]).rjust(9) for name, _ in columns]
        lines.append(f"  {int(epoch):5d}  " + "  ".join(cells))
    if "mean_image_mse" in ds:
        lines.append(f"  mean-image MSE (for scale): {float(ds['mean_image_mse']):.4g}")
    diverged = int(ds["diverged_at"])
    lines.append(f"diverged_at: {diverged}" + (" (did not diverge)" if diverged < 0 else ""))
    lines.append(_run_status_line(ds))
    return lines


def _info_sweep(ds, axes: list[str], config: Config) -> list[str]:
    n_epochs = ds.sizes["epoch"]
    lines = [f"per combination: accuracies after epoch {n_epochs}; {_where_energies(ds)}; "
             "pcdiag.measures (reached at T, stalled layers, profile shapes E / Δθ):"]
    found = _measures(ds)
    for index in np.ndindex(*(ds.sizes[a] for a in axes)):
        where = dict(zip(axes, index))
        point = ds.isel(where)
        label = " ".join(f"{a}={_fmt(ds[a].values[i])}" for a, i in zip(axes, index))
        algorithm = str(point["algorithm"].values) if "algorithm" in axes else config.algorithm
        energy = " ".join(_energy_lines(point, algorithm, indent="", compact=True))
        if "test_mse" in point:
            scores = f"test_mse {_score('test_mse', point['test_mse'].values[-1])}"
        else:
            scores = (f"train {_acc(point['train_accuracy'].values[-1])} "
                      f"test {_acc(point['test_accuracy'].values[-1])}")
        lines.append(
            f"  {label}: {scores} "
            f"diverged_at {int(point['diverged_at'])}; {_status_word(point)}; {energy}; "
            + ", ".join(_measure_texts(found, where, compact=True))
        )
    n_div = int((ds["diverged_at"] >= 0).sum())
    lines.append(f"diverged: {n_div} of {int(ds['diverged_at'].size)} runs")
    if "run_status" in ds:
        lines.append(_status_counts(ds))
    return lines


def _measures(ds) -> dict:
    """pcdiag.measures of every run, once for the whole file (indexed per run later): layers
    reached at T and each run's depth, stalled layers (and whether that is only a lower
    bound), the energy and update profiles' shapes and rates. Absent records: absent keys."""
    found: dict = {}
    if "update_norm" in ds and "weight_norm" in ds:
        found["depth"] = measures.output_layer(ds)
        found["stalled"] = measures.stalled_layers(ds)
        found["lower"] = measures.stalled_lower_bound(ds)
        found["update"] = measures.update_profile(ds)
    if "energy" in ds and "energy_total" in ds and "t" in ds.dims:
        found["reached"] = measures.layers_reached(ds)
        found["energy"] = measures.energy_profile(ds)
    return found


def _pick(da, where: dict):
    """One run's value of a measure (its sweep dims indexed by `where`, positions)."""
    return da.isel({k: v for k, v in where.items() if k in da.dims})


def _count(da) -> str:
    """A count as text: '13', '10–11' if several runs remain (dims not in the sweep attr),
    'n/a' where none is finite (a diverged run: no count, never 0)."""
    values = np.asarray(da.values, float).ravel()
    values = values[np.isfinite(values)]
    if not values.size:
        return "n/a"
    lo, hi = int(values.min()), int(values.max())
    return str(lo) if lo == hi else f"{lo}–{hi}"


def _profile_word(profile, where: dict, compact: bool) -> str:
    one = _pick(profile, where)
    shape = "/".join(dict.fromkeys(str(v) for v in np.ravel(one["shape"].values)))
    rate = np.asarray(one["rate"].values, float).ravel()
    if rate.size and np.isfinite(rate).all():
        value = float(rate.mean())
        return f"{shape} {value:.2f}" if compact else f"{shape}, {value:.3g} decades/layer"
    return shape


def _measure_texts(found: dict, where: dict, *, compact: bool) -> list[str]:
    """One run's measures: compact ('reached 13/16', 'stalled 3', 'E rising 0.60', 'Δθ
    u_shaped') for a sweep's line, else one line each."""
    depth = _count(_pick(found["depth"], where)) if "depth" in found else ""
    of = (f"/{depth}" if compact else f" of {depth}") if depth not in ("", "n/a") else ""
    texts = []
    if "reached" in found:
        count = _count(_pick(found["reached"], where))
        if count == "n/a":
            texts.append("reached n/a" if compact else
                         "layers reached at t = T: n/a (energies not finite)")
        else:
            texts.append(f"reached {count}{of}" if compact else
                         f"layers reached at t = T: {count}{of} (output included)")
    if "stalled" in found:
        count = _count(_pick(found["stalled"], where))
        low = bool(_pick(found["lower"], where).any()) and count != "n/a"
        if compact:
            texts.append(f"stalled {'≥ ' if low else ''}{count}{of if count != 'n/a' else ''}")
        else:
            note = (" (a lower bound: Adam-type optimizer, no per-t energies to check its "
                    "layers)" if low else "") + (" (diverged: no count)" if count == "n/a"
                                                 else "")
            of_l = of if count != "n/a" else ""
            texts.append(f"stalled layers (learn at no logged step): {count}{of_l}{note}")
    shapes = []
    if "energy" in found:
        shapes.append(("E" if compact else "energy at T") + " "
                      + _profile_word(found["energy"], where, compact))
    if "update" in found:
        shapes.append(("Δθ" if compact else "relative update") + " "
                      + _profile_word(found["update"], where, compact))
    if shapes:
        texts.extend(shapes if compact else ["profile shapes (rate only where monotone): "
                                             + "; ".join(shapes)])
    return texts


def _status_word(point) -> str:
    if "run_status" not in point:
        return "run_status absent"
    return status_module.NAMES[int(point["run_status"])]


def _energy_lines(ds, algorithm: str, *, indent: str, compact: bool = False) -> list[str]:
    """Per-layer energies at t = T of the last logged step and their finite ratio range."""
    if "t" not in ds.dims or "energy" not in ds:
        return [f"{indent}no energies (record_inference false)"]
    energy = ds["energy"].isel(step=-1, t=-1).transpose("layer").values
    if "energy_ratio" in ds:
        ratio = ds["energy_ratio"].isel(step=-1, t=-1).transpose("layer").values
    else:  # a lean figure file (records_left_out): E_l / E_l+1 from the energies
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = energy[:-1] / energy[1:]
    if not np.isfinite(energy).any():
        if algorithm == "bp":
            return [f"{indent}no energies (bp)"]
        return [f"{indent}energies: all NaN at the last logged step (diverged?)"]
    finite = ratio[np.isfinite(ratio)]
    digits = ".3g" if compact else ".7g"
    e_text = " ".join(format(float(e), digits) for e in energy)
    if finite.size:
        r_text = (f"min {format(float(finite.min()), digits)}, "
                  f"max {format(float(finite.max()), digits)}")
    else:
        r_text = "no finite values"
    if compact:
        return [f"E {e_text}; ratio {r_text}"]
    return [f"{indent}E_l: {e_text}",
            f"{indent}E_l/E_l+1 (finite values): {r_text}"]


STATES = ("finished", "running", "failed", "stale", "waiting")
#: Units listed one by one by `pcdiag sweep --status` (beyond it: only those not finished)
LISTED = 40


def store_status(store, now: float | None = None) -> str:
    """`pcdiag sweep --status DIR`: how many units are finished, running, failed, stale or
    waiting, the ones not finished one by one, and an estimate of the time left (the mean
    time of the finished units, over the units running at once)."""
    now = time.time() if now is None else now
    units = store.status()
    axes = store.spec["axes"]
    runs = math.prod(len(v) for k, v in axes.items() if k not in store.spec["program_axes"])
    counts = {state: sum(u.state == state for u in units) for state in STATES}
    lines = [f"store {store.root}: sweep over {', '.join(axes)}; {len(units)} unit(s) of "
             f"{runs} run(s)",
             "  " + ", ".join(f"{counts[s]} {s}" for s in STATES)]
    shown = units if len(units) <= LISTED else [u for u in units if u.state != "finished"]
    for unit in shown[:LISTED]:
        where = " ".join(f"{k}={_fmt(v)}" for k, v in unit.combo.items()) or "(one unit)"
        detail = unit.state
        if unit.state == "finished" and unit.seconds is not None:
            detail += f" in {_duration(unit.seconds)}"
        elif unit.state in ("running", "stale"):
            detail += f" on {unit.holder} for {_duration(now - (unit.since or now))}"
            if unit.state == "stale":
                detail += " (its worker is gone: the next sweep on this store reruns it)"
        if unit.attempts:
            last = (unit.error or "").strip().splitlines()
            detail += f"; {unit.attempts} failed attempt(s), last: {last[-1] if last else '?'}"
        lines.append(f"  unit {unit.index:>4}  {where}  {detail}")
    if len(shown) > LISTED:
        lines.append(f"  ... and {len(shown) - LISTED} more not finished")
    lines.append(_time_left(units, now))
    return "\n".join(lines)


def _time_left(units, now: float) -> str:
    took = [u.seconds for u in units if u.state == "finished" and u.seconds is not None]
    running = [u for u in units if u.state == "running"]
    waiting = sum(u.state in ("waiting", "stale") for u in units)
    if not running and not waiting:
        failed = sum(u.state == "failed" for u in units)
        return ("done" if not failed else
                f"stopped: {failed} failed unit(s); rerun the sweep to retry them")
    if not took:
        return "time left: unknown until a unit has finished"
    mean = sum(took) / len(took)
    work = mean * waiting + sum(max(mean - (now - (u.since or now)), 0.0) for u in running)
    if not running:
        return (f"no unit is running (rerun the sweep to resume); {waiting} unit(s) left, "
                f"about {_duration(work)} one at a time (mean unit {_duration(mean)})")
    return (f"time left: about {_duration(work / len(running))} at {len(running)} unit(s) at "
            f"once (mean unit {_duration(mean)}, {len(took)} finished)")


def _duration(seconds: float) -> str:
    seconds = max(0.0, float(seconds))
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"
