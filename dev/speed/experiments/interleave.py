"""Epoch timings of pcdiag variants (variants.py copies) and the bare reference (ideal.py),
interleaved round by round in one process so that a noisy machine hurts them alike.

    python dev/speed/experiments/interleave.py --model mlp3-128 \\
        --variants ideal,base,nocond,nonorms@full --configs full,off --rounds 4 \\
        [--variants-dir bench-out/variants]   (VARIANT@full/off: that variant's own configs)

Each (variant, config) trains one epoch per round through the variant's own compiled chunk
(the loop's epoch without its accuracy evaluation); printed: best and median samples/s,
the best epoch's wall and CPU time, the ratio to the bare reference, and the first epoch's
excess over the best (its compilation).
"""

from __future__ import annotations

import argparse
import importlib
import json
import statistics
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from pcdiag.runs import load_device_data  # noqa: E402
from pcdiag.speed import MODELS, bench_config  # noqa: E402

CALLS = [None]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="mlp3-128")
    ap.add_argument("--variants", default="ideal,base")
    ap.add_argument("--configs", default="full,off")
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--train-limit", type=int, default=None)
    ap.add_argument("--variants-dir", default="bench-out/variants")
    ap.add_argument("--json", default=None)
    ap.add_argument("--calls", type=int, default=1,
                    help="chunk calls per epoch (1: pcdiag.train without a progress bar; 20: "
                         "with one)")
    a = ap.parse_args()
    CALLS[0] = a.calls
    sys.path.insert(0, a.variants_dir)
    model = next(m for m in MODELS if m.name == a.model)
    base = bench_config(model, full=True, epochs=1, train_limit=a.train_limit, test_limit=1000,
                        data_dir=None, seed=0)
    data = load_device_data(base)
    steps = base.steps_per_epoch
    runners = {}
    for item in a.variants.split(","):
        v, _, only = item.partition("@")  # "nonorms@full" or "base@full/off": its own configs
        if v == "ideal":
            runners[("ideal", "-")] = ideal_runner(model, data, steps)
            continue
        for c in (only.split("/") if only else a.configs.split(",")):
            runners[(v, c)] = variant_runner(v, c, model, a.train_limit, data, steps)
    first = {}
    for key, run in runners.items():
        start = time.perf_counter()
        jax.block_until_ready(run())
        first[key] = time.perf_counter() - start
    wall = {k: [] for k in runners}
    cpu = {k: [] for k in runners}
    for _ in range(a.rounds):
        for key, run in runners.items():
            t, c = time.perf_counter(), time.process_time()
            jax.block_until_ready(run())
            wall[key].append(time.perf_counter() - t)
            cpu[key].append(time.process_time() - c)
    ref = min(wall[("ideal", "-")]) if ("ideal", "-") in wall else None
    dev = jax.devices()[0]
    print(f"{model.name}: {steps} steps/epoch, {a.rounds} rounds, {dev.platform} "
          f"{getattr(dev, 'device_kind', '')}, jax {jax.__version__}")
    rows = []
    for key in runners:
        w, c = wall[key], cpu[key]
        row = {"variant": key[0], "config": key[1], "best_sps": steps * 128 / min(w),
               "median_sps": steps * 128 / statistics.median(w), "best_wall_s": min(w),
               "best_cpu_s": min(c), "x_ideal": min(w) / ref if ref else None,
               "first_epoch_excess_s": first[key] - min(w), "wall_s": w, "cpu_s": c}
        rows.append(row)
        print(f"{key[0]:>16} {key[1]:>4}: best {row['best_sps']:9.0f} sps  median "
              f"{row['median_sps']:9.0f}  wall {min(w) * 1e3:8.1f} ms  cpu {min(c) * 1e3:8.1f} ms"
              + (f"  x ideal {row['x_ideal']:5.2f}" if ref else "")
              + f"  compile+ {row['first_epoch_excess_s']:5.1f} s", flush=True)
    if a.json:
        Path(a.json).write_text(json.dumps({"model": model.name, "device": str(dev),
                                            "rows": rows}, indent=1))


def ideal_runner(model, data, steps):
    from ideal import make_epoch

    from pcdiag.nets.mlp import init_params

    epoch, opt = make_epoch(model.sizes, 128, model.T, 0.1, 1e-3)
    params = init_params(jax.random.PRNGKey(0), model.sizes)
    holder = {"c": (params, opt.init(params))}
    rng = np.random.default_rng(0)

    def run():
        order = jnp.asarray(rng.permutation(data.n_train)[: steps * 128].reshape(steps, 128))
        holder["c"] = epoch(holder["c"], order, data.x, data.y)
        return holder["c"]

    return run


def variant_runner(variant, config, model, train_limit, data, steps):
    pkg = f"pcdiag_{variant.replace('+', '_')}"
    loop = importlib.import_module(pkg + ".engine.loop")
    train = importlib.import_module(pkg + ".algorithms")
    config_mod = importlib.import_module(pkg + ".config")
    cfg = bench_config(model, full=(config == "full"), epochs=1, train_limit=train_limit,
                       test_limit=1000, data_dir=None, seed=0)
    cfg = config_mod.Config(**cfg.to_dict())
    prog = train.Program.from_config(cfg)
    fns = loop.compiled(prog)
    hyper = jax.tree_util.tree_map(lambda x: x[None], train.Hyper.from_config(cfg))
    calls = getattr(loop, "CHUNKS_PER_EPOCH", 1) if CALLS[0] is None else CALLS[0]
    length, guarded = loop.chunk_length(steps, cfg.log_every, calls)
    padded = -(-steps // length) * length
    holder = {"s": fns.init(hyper, jax.random.PRNGKey(0)[None])}
    order_fn = fns.order(holder["s"], data.n_train, steps, 128, padded)
    order_shape = jax.ShapeDtypeStruct((1, padded, 128), jnp.int32)
    chunk = fns.chunk(length, guarded, holder["s"], hyper, data, order_shape)
    bounds = [(np.int32(b), np.int32(min(length, steps - b))) for b in range(0, steps, length)]

    def run():
        state, order = order_fn(holder["s"])
        for begin, n_valid in bounds:
            state, _ = chunk(state, hyper, data.x, data.y, order, begin, n_valid)
        holder["s"] = state
        return state

    return run


if __name__ == "__main__":
    main()
