"""The whole benchmark: every model measured (pcdiag full and off, PCX, FLOPs, energies),
the sweep comparison, and the targets, as one JSON-able dict."""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from pcdiag.bench.device import device_info, matmul_throughput
from pcdiag.bench.flops import chunk_flops
from pcdiag.bench.log import say
from pcdiag.bench.pcx import (
    compare_energies,
    ensure_pcx,
    resolve_pcx_venv,
    run_pcx,
    save_pcx_weights,
)
from pcdiag.bench.programs import pcdiag_energies
from pcdiag.bench.report import evaluate_targets
from pcdiag.bench.settings import (
    BATCH,
    GAMMA,
    MODELS,
    SWEEP_GAMMAS,
    WEIGHT_LR,
    Model,
    Settings,
    bench_config,
)
from pcdiag.bench.timing import time_pcdiag, time_sweep
from pcdiag.data import load as load_dataset
from pcdiag.runs import load_device_data


def run_bench(s: Settings) -> dict[str, Any]:
    """Everything the bench measures, as one JSON-able dict (see pcdiag.bench)."""
    result: dict[str, Any] = {
        "settings": asdict(s),
        "device": device_info(),
        "conventions": {
            "throughput": "training samples per second: the median over epochs 2..E (epoch 1 "
                          "holds the compilation); pcdiag without its end-of-epoch accuracy "
                          "evaluation, PCX likewise (it evaluates after training)",
            "full_recording": "log_every=1, record_inference=True: per-t energies and "
                              "state-gradient norms (T+1 x L) and per-step norms every step",
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
    """One model: pcdiag's throughput (full recording and off), the matmul reference, the
    FLOPs of its compiled chunk, and (with a PCX venv) PCX's throughput and energies."""
    train_limit = s.train_limits.get(model.name)
    full = bench_config(model, full=True, epochs=s.epochs, train_limit=train_limit,
                        test_limit=s.test_limit, data_dir=s.data_dir, seed=s.seed)
    off = bench_config(model, full=False, epochs=s.epochs, train_limit=train_limit,
                       test_limit=s.test_limit, data_dir=s.data_dir, seed=s.seed)
    out: dict[str, Any] = {"sizes": model.sizes, "batch_size": BATCH, "T": model.T,
                           "epochs": s.epochs, "train_examples": full.n_train,
                           "steps_per_epoch": full.steps_per_epoch}
    say(f"{model.name} {model.sizes} T={model.T}: {full.steps_per_epoch} batches/epoch, "
         f"{s.epochs} epochs")
    data = load_device_data(full)

    # timings first, so that each pays its own compilation; the checks reuse the programs
    out["matmul"] = matmul_throughput(s.matmul_size)
    say(f"{model.name}: matmul reference {out['matmul']['gflops']:.1f} GFLOP/s")
    for label, cfg in (("pcdiag_full", full), ("pcdiag_off", off)):
        say(f"{model.name}: {label} (log_every={cfg.log_every}, "
             f"record_inference={cfg.record_inference})")
        out[label] = time_pcdiag(cfg, data)
        say(f"{model.name}: {label} {out[label]['samples_per_s']:.0f} samples/s, "
             f"compile {out[label]['compile_s']:.1f} s")

    energies, params = pcdiag_energies(full, data)
    out["pcdiag_energies"] = energies.tolist()
    pcx = None
    if pcx_python:
        npz = workdir / f"fmnist_{full.n_train}_{s.test_limit}.npz"
        if not npz.exists():
            train, test = load_dataset("fashion-mnist", s.data_dir, train_limit, s.test_limit)
            np.savez(npz, x_train=train.images, y_train=train.labels, x_test=test.images,
                     y_test=test.labels)
        weights = workdir / f"w_{model.name}.npz"
        save_pcx_weights(params, weights)
        spec = {"name": model.name, "sizes": model.sizes, "batch_size": BATCH, "T": model.T,
                "gamma": GAMMA, "weight_lr": WEIGHT_LR, "weight_decay": 0.0,
                "epochs": s.epochs, "data": str(npz), "init_weights": str(weights),
                "check_energies": True, "seed": s.seed}
        say(f"{model.name}: PCX ({s.epochs} epochs, energy check from pcdiag's init)")
        pcx = run_pcx(pcx_python, spec, workdir)
        if "error" in pcx:
            say(f"{model.name}: PCX failed: {pcx['error']}")
        else:
            out["energy_check"] = compare_energies(energies, np.asarray(pcx["energies_traj"]))
            say(f"{model.name}: PCX {pcx['samples_per_s']:.0f} samples/s, energies "
                 f"{'agree' if out['energy_check']['ok'] else 'DIFFER'}")
        out["pcx"] = {k: v for k, v in pcx.items() if k != "energies_traj"}
    else:
        out["pcx"] = {"error": "unavailable"}
    out["flops"] = chunk_flops(full, data)
    per_step = out["flops"]["hlo_flops_per_step"]
    for label in ("pcdiag_full", "pcdiag_off"):
        rate = per_step * out[label]["samples_per_s"] / BATCH / 1e9
        out[label]["gflops"] = rate
        out[label]["matmul_efficiency"] = rate / out["matmul"]["gflops"]
    if pcx and "samples_per_s" in pcx:
        # same algorithm, so the hand count is the fair FLOP count for PCX too
        rate = out["flops"]["hand_flops_per_step"] * pcx["samples_per_s"] / BATCH / 1e9
        out["pcx"]["gflops_hand_count"] = rate
    return out
