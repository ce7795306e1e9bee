"""Benchmark pcdiag against PCX 0.6.3: throughput, compile time, FLOP/s, sweeps, energies.

    pcdiag bench [--quick] [--no-pcx] [--out bench-out/bench.json] [--models mlp3-128,...]

In one process, on one machine, with the same Fashion-MNIST arrays (pcdiag.data.load, so
``$PCDIAG_DATA`` or ``--data-dir``), the same models and the same hyperparameters (hard_tanh,
cross-entropy output, per-sample SGD on states with gamma 0.1, AdamW on weights with lr 1e-3
and weight_decay 0, batch 128) it measures and prints:

- training throughput (samples/s, the median over the epochs after the first; compile time
  reported apart) of pcdiag with full recording (``log_every=1, record_inference=True``),
  pcdiag with recording off (``record_inference=False`` and ``log_every`` = steps per epoch:
  the per-step quantities -- weight norms, loss -- are still recorded, on the first step of
  each epoch, and the per-t quantities never), and PCX 0.6.3 (benchmarks/pcx/pcx_mlp.py, run
  in its own virtual environment, made on first use);
- an 8-gamma sweep: one vectorised ``pcdiag.sweep`` against 8 ``pcdiag.train`` calls, one
  epoch each, compile included;
- achieved matmul GFLOP/s: the matmul FLOPs of pcdiag's compiled training chunk, counted from
  its optimized HLO (dot ops, loop bodies times their trip counts), over the measured time,
  against a large f32 matmul timed in the same run;
- that pcdiag and PCX compute the same thing: per-layer energies at t = 0 and t = T from the
  same initial weights and batch.

Each target is printed with PASS or FAIL; ``--out`` gets every number as JSON.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

PCX_VERSION = "0.6.3"
REPO = Path(__file__).resolve().parents[1]
PCX_DIR = REPO / "benchmarks" / "pcx"
PCX_SCRIPT = PCX_DIR / "pcx_mlp.py"
PCX_REQUIREMENTS = PCX_DIR / "requirements-pcx.txt"
DEFAULT_PCX_VENV = PCX_DIR / ".venv"
PCX_VENV_ENV = "PCDIAG_PCX_VENV"

BATCH = 128
GAMMA = 0.1
WEIGHT_LR = 1e-3
SWEEP_GAMMAS = (0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5)
#: Energy agreement: |pcdiag - pcx| <= ATOL + RTOL * |pcx|, per layer, at every t.
ENERGY_ATOL, ENERGY_RTOL = 1e-5, 1e-4


@dataclass(frozen=True)
class Model:
    """One benchmark network: depth weight layers of `width` hidden units, T inference steps."""

    name: str
    depth: int
    width: int
    T: int

    @property
    def sizes(self) -> list[int]:
        return [784] + [self.width] * (self.depth - 1) + [10]


MODELS = (
    Model("mlp3-128", depth=3, width=128, T=8),
    Model("mlp3-1024", depth=3, width=1024, T=8),
    Model("mlp21-128", depth=21, width=128, T=20),
)


@dataclass(frozen=True)
class Target:
    name: str
    minimum: float  # the measured ratio must be >= minimum
    what: str


TARGETS = {
    "speed_vs_pcx:mlp3-128": Target("speed_vs_pcx:mlp3-128", 1.5,
                                    "pcdiag (full recording) / PCX samples/s, [784,128,128,10]"),
    "speed_vs_pcx:mlp3-1024": Target("speed_vs_pcx:mlp3-1024", 1.5,
                                     "pcdiag (full recording) / PCX samples/s, [784,1024,1024,10]"),
    "speed_vs_pcx:mlp21-128": Target("speed_vs_pcx:mlp21-128", 1.2,
                                     "pcdiag (full recording) / PCX samples/s, depth 21"),
    "matmul_efficiency:mlp3-1024": Target("matmul_efficiency:mlp3-1024", 0.8,
                                          "achieved matmul FLOP/s / large-matmul FLOP/s, "
                                          "[784,1024,1024,10], full recording"),
    "sweep_speedup": Target("sweep_speedup", 2.0,
                            "8 sequential pcdiag.train / one 8-gamma pcdiag.sweep, wall time"),
}
#: Recording on may cost at most this fraction of throughput against recording off.
RECORDING_COST_MAX = 0.05


@dataclass
class Settings:
    """What one bench run does (from the command line)."""

    quick: bool = False
    pcx: bool = True
    models: tuple[str, ...] = tuple(m.name for m in MODELS)
    epochs: int = 4
    train_limit: int | None = None
    test_limit: int | None = None
    sweep_train_limit: int | None = None
    sweep: bool = True
    data_dir: str | None = None
    pcx_venv: str | None = None
    matmul_size: int = 2048
    seed: int = 0
    out: str | None = "bench-out/bench.json"
    train_limits: dict[str, int | None] = field(default_factory=dict)


QUICK = {
    # model -> training examples per epoch in --quick (whole batches of 128)
    "mlp3-128": 128 * 60,
    "mlp3-1024": 128 * 12,
    "mlp21-128": 128 * 12,
    # --quick runs these unless --models says otherwise (PCX alone takes minutes to compile
    # the depth-21, T=20 model on a 2-core CPU)
    "models": ("mlp3-128", "mlp3-1024"),
    "epochs": 3,
    "sweep_train_limit": 128 * 60,
    "test_limit": 1000,
}


# ---------------------------------------------------------------------------------------------
# command line


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Add the bench options to `parser` (the `pcdiag bench` subcommand)."""
    names = ", ".join(m.name for m in MODELS)
    parser.add_argument("--quick", action="store_true",
                        help="a short run (< 5 min on 2 CPU cores): the two 3-layer models, 3 "
                        "epochs of a data subset each, the sweep on a subset; every column "
                        "still measured")
    parser.add_argument("--no-pcx", dest="pcx", action="store_false",
                        help="skip PCX (its venv, throughput and the energy comparison)")
    parser.add_argument("--out", default="bench-out/bench.json", metavar="PATH",
                        help="write all numbers as JSON here (default: bench-out/bench.json; "
                        "'-' for none)")
    parser.add_argument("--models", default=None, metavar="LIST",
                        help=f"comma-separated subset of: {names} (default: all)")
    parser.add_argument("--epochs", type=int, default=None,
                        help="epochs per throughput run, the first is warm-up (default 4; "
                        "quick: 3)")
    parser.add_argument("--train-limit", type=int, default=None, metavar="N",
                        help="training examples per epoch for every model (default: all "
                        "60000; quick: a subset per model)")
    parser.add_argument("--no-sweep", dest="sweep", action="store_false",
                        help="skip the 8-gamma sweep comparison")
    parser.add_argument("--data-dir", default=None, metavar="DIR",
                        help="folder holding fashion-mnist/ (default: $PCDIAG_DATA, the cache...)")
    parser.add_argument("--pcx-venv", default=None, metavar="DIR",
                        help=f"PCX {PCX_VERSION} virtual environment, made there if missing "
                        f"(default: ${PCX_VENV_ENV}, else {DEFAULT_PCX_VENV})")
    parser.add_argument("--matmul-size", type=int, default=2048, metavar="N",
                        help="size of the square f32 matmul that sets the FLOP/s reference")
    parser.add_argument("--seed", type=int, default=0)


