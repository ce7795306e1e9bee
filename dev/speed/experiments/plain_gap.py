"""Where pcdiag's step spends time that the plain-JAX step does not: epochs of the plain-JAX
reference (pcdiag.speed.reference) and of pcdiag's compiled chunk (recording off / full, each
optionally with one part patched out), interleaved round by round in one process, wall and
CPU time, speed relative to the first variant.

    python dev/speed/experiments/plain_gap.py --model mlp3-128 --train-limit 12800 \\
        --rounds 9 --variants ref,off,full,full+notnorm,full+nostepnorm,off+vmap

A variant is SIDE[+PATCH...], SIDE one of ref, off, full, cadence (full recording with
norms_every = pcdiag.speed.settings.NORMS_EVERY); patches (monkeypatched while the
chunk compiles, so they are measurements, not options): `vmap` (a single run vmapped over a
run axis of one, as before `loop.over_runs`), `notnorm` (no per-t state-gradient norms),
`nostepnorm` (no per-step weight / gradient / update norms), `oldnorm` (per-step norms of
three trees made of the old weights, independent of the step's inference), `gscaled` (the
gradient norm from (2 g)^2 / 4, which XLA cannot merge with optax's g^2), and other XLA
options (`YNN_FUSIONS`, `XLA_OPTIONS`; on the reference too). Also prints, with --hlo, the
kernels in each while body of each variant's optimized HLO (a kernel costs microseconds on a
CPU, so their count is most of a small model's recording cost); --dump writes each
variant's optimized HLO, --trace a jax.profiler trace of one epoch of each (kernel times:
`trace_summary`).
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import glob
import gzip
import json
import os
import re
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np

import pcdiag.algorithms.infer as infer_mod
import pcdiag.algorithms.pc as pc_mod
import pcdiag.algorithms.record as record_mod
from pcdiag.algorithms import Program
from pcdiag.engine import compile_options, loop
from pcdiag.runs import load_device_data
from pcdiag.speed import MODELS, bench_config
from pcdiag.speed.programs import _one_run
from pcdiag.speed.reference import _epoch_fn, _start
from pcdiag.speed.settings import NORMS_EVERY

#: YNNPACK fusion sets a variant may compile with instead of pcdiag's (patch name: value)
YNN_FUSIONS = {"noynn": "", "dotonly": "LIBRARY_FUSION_TYPE_INDIVIDUAL_DOT",
               "ynndefault": "LIBRARY_FUSION_TYPE_INDIVIDUAL_DOT,"
                             "LIBRARY_FUSION_TYPE_INDIVIDUAL_CONVOLUTION,"
                             "LIBRARY_FUSION_TYPE_REDUCE"}

#: other XLA options a variant may add to pcdiag's (patch name: options; jaxlib 0.10.2 knows
#: no xla_cpu_use_multi_output_fusion or xla_cpu_use_thunk_runtime any more)
XLA_OPTIONS = {"concsched": {"xla_cpu_enable_concurrency_optimized_scheduler": True},
               "noconcsched": {"xla_cpu_enable_concurrency_optimized_scheduler": False},
               "noemit": {"xla_cpu_use_fusion_emitters": False}}


def norms_by(squares):
    """A stand-in for pcdiag.nets.base.layer_norms: `squares(layer)` gives the squared norm
    of each tree's layer (a layer: that layer of every tree), (n_trees,)."""
    def layer_norms(*trees):
        norms = jnp.stack([jnp.sqrt(squares(layer)) for layer in zip(*trees)], axis=-1)
        return norms[0] if len(trees) == 1 else norms

    return layer_norms


