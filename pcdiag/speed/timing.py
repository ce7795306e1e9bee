"""Timing pcdiag: training throughput without the evaluation, and the sweep comparison
(an 8-gamma vectorised sweep against 8 runs one after another, each side in its own process)."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from typing import Any

import numpy as np

import pcdiag
from pcdiag.runs import load_device_data


def time_pcdiag(cfg, data) -> dict[str, Any]:
    """Train with pcdiag.train; per-epoch training time without the accuracy evaluation.

    The loop's Timing.train_s includes the end-of-epoch feedforward accuracy (train and test
    sets); PCX's epoch times do not, so Timing.eval_s (that evaluation, timed inside the same
    epoch) is subtracted. Compile time: Timing.compile_s plus what epoch 1 took beyond a
    steady epoch (the same definition holds whether the loop compiles ahead of time or on its
    first call).
    """
    wall = time.perf_counter()
    ds, timing = pcdiag.train_with_timing(cfg, data=data)
    wall = time.perf_counter() - wall
    evals = list(timing.eval_s)
    epoch_s = [t - e for t, e in zip(timing.train_s, evals)]
    steady = epoch_s[1:]
    median = statistics.median(steady)
    steps = data.n_train // cfg.batch_size
    samples = steps * cfg.batch_size
    return {
        "samples_per_s": samples / median,
        "samples_per_s_best": samples / min(steady),
        "samples_per_s_epochs": [samples / t for t in steady],
        "epoch_s": epoch_s,
        "eval_s": evals,
        "timing_basis": "Timing.train_s - Timing.eval_s",
        "compile_s": timing.compile_s + timing.train_s[0] - statistics.median(timing.train_s[1:]),
        "loop_compile_s": timing.compile_s,
        "wall_s": wall,
        "steps_per_epoch": steps,
        "log_every": cfg.log_every,
        "record_inference": cfg.record_inference,
        "test_accuracy": float(ds.test_accuracy.values[-1]),
        # (steps, T+1, L) of epoch 1 for the reference's energy check (not written to JSON)
        "first_epoch_energies": _first_epoch_energies(ds),
    }


def _first_epoch_energies(ds):
    """The first epoch's recorded energies (logged steps, T+1, L), or None (none recorded)."""
    if "energy" not in ds:
        return None
    energy = ds.energy.values
    return energy[np.asarray(ds.epoch_of_step.values) == 1] if energy.ndim == 3 else None


def warm_up(base, data) -> None:
    """Train a tiny network once, so that what a process pays once (backend start, BLAS
    handles, the first compiles' set-up) is paid before either side of a comparison."""
    pcdiag.train(base.replace(depth=2, width=8, inference_steps=1, log_every=1), data=data)


def sweep_side(side: str, config: dict, gammas: list[float]) -> dict[str, Any]:
    """One side of the sweep comparison, in a fresh process (see :func:`time_sweep`): the data
    loaded and a tiny warm-up run first (not timed), then the side cold (compile included)
    and once more warm (everything compiled)."""
    base = pcdiag.Config(**config)
    data = load_device_data(base)
    warm_up(base, data)

    def once() -> list[float]:
        if side == "vectorised":
            ds = pcdiag.sweep(base, gamma=list(gammas), data=data)
            return np.asarray(ds.test_accuracy.values)[:, -1].tolist()
        return [float(pcdiag.train(base.replace(gamma=g), data=data).test_accuracy.values[-1])
                for g in gammas]

    out: dict[str, Any] = {}
    for attempt in ("cold", "warm"):
        start = time.perf_counter()
        out["test_accuracy"] = once()
        out[f"{attempt}_s"] = time.perf_counter() - start
    return out


def time_sweep(base, gammas) -> dict[str, Any]:
    """An 8-gamma pcdiag.sweep (vectorised) against 8 pcdiag.train calls one after another,
    each side in its own fresh process (so neither inherits the other's compiled programs or
    autotuning), with the data preloaded and a tiny warm-up run before the clock starts.
    Cold (compile included: the target) and warm (all compiled: the training alone)."""
    sides = {}
    for side in ("sequential", "vectorised"):
        code = ("import json, sys; from pcdiag.speed import sweep_side; "
                "print('SWEEP-SIDE ' + json.dumps(sweep_side(sys.argv[1], json.loads(sys.argv[2]), "
                "json.loads(sys.argv[3]))))")
        proc = subprocess.run([sys.executable, "-c", code, side, json.dumps(base.to_dict()),
                               json.dumps(list(gammas))], capture_output=True, text=True)
        lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("SWEEP-SIDE ")]
        if proc.returncode != 0 or not lines:
            raise RuntimeError(f"sweep comparison, {side} side failed (exit {proc.returncode}):"
                               f" {proc.stderr.strip()[-2000:]}")
        sides[side] = json.loads(lines[-1].removeprefix("SWEEP-SIDE "))
    vec, seq = sides["vectorised"], sides["sequential"]
    diff = np.abs(np.asarray(vec["test_accuracy"]) - np.asarray(seq["test_accuracy"]))
    return {
        "gammas": list(gammas),
        "vectorised_s": vec["cold_s"],
        "sequential_s": seq["cold_s"],
        "speedup": seq["cold_s"] / vec["cold_s"],
        "vectorised_warm_s": vec["warm_s"],
        "sequential_warm_s": seq["warm_s"],
        "speedup_warm": seq["warm_s"] / vec["warm_s"],
        "train_limit": base.train_limit,
        "epochs": base.epochs,
        "log_every": base.log_every,
        "record_inference": base.record_inference,
        "test_accuracy_vectorised": vec["test_accuracy"],
        "test_accuracy_sequential": seq["test_accuracy"],
        "max_test_accuracy_diff": float(np.nanmax(diff)),
        "note": "each side in a fresh process with the data preloaded (pcdiag.train / "
                "pcdiag.sweep(data=...)) and a tiny warm-up run before the clock; cold: "
                "compile included; warm: the same again with everything compiled",
    }