def settings_from_args(args: argparse.Namespace) -> Settings:
    known = {m.name for m in MODELS}
    models = tuple(m.name for m in MODELS)
    if args.models:
        models = tuple(s.strip() for s in args.models.split(",") if s.strip())
        unknown = [m for m in models if m not in known]
        if unknown:
            raise ValueError(f"--models: unknown model(s) {', '.join(unknown)}; "
                             f"choose from {', '.join(sorted(known))}")
    s = Settings(quick=args.quick, pcx=args.pcx, models=models, sweep=args.sweep,
                 data_dir=args.data_dir, pcx_venv=args.pcx_venv,
                 matmul_size=args.matmul_size, seed=args.seed,
                 out=None if args.out in (None, "-") else args.out)
    if args.quick:
        if not args.models:
            s.models = models = QUICK["models"]
        s.epochs = QUICK["epochs"]
        s.test_limit = QUICK["test_limit"]
        if _backend() == "cpu":  # an accelerator runs full epochs in well under a second
            s.train_limits = {m: QUICK[m] for m in models}
            s.sweep_train_limit = QUICK["sweep_train_limit"]
    if args.epochs is not None:
        if args.epochs < 2:
            raise ValueError("--epochs must be >= 2: the first epoch is warm-up")
        s.epochs = args.epochs
    if args.train_limit is not None:
        s.train_limits = {m: args.train_limit for m in models}
        s.sweep_train_limit = args.train_limit
    return s


def _backend() -> str:
    import jax

    return jax.default_backend()


def run_cli(args: argparse.Namespace) -> int:
    """Run the benchmark; print the table and targets; write JSON. 0 unless it broke."""
    try:
        settings = settings_from_args(args)
    except ValueError as err:
        print(f"pcdiag bench: error: {err}", file=sys.stderr)
        return 2
    result = run_bench(settings)
    print()
    print(format_report(result))
    if settings.out:
        out = Path(settings.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=1, default=_json_default) + "\n")
        print(f"\nwrote {out}")
    return 0


def _json_default(value):
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)