@contextlib.contextmanager
def patched(patches):
    saved = []

    def put(module, attr, value):
        saved.append((module, attr, getattr(module, attr)))
        setattr(module, attr, value)

    if "vmap" in patches:
        put(loop, "over_runs", lambda fn, in_axes, one_run: jax.vmap(fn, in_axes=in_axes))
    if "vdotnorm" in patches:  # per-step norms as BLAS dot products (jnp.vdot)
        put(record_mod, "layer_norms", norms_by(lambda layer: sum(
            jnp.stack([jnp.vdot(a, a) for a in position])
            for position in zip(*map(jax.tree_util.tree_leaves, layer)))))
    if "flatnorm" in patches:  # per layer, all leaves of all trees in one reduction
        def flat_squares(layer):
            flat = jnp.stack([jnp.concatenate([jnp.ravel(leaf) for leaf in
                                               jax.tree_util.tree_leaves(tree)])
                              for tree in layer])
            return jnp.sum(flat * flat, axis=1)

        put(record_mod, "layer_norms", norms_by(flat_squares))
    if "leafnorm" in patches:  # per leaf, all trees in one reduction
        def leaf_squares(layer):
            total = 0
            for position in zip(*map(jax.tree_util.tree_leaves, layer)):
                stacked = jnp.stack(position)
                total = total + jnp.sum(stacked * stacked, axis=tuple(range(1, stacked.ndim)))
            return total

        put(record_mod, "layer_norms", norms_by(leaf_squares))
    if "notnorm" in patches:
        measure = infer_mod.measure

        def no_norms(energy_sums, grads, batch, norms=True):
            out = measure(energy_sums, (), batch)
            return infer_mod.InferenceRecord(
                out.energy, jnp.full(energy_sums.shape, jnp.nan, energy_sums.dtype))

        put(infer_mod, "measure", no_norms)
        put(pc_mod, "measure", no_norms)
    options = dict(compile_options.compiler_options())
    for patch in patches:  # other XLA options than pcdiag's (compile_options)
        if patch in YNN_FUSIONS:
            options["xla_cpu_experimental_ynn_fusion_type"] = YNN_FUSIONS[patch]
        if patch in XLA_OPTIONS:
            options.update(XLA_OPTIONS[patch])
    if options != compile_options.compiler_options():
        put(compile_options, "compiler_options", lambda: options)
    if "oldnorm" in patches:  # per-step norms of three trees made of the old weights only
        # (independent of the step's inference: could they run beside it? no: see README)
        step_record = record_mod.step_record

        def old_norms(prog, energy, grad_norm, grads, new_params, change, old_params, *a,
                      **k):
            return step_record(prog, energy, grad_norm, old_params,
                               jax.tree_util.tree_map(lambda p: p * 2, old_params),
                               jax.tree_util.tree_map(lambda p: p + 1, old_params),
                               old_params, *a, **k)

        put(record_mod, "step_record", old_norms)
    if "gscaled" in patches:  # the gradient's squares as (2 g)^2 / 4: no CSE with optax's g^2
        norms = record_mod.layer_norms

        def scaled(grads, *trees):
            doubled = jax.tree_util.tree_map(lambda g: g * 2, grads)
            return norms(doubled, *trees) * jnp.array([0.5] + [1.0] * len(trees))[:, None]

        put(record_mod, "layer_norms", scaled)
    if "nostepnorm" in patches:
        put(record_mod, "layer_norms",
            lambda *trees: jnp.zeros((len(trees), len(trees[0])), jnp.float32))
    try:
        yield
    finally:
        for module, attr, value in reversed(saved):
            setattr(module, attr, value)


def kernels_per_loop(hlo: str) -> list[tuple[str, int]]:
    """(trip count, kernels) of each while body in an optimized HLO text."""
    comps, name = {}, None
    for line in hlo.splitlines():
        head = re.match(r"^(?:ENTRY )?%?([\w.\-]+) .*\{\s*$", line)
        if head:
            name = head.group(1)
            comps[name] = []
        elif name and line.startswith("  "):
            comps[name].append(line.strip())
    skip = ("parameter", "get-tuple-element", "tuple", "constant", "bitcast")
    out = []
    for lines in comps.values():
        for line in lines:
            if " while(" not in line:
                continue
            body = re.search(r"body=%?([\w.\-]+)", line).group(1)
            trip = re.search(r'"n":"(\d+)"', line)
            ops = collections.Counter(m.group(1) for b in comps[body]
                                      if (m := re.search(r"= \S+ (\w[\w\-]*)\(", b)))
            out.append((trip.group(1) if trip else "?",
                        sum(v for k, v in ops.items() if k not in skip)))
    return out


