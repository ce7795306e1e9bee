"""The whole benchmark: every model measured (pcdiag full and off, PCX, FLOPs, energies),
the sweep comparison, and the targets, as one JSON-able dict."""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import Any

import jax
import numpy as np

from pcdiag.data import load as load_dataset
from pcdiag.runs import load_device_data
from pcdiag.speed.device import device_info, matmul_throughput
from pcdiag.speed.flops import bp_step_flops_of, chunk_flops, layer_flops
from pcdiag.speed.log import say
from pcdiag.speed.pcx import (
    PCX_SCRIPT,
    PCX_VGG_SCRIPT,
    compare_energies,
    ensure_pcx,
    resolve_pcx_venv,
    run_pcx,
    save_pcx_vgg_weights,
    save_pcx_weights,
)
from pcdiag.speed.programs import pcdiag_energies
from pcdiag.speed.reference import time_reference
from pcdiag.speed.report import evaluate_targets
from pcdiag.speed.settings import (
    BATCH,
    GAMMA,
    MODELS,
    NORMS_EVERY,
    QUICK_ROUNDS,
    ROUNDS,
    SWEEP_GAMMAS,
    WEIGHT_LR,
    Model,
    Settings,
    bench_config,
)
from pcdiag.speed.timing import time_pcdiag, time_sweep

#: pcdiag's sides, measured in this order each round: full recording, full recording with
#: the norms every NORMS_EVERY-th step, recording off.
SIDES = ("pcdiag_full", "pcdiag_cadence", "pcdiag_off")


def run_bench(s: Settings) -> dict[str, Any]:
    """Everything the speed benchmark measures, as one JSON-able dict (see pcdiag.speed)."""
    result: dict[str, Any] = {
        "settings": asdict(s),
        "device": device_info(),
        "conventions": {
            "throughput": "training samples per second: the median over epochs 2..E (epoch 1 "
                          "holds the compilation); pcdiag without its end-of-epoch accuracy "
                          "evaluation, PCX likewise (it evaluates after training)",
            "full_recording": "log_every=1, record_inference=True: per-t energies and "
                              "state-gradient norms (T+1 x L) and per-step norms every step",
            "full_recording_norms_cadence": f"full recording with norms_every={NORMS_EVERY}: "
                                            "per-t energies and the loss every step, the "
                                            "per-t and per-step norms every "
                                            f"{NORMS_EVERY}th step (NaN between)",
            "recording_off": "record_inference=False, log_every=steps per epoch: no per-t "
                             "records; per-step records (weight/grad/update norms, loss) on "
                             "each epoch's first step only",
            "gamma": f"{GAMMA}, per-sample convention in both (PCX: grads of the batch-mean "
                     "energy scaled by the batch size)",
            "compile_s": "time to steady state: pcdiag's Timing.compile_s + (epoch 1 - median "
                         "later epoch); PCX: epoch 1 - median later epoch",
        },
        "models": {},
    }
    dev = result["device"]
    say(f"jax {dev['jax']} on {dev['device']} ({dev['device_kind']}), "
         f"{dev['cpu_count']} CPUs, load {dev['loadavg_start']}")

    pcx_python, pcx_note = None, "skipped (--no-pcx)"
    if s.pcx:
        pcx_python, pcx_note = ensure_pcx(resolve_pcx_venv(s.pcx_venv))
        say(f"PCX: {pcx_note}" if pcx_python else f"PCX unavailable: {pcx_note}")
    result["pcx"] = {"available": pcx_python is not None, "note": pcx_note}

    workdir = Path(tempfile.mkdtemp(prefix="pcdiag-bench-"))
    try:
        for name in s.models:
            model = next(m for m in MODELS if m.name == name)
            result["models"][name] = bench_model(model, s, pcx_python, workdir)
        if s.sweep:
            say("sweep: 8 gammas vectorised vs 8 runs one after another")
            base = bench_config(MODELS[0], full=True, epochs=1, train_limit=s.sweep_train_limit,
                                test_limit=s.test_limit, data_dir=s.data_dir, seed=s.seed)
            result["sweep"] = time_sweep(base, SWEEP_GAMMAS)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    dev["loadavg_end"] = list(os.getloadavg()) if hasattr(os, "getloadavg") else None
    result["targets"] = evaluate_targets(result)
    return result