def _say(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# FLOP counting from optimized HLO


_SHAPE = re.compile(r"([a-z]+[0-9]*)\[([0-9,]*)\]")
_COMPUTATION = re.compile(r"^(?:ENTRY\s+)?%([^\s(]+)\s*\(")
_INSTRUCTION = re.compile(r"^\s+(?:ROOT\s+)?%([^\s=]+)\s*=\s*(.*)$")
_CALLEES = re.compile(
    r"\b(calls|to_apply|body|condition|true_computation|false_computation)=%([^\s,)}]+)"
)
_CALLEE_LISTS = re.compile(r"\b(branch_computations|called_computations)=\{([^}]*)\}")
_TRIP = re.compile(r'"known_trip_count"\s*:\s*\{\s*"n"\s*:\s*"?(\d+)')
_DIMS = re.compile(r"\b(lhs_contracting_dims|lhs_batch_dims)=\{([0-9,]*)\}")
_GEMM_DIMS = re.compile(r'"lhs_contracting_dimensions"\s*:\s*\[([^\]]*)\]')


@dataclass
class HloFlops:
    """Matmul FLOPs of a compiled program, from its optimized HLO text."""

    flops: float  # 2 * prod(output) * prod(contracted) per dot, times how often it runs
    dots: int  # dot-like instructions in the text (each counted once)
    loops: int  # while loops
    unknown_trip_counts: int  # while loops without a known trip count (counted once)


def _split_type(rest: str) -> tuple[str, str]:
    """'(f32[2], s32[]) while(...)' -> ('(f32[2], s32[])', 'while(...)'); also plain types."""
    rest = rest.strip()
    if rest.startswith("("):
        depth = 0
        for i, ch in enumerate(rest):
            depth += ch == "("
            depth -= ch == ")"
            if depth == 0:
                return rest[: i + 1], rest[i + 1:].strip()
    head, _, tail = rest.partition(" ")
    return head, tail.strip()


def _dims(type_text: str) -> list[int] | None:
    match = _SHAPE.search(type_text)
    if match is None:
        return None
    return [int(d) for d in match.group(2).split(",") if d]


def _operands(op_text: str) -> list[str]:
    """Top-level operand texts of 'opcode(a, b), attrs'."""
    start = op_text.find("(")
    depth, current, out = 0, [], []
    for ch in op_text[start + 1:]:
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            if depth == 0:
                break
            depth -= 1
        if ch == "," and depth == 0:
            out.append("".join(current).strip())
            current = []
        else:
            current.append(ch)
    if current:
        out.append("".join(current).strip())
    return out


def count_hlo_flops(hlo_text: str) -> HloFlops:
    """Matmul FLOPs of an optimized HLO module, following calls, fusions and loops.

    A ``dot`` (or a cuBLAS / oneDNN GEMM custom-call) costs 2 * prod(output dims) *
    prod(lhs contracting dims). A computation costs its own dots plus its callees': a while
    body times its ``known_trip_count``, a conditional its most expensive branch, anything
    else (fusion, call, map) once. XLA's own ``cost_analysis()`` counts a loop body once,
    which is why it is not used.
    """
    shapes: dict[str, str] = {}
    bodies: dict[str, list[tuple[str, str, str]]] = {}  # comp -> [(name, type, op_text)]
    entry, current = None, None
    for line in hlo_text.splitlines():
        comp = _COMPUTATION.match(line)
        if comp and not line.startswith(" "):
            current = comp.group(1)
            bodies[current] = []
            if line.startswith("ENTRY"):
                entry = current
            # parameters declared in the header: name: type
            for name, type_text in re.findall(r"([\w.\-]+):\s*([a-z]+[0-9]*\[[0-9,]*\])",
                                              line.split("->")[0]):
                shapes.setdefault(name, type_text)
            continue
        inst = _INSTRUCTION.match(line)
        if inst and current is not None:
            type_text, op_text = _split_type(inst.group(2))
            shapes[inst.group(1)] = type_text
            bodies[current].append((inst.group(1), type_text, op_text))
    if entry is None:
        raise ValueError("no ENTRY computation in the HLO text")

    def operand_dims(text: str) -> list[int] | None:
        dims = _dims(text.split("%")[0]) if "[" in text.split("%")[0] else None
        if dims is not None:
            return dims
        name = text.split("%")[-1].strip()
        return _dims(shapes.get(name, ""))

    dots = loops = unknown = 0
    memo: dict[str, float] = {}

    def own_flops(type_text: str, op_text: str) -> float | None:
        nonlocal dots
        opcode = op_text.split("(")[0].strip()
        if opcode == "dot":
            attrs = dict(_DIMS.findall(op_text))
            contracting = [int(d) for d in attrs.get("lhs_contracting_dims", "").split(",") if d]
            lhs = operand_dims(_operands(op_text)[0])
        elif opcode == "custom-call" and re.search(r"gemm|matmul", op_text, re.I):
            found = _GEMM_DIMS.search(op_text)
            if found is None:
                return None
            contracting = [int(d.strip(' "')) for d in found.group(1).split(",") if d.strip()]
            lhs = operand_dims(_operands(op_text)[0])
        else:
            return None
        out = _dims(type_text)
        if lhs is None or out is None:
            return None
        dots += 1
        return 2.0 * math.prod(out) * math.prod(lhs[d] for d in contracting)

    def total(comp: str) -> float:
        nonlocal loops, unknown
        if comp in memo:
            return memo[comp]
        memo[comp] = 0.0  # guards against cycles
        flops = 0.0
        for _, type_text, op_text in bodies.get(comp, []):
            own = own_flops(type_text, op_text)
            if own is not None:
                flops += own
            opcode = op_text.split("(")[0].strip()
            callees = dict(_CALLEES.findall(op_text))
            lists = [
                [c.strip().lstrip("%") for c in group.split(",") if c.strip()]
                for _, group in _CALLEE_LISTS.findall(op_text)
            ]
            if opcode == "while":
                loops += 1
                trip = _TRIP.search(op_text)
                if trip is None:
                    unknown += 1
                n = int(trip.group(1)) if trip else 1
                flops += n * total(callees["body"])
            elif opcode == "conditional":
                branches = [c for group in lists for c in group] or [
                    callees[k] for k in ("true_computation", "false_computation") if k in callees
                ]
                flops += max((total(b) for b in branches), default=0.0)
            else:
                for key, callee in callees.items():
                    if key != "condition":
                        flops += total(callee)
                for group in lists:
                    flops += sum(total(c) for c in group)
        memo[comp] = flops
        return flops

    flops = total(entry)
    return HloFlops(flops, dots, loops, unknown)


def pc_step_flops(sizes: list[int], batch: int, T: int) -> float:
    """Hand count of one pc training step's matmul FLOPs (no recomputation shared).

    Forward initialisation (every layer once); T inference steps, each predicting layers
    2..L from the free states and back-propagating to them (2 matmuls per layer 2..L); the
    weight step: forward through all L layers, dW for all L, and dx for layers 2..L.
    """
    mm = [2.0 * batch * a * b for a, b in zip(sizes[:-1], sizes[1:])]
    first, rest = mm[0], sum(mm[1:])
    return (first + rest) + T * 2 * rest + (first + rest) * 2 + rest


# ---------------------------------------------------------------------------------------------
# pieces that need jax


def device_info() -> dict[str, Any]:
    import jax

    dev = jax.devices()[0]
    info = {
        "jax": jax.__version__,
        "platform": dev.platform,
        "device": str(dev),
        "device_kind": getattr(dev, "device_kind", None),
        "devices": [str(d) for d in jax.devices()],
        "python": platform.python_version(),
        "machine": platform.machine(),
        "processor": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "loadavg_start": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "hostname": platform.node(),
        # a persistent compilation cache would make the "compile included" numbers warm
        "compilation_cache_dir": jax.config.jax_compilation_cache_dir,
        "xla_flags": os.environ.get("XLA_FLAGS"),
    }
    return info


def _cpu_model() -> str | None:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def matmul_throughput(n: int = 2048, rounds: int = 5, budget_s: float = 0.5) -> dict[str, Any]:
    """Median GFLOP/s of a jitted n x n f32 matmul on random data (rounds of back-to-back calls)."""
    import jax
    import jax.numpy as jnp

    ka, kb = jax.random.split(jax.random.PRNGKey(1))
    a = jax.random.normal(ka, (n, n), jnp.float32)
    b = jax.random.normal(kb, (n, n), jnp.float32)
    f = jax.jit(jnp.matmul)
    f(a, b).block_until_ready()
    start = time.perf_counter()
    f(a, b).block_until_ready()
    one = max(time.perf_counter() - start, 1e-6)
    reps = max(1, min(1000, int(budget_s / one)))
    rates = []
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(reps):
            c = f(a, b)
        c.block_until_ready()
        rates.append(2.0 * n**3 * reps / (time.perf_counter() - start) / 1e9)
    return {"n": n, "reps_per_round": reps, "gflops_rounds": rates,
            "gflops": statistics.median(rates)}


def bench_config(model: Model, *, full: bool, epochs: int, train_limit: int | None,
                 test_limit: int | None, data_dir: str | None, seed: int):
    """The pcdiag Config of a benchmark run (full recording or recording off)."""
    from pcdiag import Config

    cfg = Config(
        depth=model.depth, width=model.width, inference_steps=model.T, batch_size=BATCH,
        activation="hard_tanh", output_energy="ce", algorithm="pc",
        gamma=GAMMA, gamma_convention="per_sample", state_optimizer="sgd",
        weight_optimizer="adamw", weight_lr=WEIGHT_LR, weight_decay=0.0,
        epochs=epochs, train_limit=train_limit, test_limit=test_limit, data_dir=data_dir,
        seed=seed, log_every=1, record_inference=True,
    )
    if not full:  # per-t records off; per-step records only on each epoch's first step
        cfg = cfg.replace(record_inference=False, log_every=cfg.steps_per_epoch)
    return cfg


def _program_fns(cfg):
    from pcdiag import loop
    from pcdiag.train import Program

    prog = Program.from_config(cfg)
    return prog, loop.compiled(prog)


def _one_run(cfg):
    """(hyper, keys) of a single run, as pcdiag.train builds them."""
    import jax

    from pcdiag.train import Hyper

    hyper = jax.tree_util.tree_map(lambda a: a[None], Hyper.from_config(cfg))
    return hyper, jax.random.PRNGKey(cfg.seed)[None]


def _shuffle(fns, state, n_train: int, steps: int, batch: int):
    """The loop's epoch order: (state, order (runs, steps, batch))."""
    return fns.order(state, n_train, steps, batch, steps)(state)


def _chunk_call(fns, state, hyper, data, order, n_valid: int):
    """Call the loop's compiled chunk on `order` (runs, length, batch) from its first step."""
    chunk = fns.chunk(order.shape[1], False, state, hyper, data, order)
    return chunk(state, hyper, data.x, data.y, order, np.int32(0), np.int32(n_valid))


def eval_time(cfg, data, repeats: int = 3) -> float:
    """Seconds of one end-of-epoch evaluation (feedforward accuracy on train and test sets).

    pcdiag's Timing.train_s includes it, PCX's epoch times do not; its cost does not depend
    on the weights, so it is timed here on the initial ones and subtracted from each epoch.
    """
    import jax

    _, fns = _program_fns(cfg)
    hyper, keys = _one_run(cfg)
    params = fns.init(hyper, keys).params
    fn = fns.executable("correct", params, data.x, data.y)
    jax.block_until_ready(fn(params, data.x, data.y))
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(fn(params, data.x, data.y))
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def time_pcdiag(cfg, data) -> dict[str, Any]:
    """Train with pcdiag.train; per-epoch training time without the accuracy evaluation.

    The loop's Timing.train_s includes the end-of-epoch feedforward accuracy (train and test
    sets); PCX's epoch times do not. Where Timing has no separate `eval_s`, the evaluation
    is timed apart (:func:`eval_time`) and subtracted. Compile time: Timing.compile_s plus
    what epoch 1 took beyond a steady epoch (the same definition holds whether the loop
    compiles ahead of time or on its first call).
    """
    import pcdiag

    wall = time.perf_counter()
    ds = pcdiag.train(cfg, data=data)
    wall = time.perf_counter() - wall
    timing = pcdiag.train.last_timing
    if getattr(timing, "eval_s", None):
        evals, basis = list(timing.eval_s), "Timing.train_s - Timing.eval_s"
    else:
        evals = [eval_time(cfg, data)] * len(timing.train_s)
        basis = "Timing.train_s - a separately timed evaluation"
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
        "timing_basis": basis,
        "compile_s": timing.compile_s + timing.train_s[0] - statistics.median(timing.train_s[1:]),
        "loop_compile_s": timing.compile_s,
        "wall_s": wall,
        "steps_per_epoch": steps,
        "log_every": cfg.log_every,
        "record_inference": cfg.record_inference,
        "test_accuracy": float(ds.test_accuracy.values[-1]),
    }


