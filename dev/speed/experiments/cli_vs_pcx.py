"""Issue 23's command-line measure, side by side with PCX in one run: `pcdiag train` in fresh
processes (output to a file, no terminal), throughput = 5 epochs' samples / (wall of 6 epochs
- wall of 1 epoch), evaluation included; PCX 0.6.3's harness on the same full Fashion-MNIST
arrays and pcdiag's initial weights, its median epoch (training only, as PCX times itself).

    python dev/speed/experiments/cli_vs_pcx.py --pcx-venv $PCDIAG_PCX_VENV \\
        [--widths 128,1024] [--rounds 2] [--norms-every 1,10]

Each round runs, per width: the CLI for 1 and 6 epochs at each norms_every, then PCX for 6
epochs. The XLA cache is warmed by one untimed 1-epoch CLI run of each setting first (the
cache every later CLI run reads, as a user's second run does). Prints one line per
measurement and a summary of medians over rounds and their ratios; writes JSON with --out.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import jax
import numpy as np

from pcdiag.data import load as load_dataset
from pcdiag.runs import load_device_data
from pcdiag.speed import MODELS, bench_config
from pcdiag.speed.pcx import resolve_pcx_venv, run_pcx, save_pcx_weights
from pcdiag.speed.programs import pcdiag_energies
from pcdiag.speed.settings import BATCH, GAMMA, WEIGHT_LR


def cli_wall(width: int, epochs: int, norms_every: int, out: Path) -> float:
    """Wall time of one `pcdiag train` process (stdout and stderr to a file)."""
    args = [sys.executable, "-m", "pcdiag", "train", "--depth", "3", "--width", str(width),
            "--batch-size", str(BATCH), "--inference-steps", "8", "--gamma", str(GAMMA),
            "--weight-lr", str(WEIGHT_LR), "--weight-decay", "0", "--epochs", str(epochs),
            "--norms-every", str(norms_every), "--out", str(out / f"w{width}_e{epochs}.nc")]
    with open(out / "cli.log", "a") as log:
        start = time.perf_counter()
        subprocess.run(args, check=True, stdout=log, stderr=log)
        return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pcx-venv", default=None)
    ap.add_argument("--widths", default="128,1024")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--norms-every", default="1,10")
    ap.add_argument("--out", default=None, help="JSON file for every measurement")
    a = ap.parse_args()
    venv = resolve_pcx_venv(a.pcx_venv)
    pcx_python = str(venv / "bin" / "python")
    cadences = [int(v) for v in a.norms_every.split(",")]
    result = {"cpu": platform.processor() or platform.machine(), "jax": jax.__version__,
              "cpus": os.cpu_count(), "widths": {}}
    work = Path(tempfile.mkdtemp(prefix="cli_vs_pcx_"))
    for width in [int(w) for w in a.widths.split(",")]:
        model = next(m for m in MODELS if m.name == f"mlp3-{width}")
        cfg = bench_config(model, full=True, epochs=6, train_limit=None, test_limit=None,
                           data_dir=None, seed=0)
        data = load_device_data(cfg)
        _, params = pcdiag_energies(cfg, data)
        npz, weights = work / "fmnist.npz", work / f"w{width}.npz"
        if not npz.exists():
            train, test = load_dataset("fashion-mnist", None, None, None)
            np.savez(npz, x_train=train.images, y_train=train.labels, x_test=test.images,
                     y_test=test.labels)
        save_pcx_weights(jax.tree_util.tree_leaves(params), weights)
        spec = {"name": model.name, "batch_size": BATCH, "T": 8, "gamma": GAMMA,
                "weight_lr": WEIGHT_LR, "weight_decay": 0.0, "epochs": 6, "data": str(npz),
                "init_weights": str(weights), "check_energies": False, "seed": 0,
                "sizes": model.sizes}
        samples = 5 * (60000 // BATCH) * BATCH
        for k in cadences:  # warm the XLA cache (untimed)
            cli_wall(width, 1, k, work)
        rows = {f"cli_norms_every_{k}": [] for k in cadences} | {"pcx": []}
        for r in range(a.rounds):
            for k in cadences:
                one, six = cli_wall(width, 1, k, work), cli_wall(width, 6, k, work)
                rows[f"cli_norms_every_{k}"].append(
                    {"wall_1": one, "wall_6": six, "samples_per_s": samples / (six - one)})
                print(f"width {width} round {r + 1} cli norms_every={k}: 1 epoch {one:.2f} s, "
                      f"6 epochs {six:.2f} s, {samples / (six - one):.0f} samples/s", flush=True)
            pcx = run_pcx(pcx_python, spec, work)
            rows["pcx"].append({k: v for k, v in pcx.items() if k != "energies_traj"})
            print(f"width {width} round {r + 1} PCX: {pcx.get('samples_per_s', 'failed')}",
                  flush=True)
        pcx_sps = statistics.median(p["samples_per_s"] for p in rows["pcx"])
        summary = {"pcx_samples_per_s": pcx_sps}
        for k in cadences:
            sps = [row["samples_per_s"] for row in rows[f"cli_norms_every_{k}"]]
            ratios = [s / p["samples_per_s"] for s, p in zip(sps, rows["pcx"])]
            summary[f"cli_norms_every_{k}"] = {"samples_per_s": statistics.median(sps),
                                               "over_pcx_rounds": ratios,
                                               "over_pcx": statistics.median(ratios)}
            print(f"width {width}: CLI norms_every={k} {statistics.median(sps):.0f} samples/s, "
                  f"PCX {pcx_sps:.0f}, ratio per round "
                  f"{', '.join(f'{x:.2f}' for x in ratios)}", flush=True)
        result["widths"][width] = {"rounds": rows, "summary": summary}
    result["loadavg_end"] = os.getloadavg()
    if a.out:
        Path(a.out).write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