def bench_model(model: Model, s: Settings, pcx_python: str | None,
                workdir: Path) -> dict[str, Any]:
    """One model: pcdiag's throughput (full recording and off; a VGG also backprop on the same
    network), the matmul reference, the FLOPs of its compiled chunk, and (with a PCX venv)
    PCX's throughput and energies. With several rounds the sides run in turn, round after
    round, so that the machine's load falls on all of them; medians over rounds."""
    train_limit = s.train_limits.get(model.name)
    kw = dict(epochs=s.epochs, train_limit=train_limit, test_limit=s.test_limit,
              data_dir=s.data_dir, seed=s.seed)
    full = bench_config(model, full=True, **kw)
    configs = {"pcdiag_full": full,
               "pcdiag_cadence": bench_config(model, full=True, norms_every=NORMS_EVERY, **kw),
               "pcdiag_off": bench_config(model, full=False, **kw)}
    if model.net == "vgg":  # PC's cost over BP's (PCX's paper: 4.6x for VGG-5 per epoch)
        configs["pcdiag_bp"] = bench_config(model, full=False, algorithm="bp", **kw)
    rounds = s.rounds or (QUICK_ROUNDS if s.quick else ROUNDS).get(model.name, 1)
    out: dict[str, Any] = {"net": model.net, "sizes": model.sizes, "batch_size": BATCH,
                           "T": model.T, "epochs": s.epochs, "train_examples": full.n_train,
                           "steps_per_epoch": full.steps_per_epoch, "rounds": rounds,
                           "norms_every": NORMS_EVERY}
    if model.channels:
        out["channels"] = model.channels
    say(f"{model.name} {model.sizes} T={model.T}: {full.steps_per_epoch} batches/epoch, "
         f"{s.epochs} epochs, {rounds} round(s)")
    data = load_device_data(full)

    # the energies first (they give PCX its initial weights); each timing pays its own
    # compilation
    energies, params = pcdiag_energies(full, data)
    out["pcdiag_energies"] = energies.tolist()
    spec = None
    if pcx_python:
        npz = workdir / f"fmnist_{full.n_train}_{s.test_limit}.npz"
        if not npz.exists():
            train, test = load_dataset("fashion-mnist", s.data_dir, train_limit, s.test_limit)
            np.savez(npz, x_train=train.images, y_train=train.labels, x_test=test.images,
                     y_test=test.labels)
        weights = workdir / f"w_{model.name}.npz"
        spec = {"name": model.name, "batch_size": BATCH, "T": model.T, "gamma": GAMMA,
                "weight_lr": WEIGHT_LR, "weight_decay": 0.0, "epochs": s.epochs,
                "data": str(npz), "init_weights": str(weights), "check_energies": True,
                "seed": s.seed}
        if model.net == "vgg":
            save_pcx_vgg_weights(params, weights)
            spec.update(channels=model.channels, n_classes=10, side=32)
        else:
            save_pcx_weights(jax.tree_util.tree_leaves(params), weights)
            spec["sizes"] = model.sizes

    runs: dict[str, list[dict[str, Any]]] = {label: [] for label in
                                              (*configs, "reference", "pcx")}
    matmuls = []
    for r in range(rounds):
        matmuls.append(matmul_throughput(s.matmul_size))  # each round: the load drifts
        say(f"{model.name}: round {r + 1}: matmul reference {matmuls[-1]['gflops']:.1f} "
             f"GFLOP/s")
        for label, cfg in configs.items():
            say(f"{model.name}: round {r + 1}: {label} (log_every={cfg.log_every}, "
                 f"record_inference={cfg.record_inference}, norms_every={cfg.norms_every})")
            runs[label].append(time_pcdiag(cfg, data))
            say(f"{model.name}: {label} {runs[label][-1]['samples_per_s']:.0f} samples/s, "
                 f"compile {runs[label][-1]['compile_s']:.1f} s")
        say(f"{model.name}: round {r + 1}: plain-JAX reference")
        runs["reference"].append(time_reference(full, data))
        say(f"{model.name}: reference {runs['reference'][-1]['samples_per_s']:.0f} samples/s, "
             f"compile {runs['reference'][-1]['compile_s']:.1f} s")
        if r == 0:
            out["reference_energy_check"] = reference_check(
                runs["pcdiag_full"][0]["first_epoch_energies"],
                runs["reference"][0]["first_epoch_energies"])
            say(f"{model.name}: reference energies "
                 f"{'agree' if out['reference_energy_check']['ok'] else 'DIFFER'}")
        if spec is not None:
            say(f"{model.name}: round {r + 1}: PCX ({s.epochs} epochs"
                 f"{', energy check from pcdiag init' if r == 0 else ''})")
            script = PCX_VGG_SCRIPT if model.net == "vgg" else PCX_SCRIPT
            pcx = run_pcx(pcx_python, {**spec, "check_energies": r == 0}, workdir,
                          script=script)
            if "error" in pcx:
                say(f"{model.name}: PCX failed: {pcx['error']}")
            else:
                if r == 0:
                    out["energy_check"] = compare_energies(
                        energies, np.asarray(pcx["energies_traj"]))
                    say(f"{model.name}: energies "
                         f"{'agree' if out['energy_check']['ok'] else 'DIFFER'}")
                say(f"{model.name}: PCX {pcx['samples_per_s']:.0f} samples/s")
                runs["pcx"].append({k: v for k, v in pcx.items() if k != "energies_traj"})
    out["matmul"] = dict(matmuls[0], gflops=float(np.median([m["gflops"] for m in matmuls])),
                         gflops_rounds=[m["gflops"] for m in matmuls])
    for rounds_ in runs.values():
        for run in rounds_:
            run.pop("first_epoch_energies", None)
    for label in (*configs, "reference"):
        out[label] = _median_round(runs[label])
    for label in SIDES:  # each round's ratio, then the median
        ratios = round_ratios(runs[label], runs["reference"])
        out[f"{label.removeprefix('pcdiag_')}_over_reference_rounds"] = ratios
        out[f"{label.removeprefix('pcdiag_')}_over_reference"] = float(np.median(ratios))
    if runs["pcx"]:
        out["pcx"] = _median_round(runs["pcx"])
        out["full_over_pcx_rounds"] = round_ratios(runs["pcdiag_full"], runs["pcx"])
        out["full_over_pcx"] = float(np.median(out["full_over_pcx_rounds"]))
        out["cadence_over_pcx"] = float(np.median(round_ratios(runs["pcdiag_cadence"],
                                                               runs["pcx"])))
        out["reference_over_pcx"] = float(np.median(round_ratios(runs["reference"],
                                                                 runs["pcx"])))
    else:
        out["pcx"] = {"error": "unavailable" if spec is None else "failed"}
    if "pcdiag_bp" in out:
        out["pc_over_bp_time"] = {
            label: out["pcdiag_bp"]["samples_per_s"] / out[label]["samples_per_s"]
            for label in SIDES}

    out["flops"] = chunk_flops(full, data)
    per_step = out["flops"]["hlo_flops_per_step"]
    for label in (*SIDES, "reference"):
        rate = per_step * out[label]["samples_per_s"] / BATCH / 1e9
        out[label]["gflops"] = rate
        out[label]["matmul_efficiency"] = rate / out["matmul"]["gflops"]
    if "pcdiag_bp" in out:
        rate = (bp_step_flops_of(layer_flops_of(model)) * out["pcdiag_bp"]["samples_per_s"]
                / BATCH / 1e9)
        out["pcdiag_bp"]["gflops_hand_count"] = rate
        out["pcdiag_bp"]["matmul_efficiency"] = rate / out["matmul"]["gflops"]
    if "samples_per_s" in out["pcx"]:
        # same algorithm, so the hand count is the fair FLOP count for PCX too
        rate = out["flops"]["hand_flops_per_step"] * out["pcx"]["samples_per_s"] / BATCH / 1e9
        out["pcx"]["gflops_hand_count"] = rate
        out["pcx"]["matmul_efficiency"] = rate / out["matmul"]["gflops"]
    return out