def chunk_flops(cfg, data) -> dict[str, Any]:
    """Matmul FLOPs per training step of pcdiag's compiled chunk (HLO count, hand count)."""

    from pcdiag.loop import chunk_length

    prog, fns = _program_fns(cfg)
    hyper, keys = _one_run(cfg)
    steps = data.n_train // cfg.batch_size
    length, _ = chunk_length(steps, cfg.log_every)
    state, order = _shuffle(fns, fns.init(hyper, keys), data.n_train, steps, cfg.batch_size)
    compiled = fns.chunk(length, False, state, hyper, data, order[:, :length])
    counted = count_hlo_flops(compiled.as_text())
    try:
        cost = compiled.cost_analysis()
        cost = cost[0] if isinstance(cost, (list, tuple)) else cost
        xla_flops = float(cost.get("flops", float("nan")))
    except Exception:  # not every backend has it
        xla_flops = float("nan")
    hand = pc_step_flops(list(prog.sizes), cfg.batch_size, cfg.inference_steps)
    return {
        "hlo_flops_per_step": counted.flops / length,
        "hand_flops_per_step": hand,
        "hlo_over_hand": counted.flops / length / hand,
        "xla_cost_analysis_flops_per_step": xla_flops / length,
        "hlo_dots": counted.dots,
        "hlo_loops": counted.loops,
        "hlo_unknown_trip_counts": counted.unknown_trip_counts,
        "chunk_steps": length,
    }