def trace_summary(directory: str) -> str:
    """Kernels run, their total time and the time of the busiest XLA thread, from the
    jax.profiler trace under `directory` (XLA's own threads only; while loops and the
    executor's spans not counted as kernels)."""
    path = sorted(glob.glob(os.path.join(directory, "plugins/profile/*/*.trace.json.gz")))[-1]
    with gzip.open(path) as f:
        events = json.load(f)["traceEvents"]
    threads = {(e["pid"], e.get("tid")): e["args"]["name"] for e in events
               if e.get("ph") == "M" and e.get("name") == "thread_name"}
    per_thread, count = collections.Counter(), 0
    for e in events:
        if (e.get("ph") == "X" and threads.get((e["pid"], e["tid"]), "").startswith("tf_XLA")
                and not e["name"].startswith(("ThunkExecutor", "while", "Slinky", "$",
                                              "end: "))):
            per_thread[e["tid"]] += e["dur"]
            count += 1
    return (f"{count} kernels, {sum(per_thread.values()) / 1e3:.1f} ms in kernels, "
            f"busiest thread {max(per_thread.values(), default=0) / 1e3:.1f} ms")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="mlp3-128")
    ap.add_argument("--variants", default="ref,off,full")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--train-limit", type=int, default=12800)
    ap.add_argument("--hlo", action="store_true")
    ap.add_argument("--trace", metavar="DIR", help="profile one epoch of each variant there")
    ap.add_argument("--dump", metavar="DIR", help="write each variant's optimized HLO there")
    a = ap.parse_args()
    model = next(m for m in MODELS if m.name == a.model)
    cfgs = {side: bench_config(model, full=side != "off", epochs=1, train_limit=a.train_limit,
                               test_limit=1000, data_dir=None, seed=0,
                               norms_every=NORMS_EVERY if side == "cadence" else 1)
            for side in ("full", "cadence", "off")}
    data = load_device_data(cfgs["full"])
    steps = data.n_train // cfgs["full"].batch_size

    def pcdiag_epoch(cfg, patches):
        with patched(patches):
            fns = loop.Compiled(Program.from_config(cfg))
            hyper, keys = _one_run(cfg)
            state = fns.init(hyper, keys)
            length, guarded = loop.chunk_length(steps, loop.chunk_unit(cfg), 1)
            order_fn = fns.order(state, data.n_train, steps, cfg.batch_size, max(steps, length))
            shape = jax.ShapeDtypeStruct((1, max(steps, length), cfg.batch_size), np.int32)
            chunk = fns.chunk(length, guarded, state, hyper, data, shape)
        start, n_valid = jax.device_put(np.int32(0)), jax.device_put(np.int32(steps))
        held = [state]

        def epoch():
            s, order = order_fn(held[0])
            s, records = chunk(s, hyper, data.x, data.y, order, start, n_valid)
            np.asarray(records)
            held[0] = jax.block_until_ready(s)

        return epoch, chunk.as_text()

    def reference_epoch(cfg, patches):
        params, key, net = _start(cfg, data)
        with patched(patches):
            fn, opt = _epoch_fn(cfg, data, net)
            opt_state = opt.init(params)
            compiled = fn.lower(params, opt_state, key, data.x, data.y).compile()
        held = [(params, opt_state, key)]

        def epoch():
            p, o, k, sums = compiled(*held[0], data.x, data.y)
            np.asarray(sums)
            held[0] = (p, o, k)

        return epoch, compiled.as_text()

    runners = {}
    for v in a.variants.split(","):
        side, *patches = v.split("+")
        runners[v] = (reference_epoch(cfgs["full"], patches) if side == "ref"
                      else pcdiag_epoch(cfgs[side], patches))
        if a.dump:
            os.makedirs(a.dump, exist_ok=True)
            with open(os.path.join(a.dump, f"{v}.hlo.txt"), "w") as f:
                f.write(runners[v][1])
        if a.hlo:
            print(f"{v}: kernels per while body (trip, kernels): "
                  f"{kernels_per_loop(runners[v][1])}")
    wall = {k: [] for k in runners}
    cpu = {k: [] for k in runners}
    for epoch, _ in runners.values():
        epoch()
    loads = []
    for _ in range(a.rounds):
        loads.append(os.getloadavg()[0])
        for k, (epoch, _) in runners.items():
            c, t = time.process_time(), time.perf_counter()
            epoch()
            wall[k].append(time.perf_counter() - t)
            cpu[k].append(time.process_time() - c)
    if a.trace:
        for k, (epoch, _) in runners.items():
            directory = os.path.join(a.trace, k.replace("+", "_"))
            with jax.profiler.trace(directory):
                epoch()
            print(f"{k:24} traced epoch: {trace_summary(directory)}")
    first = next(iter(runners))
    print(f"{a.model}: {steps} steps an epoch, {a.rounds} rounds, 1-min load "
          f"{min(loads):.2f}-{max(loads):.2f}")
    for k in runners:
        speed = statistics.median([wall[first][i] / wall[k][i] for i in range(a.rounds)])
        cspeed = statistics.median([cpu[first][i] / cpu[k][i] for i in range(a.rounds)])
        print(f"{k:24} wall median {statistics.median(wall[k]) * 1e3:8.1f} ms, best "
              f"{min(wall[k]) * 1e3:8.1f}, speed / {first} {speed:.3f} | CPU median "
              f"{statistics.median(cpu[k]) * 1e3:8.1f} ms, speed / {first} {cspeed:.3f}")


if __name__ == "__main__":
    main()