def round_ratios(a: list[dict[str, Any]], b: list[dict[str, Any]]) -> list[float]:
    """Each round's throughput ratio of side `a` to side `b` (the ratio within a round, where
    the machine's load fell on both)."""
    return [x["samples_per_s"] / y["samples_per_s"] for x, y in zip(a, b)]


def reference_check(pcdiag_epoch: np.ndarray | None,
                    reference_epoch: np.ndarray) -> dict[str, Any]:
    """Does the plain-JAX reference compute pcdiag's energies? The whole first epoch of both
    timed runs (same initial state, so the same batches): largest differences, and
    how many steps are bit-identical (later steps may differ by float32 rounding: the two
    programs are compiled differently)."""
    out: dict[str, Any] = {}
    if pcdiag_epoch is not None:
        diff = np.abs(np.asarray(pcdiag_epoch, np.float64) - reference_epoch)
        scale = np.maximum(np.abs(pcdiag_epoch).max(axis=1, keepdims=True), 1e-30)
        out.update(epoch_steps=int(len(diff)), epoch_max_abs_diff=float(diff.max()),
                   epoch_max_rel_diff=float((diff / scale).max()),
                   steps_bit_identical=int((diff.reshape(len(diff), -1).max(axis=1) == 0).sum()),
                   first_step=compare_energies(reference_epoch[0], pcdiag_epoch[0]))
    out["ok"] = bool(out.get("first_step", {"ok": False})["ok"])
    return out


def layer_flops_of(model: Model) -> list[float]:
    """Per-layer matmul FLOPs of a benchmark model's prediction, batch BATCH."""
    from pcdiag.nets import NETS

    cfg = bench_config(model, full=False, epochs=1, train_limit=BATCH, test_limit=BATCH,
                       data_dir=None, seed=0)
    return layer_flops(NETS[model.net](cfg, (28, 28, 1), 10), BATCH)


def _median_round(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """The round of median throughput (its other numbers with it), every round's
    throughput, and the first round's compile time: pcdiag keeps its compiled programs in
    the process, so only its first round compiles (each PCX round is a fresh process)."""
    order = sorted(range(len(rounds)), key=lambda i: rounds[i]["samples_per_s"])
    out = dict(rounds[order[(len(order) - 1) // 2]])
    out["samples_per_s"] = float(np.median([r["samples_per_s"] for r in rounds]))
    out["samples_per_s_rounds"] = [r["samples_per_s"] for r in rounds]
    for key in ("compile_s", "compile_time_epoch_s", "compile_time_s"):
        if key in rounds[0]:
            out[key] = rounds[0][key]
            out[f"{key}_rounds"] = [r.get(key) for r in rounds]
    return out
