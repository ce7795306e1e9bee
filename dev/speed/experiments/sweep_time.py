"""The speed benchmark's sweep comparison for one variants.py copy: one 8-gamma vectorised
sweep vs 8 train calls, compile included, with each compiled function's compile time logged.

    python dev/speed/experiments/sweep_time.py --variant flatinit [--train-limit N]
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
import time

import jax

from pcdiag.speed import MODELS, SWEEP_GAMMAS, bench_config


class Compiles(logging.Handler):
    def __init__(self):
        super().__init__()
        self.seen = []

    def emit(self, record):
        text = record.getMessage()
        if "Finished XLA compilation of" in text:
            name = text.split("compilation of ")[1].split(" in ")[0]
            self.seen.append((name, float(text.split(" in ")[1].split(" sec")[0])))

    def summary(self):
        big = [f"{n} {s:.1f}s" for n, s in self.seen if s > 0.2]
        total = sum(s for _, s in self.seen)
        self.seen = []
        return f"compiles {total:.1f}s: " + ", ".join(big)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--variant", default="base")
    ap.add_argument("--train-limit", type=int, default=None)
    ap.add_argument("--variants-dir", default="bench-out/variants")
    a = ap.parse_args()
    sys.path.insert(0, a.variants_dir)
    pkg = importlib.import_module(f"pcdiag_{a.variant.replace('+', '_')}")
    loop = importlib.import_module(pkg.__name__ + ".engine.loop")
    run_mod = importlib.import_module(pkg.__name__ + ".runs")
    config_mod = importlib.import_module(pkg.__name__ + ".config")
    handler = Compiles()
    jax.config.update("jax_log_compiles", True)
    logging.getLogger("jax").addHandler(handler)
    logging.getLogger("jax").setLevel(logging.WARNING)
    logging.getLogger("jax").propagate = False
    base = bench_config(MODELS[0], full=True, epochs=1, train_limit=a.train_limit,
                        test_limit=None, data_dir=None, seed=0)
    base = config_mod.Config(**base.to_dict())
    data = run_mod.load_device_data(base)
    loop._COMPILED.clear()
    jax.clear_caches()
    def vectorised():
        pkg.sweep(base, gamma=list(SWEEP_GAMMAS), data=data)

    def sequential():
        for g in SWEEP_GAMMAS:
            pkg.train(base.replace(gamma=g), data=data)

    pkg.train(base.replace(depth=2, width=8, inference_steps=1), data=data)  # warm-up
    times = {}
    for name, fn in (("vectorised", vectorised), ("sequential", sequential)):
        loop._COMPILED.clear()
        jax.clear_caches()
        for attempt in ("cold", "warm"):  # warm: the same again, everything compiled
            start = time.perf_counter()
            fn()
            times[name, attempt] = time.perf_counter() - start
            print(f"{a.variant}: {name} {attempt} {times[name, attempt]:.2f}s  "
                  f"({handler.summary()})", flush=True)
    vec, seq = times["vectorised", "cold"], times["sequential", "cold"]
    print(f"{a.variant}: speed-up {seq / vec:.2f}x on {jax.devices()[0]}, "
          f"{base.steps_per_epoch} steps")


if __name__ == "__main__":
    main()
