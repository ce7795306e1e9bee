"""The speed benchmark: pcdiag against plain JAX and PCX 0.6.3 (throughput, compile, FLOP/s).

    pcdiag speed [--quick] [--no-pcx] [--out bench-out/bench.json] [--models mlp3-128,...]

(`pcdiag bench` and `python -m pcdiag.bench`, its names before pcdiag 0.2, still work.)

In one process, on one machine, with the same Fashion-MNIST arrays (pcdiag.data.load, so
``$PCDIAG_DATA`` or ``--data-dir``), the same models (MLPs; PCX's VGG-5, vgg5-128, and the
same at a quarter of its channels, vgg5-32, on the images padded to 32 x 32) and the same
hyperparameters (hard_tanh,
cross-entropy output, per-sample SGD on states with gamma 0.1, AdamW on weights with lr 1e-3
and weight_decay 0, batch 128) it measures and prints:

- training throughput (samples/s, the median over the epochs after the first; compile time
  reported apart) of pcdiag with full recording (``log_every=1, record_inference=True``),
  pcdiag with recording off (``record_inference=False`` and ``log_every`` = steps per epoch:
  the per-step quantities -- weight norms, loss -- are still recorded, on the first step of
  each epoch, and the per-t quantities never), and PCX 0.6.3 (its harness, pcx_mlp.py and
  pcx_vgg.py in pcdiag/speed/pcx_harness/, run in its own virtual environment, made on
  first use);
- the same against the plain-JAX limit (pcdiag.speed.reference): the speed benchmark's PC step
  written directly in JAX + optax (one jit per epoch, lax.scan over batches and over t,
  per-layer energies as scan outputs; no vmap, guard, norms or evaluation), started from
  pcdiag's initial state, so that it trains on the same batches; its energies are checked
  against pcdiag's full record (the first step within 1e-5 + 1e-4 |E|, the whole first
  epoch's largest difference reported), and the targets are pcdiag with full recording
  within 10 % of it and pcdiag with recording off at or above it;
- for a VGG, pcdiag's backprop on the same network (recording off) and PC's time over BP's
  (PCX's paper: 4.6x for VGG-5 per epoch); its sides run in turn for several rounds
  (``--rounds``), medians over rounds, so that the machine's load falls on all of them;
- an 8-gamma sweep: one vectorised ``pcdiag.sweep`` against 8 ``pcdiag.train`` calls, one
  epoch each, compile included;
- achieved matmul GFLOP/s: the matmul FLOPs of pcdiag's compiled training chunk, counted from
  its optimized HLO (dot and convolution ops, loop bodies times their trip counts), over the
  measured time,
  against a large f32 matmul timed in the same run;
- that pcdiag and PCX compute the same thing: per-layer energies at t = 0 and t = T from the
  same initial weights and batch.

Each target is printed with PASS or FAIL; ``--out`` gets every number as JSON.
"""

# One concern a module: settings (models, hyperparameters, Settings, the Config), device
# (backend, CPU, reference matmul), programs (pcdiag's compiled chunk driven by hand), flops
# (HLO and hand FLOP counts), reference (the plain-JAX step), timing (throughput, the sweep
# comparison), pcx (the PCX venv, harness and energy check), report (targets, the printed
# table), suite (the whole run), cli (the options and `python -m pcdiag.speed`). This
# docstring is `pcdiag speed --help`.

from pcdiag.speed.cli import configure_parser, main, run_cli
from pcdiag.speed.report import format_report
from pcdiag.speed.settings import MODELS, SWEEP_GAMMAS, Model, Settings, bench_config
from pcdiag.speed.suite import run_bench
from pcdiag.speed.timing import sweep_side

__all__ = [
    "MODELS",
    "SWEEP_GAMMAS",
    "Model",
    "Settings",
    "bench_config",
    "configure_parser",
    "format_report",
    "main",
    "run_bench",
    "run_cli",
    "sweep_side",
]