def pcdiag_energies(cfg, data) -> tuple[np.ndarray, list[np.ndarray]]:
    """Energies (T+1, L) of pcdiag's first training step on the first batch; its init params.

    Uses the run's own compiled chunk (full recording) with an order whose first step is
    rows 0..B-1 of the training set (the rest of the chunk is skipped).
    """
    import jax
    import jax.numpy as jnp

    from pcdiag.loop import chunk_length, unpack

    _, fns = _program_fns(cfg)
    hyper, keys = _one_run(cfg)
    state = fns.init(hyper, keys)
    params = [np.asarray(a[0]) for a in jax.tree_util.tree_leaves(state.params)]
    steps = data.n_train // cfg.batch_size
    length, _ = chunk_length(steps, cfg.log_every)
    state, order0 = _shuffle(fns, state, data.n_train, steps, cfg.batch_size)
    order = jnp.broadcast_to(jnp.arange(cfg.batch_size, dtype=order0.dtype),
                             (1, length, cfg.batch_size))
    _, packed = _chunk_call(fns, state, hyper, data, order, 1)
    return unpack(np.asarray(packed), fns.layout).energy[0, 0], params


def save_pcx_weights(params: list[np.ndarray], path: Path) -> None:
    """pcdiag W_l is (in, out) with mu = f(x @ W + b); the PCX npz wants (out, in)."""
    arrays = {}
    for i in range(len(params) // 2):
        arrays[f"W{i + 1}"] = np.ascontiguousarray(params[2 * i].T)
        arrays[f"b{i + 1}"] = params[2 * i + 1]
    np.savez(path, **arrays)


def compare_energies(ours: np.ndarray, theirs: np.ndarray) -> dict[str, Any]:
    ours, theirs = np.asarray(ours, np.float64), np.asarray(theirs, np.float64)
    if ours.shape != theirs.shape:
        return {"ok": False, "why": f"shapes differ: pcdiag {ours.shape}, pcx {theirs.shape}"}
    diff = np.abs(ours - theirs)
    ok = bool(np.all(diff <= ENERGY_ATOL + ENERGY_RTOL * np.abs(theirs)))
    rel = diff / np.maximum(np.abs(theirs), 1e-12)
    return {
        "ok": ok,
        "max_abs_diff": float(diff.max()),
        "max_rel_diff_nonzero": float(rel[np.abs(theirs) > 1e-8].max(initial=0.0)),
        "max_abs_diff_t0": float(diff[0].max()),
        "max_abs_diff_T": float(diff[-1].max()),
        "pcdiag_t0": ours[0].tolist(),
        "pcdiag_T": ours[-1].tolist(),
        "pcx_t0": theirs[0].tolist(),
        "pcx_T": theirs[-1].tolist(),
        "tolerance": f"|diff| <= {ENERGY_ATOL} + {ENERGY_RTOL} * |pcx|",
    }


def warm_up(base, data) -> None:
    """Train a tiny network once, so that what a process pays once (backend start, BLAS
    handles, the first compiles' set-up) is paid before either side of a comparison."""
    import pcdiag

    pcdiag.train(base.replace(depth=2, width=8, inference_steps=1, log_every=1), data=data)


def sweep_side(side: str, config: dict, gammas: list[float]) -> dict[str, Any]:
    """One side of the sweep comparison, in a fresh process (see :func:`time_sweep`): the data
    loaded and a tiny warm-up run first (not timed), then the side cold (compile included)
    and once more warm (everything compiled)."""
    import pcdiag
    from pcdiag.config import Config
    from pcdiag.run import load_device_data

    base = Config(**config)
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
        code = ("import json, sys; from pcdiag.bench import sweep_side; "
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


# ---------------------------------------------------------------------------------------------
# PCX


def pcx_venv_recipe(venv: Path, python: str | None = None) -> list[list[str]]:
    """The commands that make the PCX venv (see benchmarks/pcx/README.md)."""
    py = python or sys.executable
    vpy = str(Path(venv) / "bin" / "python")
    return [
        [py, "-m", "venv", str(venv)],
        [vpy, "-m", "pip", "install", "--upgrade", "pip"],
        [vpy, "-m", "pip", "install", "-r", str(PCX_REQUIREMENTS)],
    ]


def resolve_pcx_venv(option: str | None) -> Path:
    return Path(option or os.environ.get(PCX_VENV_ENV) or DEFAULT_PCX_VENV).expanduser()


def ensure_pcx(venv: Path) -> tuple[str | None, str]:
    """(python of a working PCX venv, how it was found) or (None, why it is unavailable)."""
    if not PCX_SCRIPT.is_file():
        return None, f"the PCX harness {PCX_SCRIPT} is missing (pcdiag not run from a checkout)"
    python = Path(venv) / "bin" / "python"
    probe = [str(python), "-c", "import pcx, jax; from importlib.metadata import version; "
             "print(version('pcx'), jax.__version__)"]
    how = f"existing venv {venv}"
    if not python.exists():
        if sys.version_info < (3, 11):
            return None, (f"cannot make the PCX venv: the pinned numpy needs Python >= 3.11, "
                          f"this is {platform.python_version()}")
        _say(f"PCX venv {venv} is missing: making it (python -m venv + pip install -r "
             f"{PCX_REQUIREMENTS.relative_to(REPO)}); this happens once")
        for cmd in pcx_venv_recipe(venv):
            try:
                done = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
            except (OSError, subprocess.TimeoutExpired) as err:
                return None, f"making the PCX venv failed at {' '.join(cmd)}: {err}"
            if done.returncode != 0:
                tail = " ".join((done.stderr or done.stdout).split()[-40:])
                return None, f"making the PCX venv failed at {' '.join(cmd)}: {tail}"
        how = f"made venv {venv} from {PCX_REQUIREMENTS.name}"
    try:
        done = subprocess.run(probe, capture_output=True, text=True, timeout=300)
    except (OSError, subprocess.TimeoutExpired) as err:
        return None, f"the PCX venv {venv} does not run: {err}"
    if done.returncode != 0:
        return None, f"the PCX venv {venv} cannot import pcx: {done.stderr.strip()[-300:]}"
    versions = done.stdout.split()
    if versions[:1] != [PCX_VERSION]:
        return None, f"the venv {venv} has pcx {versions[:1]}, the benchmark pins {PCX_VERSION}"
    return str(python), f"{how} (pcx {versions[0]}, jax {versions[1]})"


def run_pcx(python: str, spec: dict, workdir: Path, timeout: float = 3600) -> dict[str, Any]:
    """One PCX harness process; its JSON line, or {"error": why}."""
    spec_path = workdir / f"pcx_spec_{spec['name']}.json"
    spec_path.write_text(json.dumps(spec))
    start = time.perf_counter()
    try:
        done = subprocess.run([python, str(PCX_SCRIPT), str(spec_path)], capture_output=True,
                              text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s"}
    wall = time.perf_counter() - start
    lines = [ln for ln in done.stdout.splitlines() if ln.startswith("{")]
    if done.returncode != 0 or not lines:
        return {"error": f"exit {done.returncode}: {done.stderr.strip()[-500:]}"}
    out = json.loads(lines[-1])
    out["process_wall_s"] = wall
    return out


# ---------------------------------------------------------------------------------------------
# the whole run


def run_bench(s: Settings) -> dict[str, Any]:
    """Everything the bench measures, as one JSON-able dict (see the module docstring)."""
    from pcdiag import data as data_module
    from pcdiag.run import load_device_data

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
    _say(f"jax {dev['jax']} on {dev['device']} ({dev['device_kind']}), "
         f"{dev['cpu_count']} CPUs, load {dev['loadavg_start']}")

    pcx_python, pcx_note = None, "skipped (--no-pcx)"
    if s.pcx:
        pcx_python, pcx_note = ensure_pcx(resolve_pcx_venv(s.pcx_venv))
        _say(f"PCX: {pcx_note}" if pcx_python else f"PCX unavailable: {pcx_note}")
    result["pcx"] = {"available": pcx_python is not None, "note": pcx_note}

    workdir = Path(tempfile.mkdtemp(prefix="pcdiag-bench-"))
    try:
        for name in s.models:
            model = next(m for m in MODELS if m.name == name)
            result["models"][name] = bench_model(model, s, pcx_python, workdir,
                                                 data_module, load_device_data)
        if s.sweep:
            _say("sweep: 8 gammas vectorised vs 8 runs one after another")
            base = bench_config(MODELS[0], full=True, epochs=1, train_limit=s.sweep_train_limit,
                                test_limit=s.test_limit, data_dir=s.data_dir, seed=s.seed)
            result["sweep"] = time_sweep(base, SWEEP_GAMMAS)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    dev["loadavg_end"] = list(os.getloadavg()) if hasattr(os, "getloadavg") else None
    result["targets"] = evaluate_targets(result)
    return result


def bench_model(model: Model, s: Settings, pcx_python, workdir, data_module,
                load_device_data) -> dict[str, Any]:
    train_limit = s.train_limits.get(model.name)
    full = bench_config(model, full=True, epochs=s.epochs, train_limit=train_limit,
                        test_limit=s.test_limit, data_dir=s.data_dir, seed=s.seed)
    off = bench_config(model, full=False, epochs=s.epochs, train_limit=train_limit,
                       test_limit=s.test_limit, data_dir=s.data_dir, seed=s.seed)
    out: dict[str, Any] = {"sizes": model.sizes, "batch_size": BATCH, "T": model.T,
                           "epochs": s.epochs, "train_examples": full.n_train,
                           "steps_per_epoch": full.steps_per_epoch}
    _say(f"{model.name} {model.sizes} T={model.T}: {full.steps_per_epoch} batches/epoch, "
         f"{s.epochs} epochs")
    data = load_device_data(full)

    # timings first, so that each pays its own compilation; the checks reuse the programs
    out["matmul"] = matmul_throughput(s.matmul_size)
    _say(f"{model.name}: matmul reference {out['matmul']['gflops']:.1f} GFLOP/s")
    for label, cfg in (("pcdiag_full", full), ("pcdiag_off", off)):
        _say(f"{model.name}: {label} (log_every={cfg.log_every}, "
             f"record_inference={cfg.record_inference})")
        out[label] = time_pcdiag(cfg, data)
        _say(f"{model.name}: {label} {out[label]['samples_per_s']:.0f} samples/s, "
             f"compile {out[label]['compile_s']:.1f} s")

    energies, params = pcdiag_energies(full, data)
    out["pcdiag_energies"] = energies.tolist()
    pcx = None
    if pcx_python:
        npz = workdir / f"fmnist_{full.n_train}_{s.test_limit}.npz"
        if not npz.exists():
            train, test = data_module.load("fashion-mnist", s.data_dir, train_limit,
                                           s.test_limit)
            np.savez(npz, x_train=train.images, y_train=train.labels, x_test=test.images,
                     y_test=test.labels)
        weights = workdir / f"w_{model.name}.npz"
        save_pcx_weights(params, weights)
        spec = {"name": model.name, "sizes": model.sizes, "batch_size": BATCH, "T": model.T,
                "gamma": GAMMA, "weight_lr": WEIGHT_LR, "weight_decay": 0.0,
                "epochs": s.epochs, "data": str(npz), "init_weights": str(weights),
                "check_energies": True, "seed": s.seed}
        _say(f"{model.name}: PCX ({s.epochs} epochs, energy check from pcdiag's init)")
        pcx = run_pcx(pcx_python, spec, workdir)
        if "error" in pcx:
            _say(f"{model.name}: PCX failed: {pcx['error']}")
        else:
            out["energy_check"] = compare_energies(energies, np.asarray(pcx["energies_traj"]))
            _say(f"{model.name}: PCX {pcx['samples_per_s']:.0f} samples/s, energies "
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


def evaluate_targets(result: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    models = result["models"]
    for name in ("mlp3-128", "mlp3-1024", "mlp21-128"):
        m = models.get(name)
        target = TARGETS[f"speed_vs_pcx:{name}"]
        if m is None:
            continue
        pcx = m.get("pcx", {})
        if "samples_per_s" in pcx:
            ratio = m["pcdiag_full"]["samples_per_s"] / pcx["samples_per_s"]
            rows.append(_row(target, ratio))
        else:
            rows.append(_row(target, None, "PCX unavailable"))
    m = models.get("mlp3-1024")
    if m is not None:
        rows.append(_row(TARGETS["matmul_efficiency:mlp3-1024"],
                         m["pcdiag_full"]["matmul_efficiency"]))
    for name, m in models.items():
        cost = m["pcdiag_off"]["samples_per_s"] / m["pcdiag_full"]["samples_per_s"] - 1.0
        rows.append({"target": f"recording_cost:{name}", "what":
                     "throughput lost to full recording: off / full - 1",
                     "value": cost, "limit": f"<= {RECORDING_COST_MAX:.2f}",
                     "status": "PASS" if cost <= RECORDING_COST_MAX else "FAIL"})
    if "sweep" in result:
        rows.append(_row(TARGETS["sweep_speedup"], result["sweep"]["speedup"]))
    for name, m in models.items():
        check = m.get("energy_check")
        if check is not None:
            rows.append({"target": f"same_energies:{name}", "what":
                         "per-layer energies at t=0..T, same init and batch, pcdiag vs PCX",
                         "value": check.get("max_abs_diff"),
                         "limit": check.get("tolerance", ""),
                         "status": "PASS" if check["ok"] else "FAIL"})
    return rows


def _row(target: Target, value: float | None, why: str = "") -> dict[str, Any]:
    status = "n/a" if value is None else ("PASS" if value >= target.minimum else "FAIL")
    return {"target": target.name, "what": target.what, "value": value,
            "limit": f">= {target.minimum:g}", "status": status, "note": why}


# ---------------------------------------------------------------------------------------------
# the report


def _fmt(value, spec: str = ".0f", missing: str = "-") -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return missing
    return format(value, spec)


def _pcx_compile(pcx: dict) -> float | None:
    value = pcx.get("compile_time_epoch_s")
    return pcx.get("compile_time_s") if value is None else value


def format_report(result: dict[str, Any]) -> str:
    dev = result["device"]
    lines = [
        f"pcdiag bench: jax {dev['jax']} on {dev['device_kind'] or dev['platform']} "
        f"({dev['processor']}, {dev['cpu_count']} CPUs), load {dev['loadavg_start']} -> "
        f"{dev.get('loadavg_end')}",
        f"PCX: {result['pcx']['note']}",
        "",
        "throughput (samples/s, median of epochs 2..E, without eval) | compile s | GFLOP/s",
    ]
    head = (f"{'model':<10} {'pcdiag full':>11} {'pcdiag off':>10} {'PCX':>9} "
            f"{'full/PCX':>8} {'rec cost':>8} {'compile full/off/PCX':>21} "
            f"{'GFLOP/s':>8} {'matmul':>7} {'eff':>5} {'energies':>9}")
    lines += [head, "-" * len(head)]
    for name, m in result["models"].items():
        full, off, pcx = m["pcdiag_full"], m["pcdiag_off"], m.get("pcx", {})
        pcx_sps = pcx.get("samples_per_s")
        ratio = full["samples_per_s"] / pcx_sps if pcx_sps else None
        cost = off["samples_per_s"] / full["samples_per_s"] - 1
        check = m.get("energy_check")
        energies = "-" if check is None else (
            f"{'ok' if check['ok'] else 'DIFF'} {check['max_abs_diff']:.0e}")
        compile_ = (f"{_fmt(full['compile_s'], '.1f')}/{_fmt(off['compile_s'], '.1f')}/"
                    f"{_fmt(_pcx_compile(pcx), '.1f', 'n/a')}")
        lines.append(
            f"{name:<10} {full['samples_per_s']:>11.0f} {off['samples_per_s']:>10.0f} "
            f"{_fmt(pcx_sps, '.0f', 'n/a'):>9} {_fmt(ratio, '.2f'):>8} {cost:>+8.1%} "
            f"{compile_:>21} {full['gflops']:>8.1f} {m['matmul']['gflops']:>7.1f} "
            f"{full['matmul_efficiency']:>5.0%} {energies:>9}"
        )
    lines.append("")
    lines.append("FLOPs per step: HLO count (dots x trip counts) vs hand count vs XLA "
                 "cost_analysis (loop bodies once)")
    for name, m in result["models"].items():
        f = m["flops"]
        lines.append(f"  {name:<10} HLO {f['hlo_flops_per_step'] / 1e6:9.1f} MFLOP  hand "
                     f"{f['hand_flops_per_step'] / 1e6:9.1f}  ratio {f['hlo_over_hand']:.3f}  "
                     f"cost_analysis {f['xla_cost_analysis_flops_per_step'] / 1e6:9.1f}")
    if "sweep" in result:
        sw = result["sweep"]
        lines += ["", f"sweep of {len(sw['gammas'])} gammas, {sw['epochs']} epoch, "
                  f"{sw['train_limit'] or 60000} examples, compile included: vectorised "
                  f"{sw['vectorised_s']:.1f} s, sequential {sw['sequential_s']:.1f} s, "
                  f"speed-up {sw['speedup']:.2f}x; compiled (warm): vectorised "
                  f"{sw['vectorised_warm_s']:.2f} s, sequential {sw['sequential_warm_s']:.2f} s, "
                  f"speed-up {sw['speedup_warm']:.2f}x (max test-accuracy diff "
                  f"{sw['max_test_accuracy_diff']:.4f})"]
    lines += ["", "targets:"]
    for row in result["targets"]:
        value = row["value"]
        shown = "n/a" if value is None else (f"{value:.2e}" if "energies" in row["target"]
                                             else f"{value:.3f}")
        lines.append(f"  {row['status']:<4} {row['target']:<28} {shown:>9}  {row['limit']:<10}"
                     f" {row['what']}" + (f" ({row['note']})" if row.get("note") else ""))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """`python -m pcdiag.bench ...`, the same as `pcdiag bench ...`."""
    parser = argparse.ArgumentParser(prog="pcdiag bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    configure_parser(parser)
    return run_cli(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
