"""How much memory a run or sweep needs, checked before anything is compiled.

Recording every inference iteration of every logged step is cheap for one shallow run and
can exhaust a machine for a deep sweep. :func:`check` estimates the bytes a run or sweep
will hold and raises :class:`ResourceError` (bad input) when they exceed the limit:
``Config.memory_limit_gb`` when set, else half of the machine's memory
(:func:`machine_memory`: physical memory, or the cgroup limit when that is lower).

The estimate, all float32 (4 bytes), for a program (one compiled unit of R vmapped runs)
with L layers, T inference steps, S logged steps per epoch (ceil(steps / log_every)) and E
epochs:

- per logged step and run: the values of the compiled step's record layout
  (`pcdiag.engine.loop.record_layout`, the shapes of every StepRecord field the step fills,
  found by tracing the step without compiling it), split into per-t values (the variables
  with a t dim: energy and state_grad_norm, 2 (T+1) L with ``record_inference``) and
  per-step values (weight_grad_norm, weight_norm, update_norm, train_loss, and bp_cosine,
  hessian_condition and hessian_lambda_max when switched on);
- device, one epoch's record buffers: ``R * S_pad * (per_t + per_step)``, S_pad counting the
  padding of the last chunk (the loop keeps an epoch's chunks on the device until its end);
- host result: every run's records over all epochs, ``R * E * S * (per_t + per_step)`` (a
  sweep pads every run to its largest depth and T), held ``HOST_COPIES`` = 3 times at the
  peak: the loop keeps the logged epochs and their concatenation (2), then the Dataset adds
  energy_ratio and its temporary (1 more of the per-t half), or in a sweep the stacked,
  padded copy of all units (measured: a depth-32, T=100 sweep of 8 runs peaked at 3.8 times
  its per-t records in numpy allocations, data caches included);
- data: the padded train, validation and test sets on the device, their float32 host
  copies and the decoded uint8 files pcdiag.data caches;
- state: parameters and weight-optimizer state (adamw 2 slots, momentum 1) with the step's
  gradients, new parameters and updates (3 more), and the inference working set
  (batch x nodes x 6), each times R;
- runtime: a fixed ``RUNTIME_BYTES`` = 1 GiB for JAX/XLA's own working memory (compiler,
  autotuning, allocator pools): measured 0.5 GiB more RSS than the arrays above on a CPU, and
  a 1.1 GiB device peak for a 0.14 GiB device estimate on an H200.

On a CPU, device and host are the same memory, so the total is compared with the limit.
On an accelerator the same total is compared with the limit (conservative), and the device
part alone with the accelerator's own memory when JAX reports it.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import jax

from pcdiag.algorithms import Program
from pcdiag.config import Config
from pcdiag.data.registry import info
from pcdiag.engine.loop import EVAL_CHUNK, chunk_length, chunk_unit, record_layout
from pcdiag.errors import BadInputError
from pcdiag.records import VARIABLES

GiB = 1024**3
FLOAT = 4
#: Host copies of the records at the peak (see the module docstring).
HOST_COPIES = 3
#: JAX/XLA working memory beside the arrays (see the module docstring).
RUNTIME_BYTES = GiB
OPTIMIZER_SLOTS = {"sgd": 0, "momentum": 1, "adamw": 2}


class ResourceError(BadInputError):
    """A run or sweep would need more memory than allowed (never retried: it would need as
    much again); the message gives the fix."""


@dataclass(frozen=True)
class Estimate:
    """Bytes a run or sweep needs, by part."""

    per_t: int  # host: energy + state_grad_norm over all runs and epochs (one copy)
    per_step: int  # host: the per-step records over all runs and epochs (one copy)
    host: int  # host peak: HOST_COPIES copies of the records + energy_ratio
    device_records: int  # one epoch's record buffers of the largest unit
    data: int  # train (+ validation) + test sets, device and host copies
    state: int  # parameters, optimizer state, gradients, inference working set x runs
    runs: int

    @property
    def total(self) -> int:
        return self.host + self.device_records + self.data + self.state + RUNTIME_BYTES

    @property
    def device(self) -> int:
        return self.device_records + self.state + self.data // 2 + RUNTIME_BYTES

    def describe(self) -> str:
        return (
            f"{gib(self.total)} in all for {self.runs} run(s): recorded per-t values "
            f"{gib(self.per_t)} and per-step values {gib(self.per_step)} per copy, host "
            f"peak {gib(self.host)}, one epoch's device buffers {gib(self.device_records)}, "
            f"data {gib(self.data)}, parameters/optimizer state {gib(self.state)}, "
            f"JAX runtime {gib(RUNTIME_BYTES)}"
        )


def gib(n_bytes: float) -> str:
    value = n_bytes / GiB
    return f"{value:.3g} GiB" if value >= 0.001 else "<0.001 GiB"


def logged_steps(cfg: Config) -> tuple[int, int]:
    """(logged steps per epoch, the same with the last chunk's padding)."""
    steps, k = cfg.steps_per_epoch, cfg.log_every
    length, _ = chunk_length(steps, chunk_unit(cfg))
    return math.ceil(steps / k), math.ceil(steps / length) * length // k


def values_per_step(cfg: Config) -> tuple[int, int]:
    """(per-t, per-step) float32 values one logged step of one run records, counted from the
    compiled step's record layout (pcdiag.engine.loop.record_layout: traced, not compiled)."""
    per_t = per_step = 0
    for name, shape in record_layout(Program.from_config(cfg)):
        size = math.prod(shape)
        if "t" in VARIABLES[name].dims:
            per_t += size
        else:
            per_step += size
    return per_t, per_step


def _data_bytes(cfg: Config) -> int:
    facts = info(cfg.dataset)  # pcdiag.data.registry
    n_test = cfg.test_limit or facts.n_test
    splits = (cfg.n_train, cfg.validation_size, n_test)  # validation_size 0: no rows
    padded = sum(math.ceil(n / EVAL_CHUNK) * EVAL_CHUNK for n in splits)
    row = facts.input_size + 1  # an image and its label
    device = padded * row * FLOAT
    host = sum(splits) * row * FLOAT
    raw = (facts.n_train + facts.n_test) * row  # the decoded uint8 files, both splits
    return device + host + raw


def _state_bytes(cfg: Config, runs: int) -> int:
    net = Program.from_config(cfg).net
    shapes = jax.eval_shape(net.init, jax.ShapeDtypeStruct((2,), "uint32"))
    params = sum(math.prod(leaf.shape) for leaf in jax.tree_util.tree_leaves(shapes))
    slots = OPTIMIZER_SLOTS.get(cfg.weight_optimizer, 2)
    working = cfg.batch_size * net.working_units * 6
    return runs * FLOAT * (params * (1 + slots + 3) + working)


def estimate(units: Sequence[tuple[Config, int]], widest: Config | None = None) -> Estimate:
    """Bytes needed by programs `units` = [(config, runs vmapped together), ...].

    `widest` (a sweep's base config with its largest depth and inference_steps) sizes the
    records: a sweep pads every run to it. A single run passes one unit and no `widest`.
    """
    runs = sum(r for _, r in units)
    configs = [cfg for cfg, _ in units] + ([widest] if widest is not None else [])
    values = [values_per_step(cfg) for cfg in configs]  # once per config, not three times
    t_vals = max(v[0] for v in values)
    s_vals = max(v[1] for v in values)
    epochs = max(cfg.epochs for cfg in configs)
    logged = max(logged_steps(cfg)[0] for cfg in configs)
    per_t = FLOAT * runs * epochs * logged * t_vals
    per_step = FLOAT * runs * epochs * logged * s_vals
    # train and test accuracy, and validation accuracy where a split is held out
    kinds = 2 + any(cfg.validation_size for cfg in configs)
    accuracies = FLOAT * runs * epochs * kinds + 8 * runs
    host = HOST_COPIES * (per_t + per_step + accuracies)
    device_records = max(FLOAT * r * logged_steps(cfg)[1] * sum(v)
                         for (cfg, r), v in zip(units, values))
    state = max(_state_bytes(cfg, r) for cfg, r in units)
    data = max(_data_bytes(cfg) for cfg in configs)
    return Estimate(per_t, per_step, host, device_records, data, state, runs)


def machine_memory() -> int | None:
    """Physical memory in bytes (os.sysconf, else /proc/meminfo), capped by a cgroup limit."""
    total = None
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        try:
            for line in Path("/proc/meminfo").read_text().splitlines():
                if line.startswith("MemTotal:"):
                    total = int(line.split()[1]) * 1024
        except (OSError, ValueError, IndexError):
            total = None
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            text = Path(path).read_text().strip()
        except OSError:
            continue
        if text.isdigit() and (total is None or int(text) < total):
            total = int(text)
    return total


def limit_bytes(cfg: Config) -> tuple[float | None, str]:
    """The limit in bytes and where it comes from (None: unknown, nothing is checked)."""
    explicit = getattr(cfg, "memory_limit_gb", None)
    if explicit is not None:
        return explicit * GiB, f"memory_limit_gb={explicit}"
    total = machine_memory()
    if total is None:
        return None, "machine memory unknown"
    return total / 2, f"half of this machine's {gib(total)}"


def _device_limit() -> int | None:
    """Bytes the accelerator may allocate, or None on a CPU or when JAX does not say."""
    try:
        import jax

        device = jax.local_devices()[0]
        if device.platform == "cpu":
            return None
        stats = device.memory_stats() or {}
        return int(stats["bytes_limit"]) if "bytes_limit" in stats else None
    except Exception:  # noqa: BLE001 - a missing statistic must never block a run
        return None


def _fixes(cfg: Config, sweep: bool) -> str:
    fixes = []
    if cfg.record_inference:
        fixes.append(f"raise log_every (now {cfg.log_every})")
        fixes.append(f"fewer inference_steps (now {cfg.inference_steps})")
        fixes.append("record_inference=False (drops the per-t records)")
    else:
        fixes.append(f"raise log_every (now {cfg.log_every})")
    if sweep:
        fixes.append("fewer runs per sweep (split the sweep)")
    fixes.append("raise memory_limit_gb if the machine really has the memory")
    return "; ".join(fixes)


def check(cfg: Config, units: Sequence[tuple[Config, int]] | None = None,
          widest: Config | None = None, *, device: bool = True) -> Estimate:
    """Raise ResourceError when the run (or sweep `units`) needs more than the limit; with
    `device` False, the accelerator's own memory is not asked for (so JAX does not start
    it in a process that only hands units to workers)."""
    sweep = units is not None
    units = list(units) if sweep else [(cfg, 1)]
    need = estimate(units, widest if sweep else None)
    limit, source = limit_bytes(cfg)
    kind = "sweep" if sweep else "run"
    if limit is not None and need.total > limit:
        raise ResourceError(
            f"this {kind} needs about {gib(need.total)} of memory, more than the limit of "
            f"{gib(limit)} ({source}). Estimate: {need.describe()}. Fix: {_fixes(cfg, sweep)}."
        )
    device_limit = _device_limit() if device else None
    if device_limit is not None and need.device > device_limit:
        raise ResourceError(
            f"this {kind} needs about {gib(need.device)} of accelerator memory, more than its "
            f"{gib(device_limit)}. Estimate: {need.describe()}. Fix: {_fixes(cfg, sweep)}."
        )
    return need
