"""Predicted run times: the cost models of sweep programs, measured on the reference machine.

Every `SweepSpec` carries one `CostModel` (`spec.cost`; default `MLP`), and its predicted
seconds (`spec.seconds`) are the sum over its compiled programs (one per combination of its
non-vectorisable axes) of `cost.program_seconds(config, runs)`: the config that program
runs (the spec's config with that combination of axis values) and the number of runs vmapped
into it. A model reads what a program costs from the config alone: width, depth, inference
steps, algorithm, state optimizer, data size, epochs. There are three models, one per network
family measured:

- `MLP` (`MLPCost`): plain MLPs [784, W, W, 10], T = 8; a per-run-epoch cost by width
  (interpolated, extrapolated by FLOPs) and a flat compile cost. Other depths and T are
  scaled by FLOPs (not measured). The inference-Hessian probe (hessian_samples) adds a cost
  per sample and logged step (`hessian_seconds`).
- `RESIDUAL_MLP` (`ResidualMLPCost`): residual MLPs of width 64 at depths 4-32; a cost per
  layer-step (depth x (T + 1)), compile cost per layer. Other widths are scaled by FLOPs.
- `CONV` (`ConvCost`): VGG and ResNet PCNs; compile per layer, training steps and evaluation
  by multiply-accumulates per image (`conv_macs`).

An algorithm or state optimizer that a model has no measured factor for costs like pc with
plain SGD states (factor `UNMEASURED_FACTOR` = 1), instead of failing: the estimate is a guess
there. This module imports only the data-set registry and the networks' layer shapes, so
that `SweepSpec` (pcdiag.figures.experiments) can carry a model.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from typing import Any

from pcdiag.data.registry import info
from pcdiag.nets.mlp import layer_sizes
from pcdiag.nets.resnet import ResNet
from pcdiag.nets.vgg import SIDE, vgg_blocks

#: The factor of an algorithm or state optimizer a model has not measured: costs like pc / sgd.
UNMEASURED_FACTOR = 1.0
#: Relative cost of one state-optimizer step (both models): all measured 1.0 (the state
#: update is small next to the layers' forward and backward passes).
STATE_OPTIMIZER_FACTOR = {"sgd": 1.0, "momentum": 1.0, "adam": 1.0}


def factor(table: dict[str, float], name: str) -> float:
    """`table[name]`, or UNMEASURED_FACTOR for a name the table does not have."""
    return table.get(name, UNMEASURED_FACTOR)


class CostModel(ABC):
    """Predicted seconds of one compiled sweep program on the reference machine."""

    @abstractmethod
    def program_seconds(self, config: Any, runs: int) -> float:
        """Compile `config`'s program once and train `runs` vmapped runs of it."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


# --------------------------------------------------------------------------- plain MLPs

#: CPU seconds per pc run over the full Fashion-MNIST training set (1 epoch, T = 8, batch
#: 64, AdamW, log_every 10), by width, vmapped 8 runs to a program: measured on the
#: reference machine (2 CPU cores, jax 0.10 CPU), as process CPU time so that other users'
#: load counts less. Costs grow faster than FLOPs past 256 (cache). Widths between are
#: interpolated (log-log), wider ones extrapolated by FLOPs from 512.
RUN_EPOCH_S = {32: 0.45, 64: 0.78, 128: 2.0, 256: 5.1, 512: 14.7}
#: The data set (its full training set), depth and inference steps RUN_EPOCH_S was measured
#: with.
REFERENCE_DATASET = "fashion-mnist"
REFERENCE_IMAGES = info(REFERENCE_DATASET).n_train
REFERENCE_DEPTH = 3
REFERENCE_STEPS = 8
#: CPU seconds to compile one program (and load its data), measured the same way.
COMPILE_S = 12.0
#: Relative cost of one run. bp: measured 0.48 of pc at width 128 (its per-run eval and
#: bookkeeping are the same); adam states: measured 1.0; ipc: not measured, a guess; others
#: (epc): UNMEASURED_FACTOR.
ALGORITHM_FACTOR = {"pc": 1.0, "ipc": 1.3, "bp": 0.5}


def macs(width: int, depth: int = REFERENCE_DEPTH) -> int:
    """Multiply-accumulates of one forward pass of the MLP [784, W x (depth - 1), 10]."""
    sizes = layer_sizes(depth, width)
    return sum(a * b for a, b in zip(sizes[:-1], sizes[1:]))


def run_epoch_seconds(width: int) -> float:
    """Predicted CPU seconds of one pc run-epoch (full data) at `width`, depth 3, T = 8."""
    known = sorted(RUN_EPOCH_S)
    if width in RUN_EPOCH_S:
        return RUN_EPOCH_S[width]
    if width < known[0] or width > known[-1]:
        edge = known[0] if width < known[0] else known[-1]
        return RUN_EPOCH_S[edge] * macs(width) / macs(edge)
    hi = next(w for w in known if w > width)
    lo = known[known.index(hi) - 1]
    frac = math.log(width / lo) / math.log(hi / lo)
    return math.exp((1 - frac) * math.log(RUN_EPOCH_S[lo]) + frac * math.log(RUN_EPOCH_S[hi]))


#: The inference-Hessian probe (Config.hessian_samples > 0: pcdiag.algorithms.record.
#: hessian_probe, a dense Hessian and eigvalsh per sample at each logged step): CPU seconds per
#: sample and logged step of one run at HESSIAN_REFERENCE_UNITS free units (width 128, depth
#: 3), measured on the reference machine under load (0.8 s: 160 samples in 132 s), and the
#: extra compile seconds of a program that carries it (a guess). Other sizes scale by (free
#: units / reference)^2 (not measured).
HESSIAN_SAMPLE_S = 0.8
HESSIAN_COMPILE_S = 10.0
HESSIAN_REFERENCE_UNITS = 256


def hessian_seconds(config: Any, runs: int) -> float:
    """Predicted seconds of the Hessian probe in one program of `runs` runs (0 when off)."""
    samples = getattr(config, "hessian_samples", 0)
    if not samples or config.algorithm == "bp":
        return 0.0
    free = (config.depth - 1) * config.width
    logged = config.epochs * -(-config.steps_per_epoch // config.log_every)
    per_sample = HESSIAN_SAMPLE_S * (free / HESSIAN_REFERENCE_UNITS) ** 2
    return HESSIAN_COMPILE_S + runs * logged * samples * per_sample


class MLPCost(CostModel):
    """Plain MLPs: RUN_EPOCH_S by width x ALGORITHM_FACTOR x STATE_OPTIMIZER_FACTOR per
    REFERENCE_IMAGES images, COMPILE_S per program. Depths other than 3 scale the run by
    FLOPs, T other than 8 by (T + 1) / 9 (except bp, which has no inference): neither is
    measured."""

    def shape_factor(self, config: Any) -> float:
        """Cost relative to the measured network of the same width (1 at depth 3, T = 8)."""
        depth = macs(config.width, config.depth) / macs(config.width)
        if config.algorithm == "bp":
            return depth
        return depth * (config.inference_steps + 1) / (REFERENCE_STEPS + 1)

    def run_epoch_seconds(self, config: Any) -> float:
        """Seconds of one run over REFERENCE_IMAGES images."""
        run = (run_epoch_seconds(config.width) * factor(ALGORITHM_FACTOR, config.algorithm)
               * factor(STATE_OPTIMIZER_FACTOR, config.state_optimizer))
        return run * self.shape_factor(config)

    def program_seconds(self, config: Any, runs: int) -> float:
        epochs = config.epochs * config.n_train / REFERENCE_IMAGES
        return (COMPILE_S + runs * epochs * self.run_epoch_seconds(config)
                + hessian_seconds(config, runs))


# --------------------------------------------------------------------------- residual MLPs

#: Cost model of one deep sweep on the reference machine (2 CPU cores, jax CPU, idle),
#: measured with 10,000 images, width 64, batch 64, log_every 5, 3 vmapped seeds (each seed
#: counted as a run): seconds per run-step are ~ depth x (T + 1) "layer-steps" x a cost per
#: layer-step that grows past depth 16 (cache): pc 15 us at depth 8, 13.8 at 16 (also with
#: one seed at T = 256), 21 at 32. Per-run-step factors against pc at the same depth: ipc 1.7,
#: muPC 1.16, bp_alignment 1.05 (depth 16); epc 3.8 at depth 16 and 5.2 at depth 32 (its
#: inference differentiates through the whole forward chain; `epc_factor`); bp 0.08 ms per
#: layer, no T.
LAYER_STEP_S = 13.5e-6
STEP_FIXED_S = 5e-4
REFERENCE_WIDTH = 64
#: Per-run-step factors of the inference algorithms (epc: epc_factor(depth); bp: its own
#: per-layer cost, BP_LAYER_S; others: UNMEASURED_FACTOR).
DEEP_ALGORITHM_FACTOR = {"pc": 1.0, "ipc": 1.7}
MUPC_FACTOR = 1.16
ALIGN_FACTOR = 1.05
BP_LAYER_S = 8e-5
#: Compile seconds per program: 2.5 + 0.3 per layer (pc: 3.3 s at depth 4, 6.3 at 16, 11.8
#: at 32; epc 1.6 times that; bp 2 + 0.12 per layer).
COMPILE_FIXED_S = 2.5
COMPILE_LAYER_S = 0.3
EPC_COMPILE_FACTOR = 1.6
BP_COMPILE_FIXED_S = 2.0
BP_COMPILE_LAYER_S = 0.12


def layer_step_seconds(depth: int) -> float:
    """Seconds per layer-step of one pc run at width 64 (grows past depth 16)."""
    return LAYER_STEP_S * (1 + max(0, depth - 16) / 32)


def epc_factor(depth: int) -> float:
    """epc's cost per run-step relative to pc's (3.8 at depth 16, 5.2 at 32)."""
    return 1 + 2.8 * (depth / 16) ** 0.6


class ResidualMLPCost(CostModel):
    """Residual MLPs: seconds per run-step ~ depth x (T + 1) x layer_step_seconds(depth) x
    the algorithm's factor (x MUPC_FACTOR, ALIGN_FACTOR where they apply), plus
    STEP_FIXED_S; bp: BP_LAYER_S per layer. Widths other than 64 scale by FLOPs (width^2)."""

    def program_seconds(self, config: Any, runs: int) -> float:
        cfg = config
        steps = cfg.epochs * cfg.steps_per_epoch
        scale = (cfg.width / REFERENCE_WIDTH) ** 2
        depth, n_t = cfg.depth, cfg.inference_steps
        if cfg.algorithm == "bp":
            per_step = STEP_FIXED_S + BP_LAYER_S * depth * scale
            compile_s = BP_COMPILE_FIXED_S + BP_COMPILE_LAYER_S * depth
        else:
            epc = cfg.algorithm == "epc"
            rate = epc_factor(depth) if epc else factor(DEEP_ALGORITHM_FACTOR, cfg.algorithm)
            rate *= MUPC_FACTOR if cfg.parameterization == "mupc" else 1.0
            rate *= ALIGN_FACTOR if cfg.bp_alignment else 1.0
            rate *= factor(STATE_OPTIMIZER_FACTOR, cfg.state_optimizer)
            per_step = STEP_FIXED_S + (layer_step_seconds(depth) * depth * (n_t + 1)
                                       * scale * rate)
            compile_s = (COMPILE_FIXED_S + COMPILE_LAYER_S * depth) * (
                EPC_COMPILE_FACTOR if epc else 1.0)
        return compile_s + runs * steps * per_step


#: The two models' instances (a SweepSpec names one as its `cost`).
MLP = MLPCost()
RESIDUAL_MLP = ResidualMLPCost()


# --------------------------------------------------------------------------- conv networks

#: Cost model of the conv sweeps (pcdiag.figures.conv) on the reference machine (2 CPU cores,
#: jax CPU, the runs of a program mapped one after another: pcdiag.nets.conv.vmap_friendly).
#: Refitted on 2026-12-06 to single-run step times measured on the idle machine (Fashion-
#: MNIST, width 4, batch 128, T = L, wall seconds per run-step, from the difference of two
#: run lengths): VGG-5 pc 0.054, VGG-9 pc 0.070, ResNet-10 pc 0.23, ResNet-18 pc 0.66; ipc
#: 1.6 (VGG-5) to 2.1 (ResNet-10) times pc; VGG-5 bp 0.008. A run-step costs
#: (CONV_STEP_FIXED_S + batch x MACs per image (`conv_macs`) x the algorithm's work x
#: CONV_MAC_S) / CONV_CORES: the line through VGG-5 and ResNet-18 (ResNet-10 0.21 predicted,
#: VGG-9 0.11: over). Evaluating an image costs CONV_EVAL_MAC_S x its MACs.
CONV_MAC_S = 4.1e-10
#: Work per training step in units of one inference step, by algorithm: pc T + 1 (the
#: weight step counted as one), ipc CONV_IPC_WORK x (T + 1) (a weight step at every inference
#: step), epc CONV_EPC_WORK x (T + 1) (not measured: a guess), bp CONV_BP_WORK (one forward
#: and one backward pass).
CONV_EPC_WORK = 2.0
CONV_IPC_WORK = 2.0
CONV_BP_WORK = 3.0
#: Fixed CPU seconds per run-step (dispatch, the per-iteration records, small matmuls).
CONV_STEP_FIXED_S = 0.04
#: Compile seconds of one program (and its data loading): fixed + per layer, x the
#: algorithm's factor; a ResNet node is a basic block (two 3x3 convs and maybe a 1x1
#: shortcut). From the same measurements (total minus steps: VGG-5 about 12 s, ResNet-18
#: about 45 s).
CONV_COMPILE_FIXED_S = 5.0
CONV_COMPILE_LAYER_S = {"vgg": 1.5, "resnet": 4.0}
CONV_COMPILE_FACTOR = {"pc": 1.0, "ipc": 1.0, "epc": 1.2, "bp": 1.0}
#: Cores the training and evaluation matmuls spread over (XLA:CPU's threaded dot): their CPU
#: seconds are divided by it; compiling is counted as one core's.
CONV_CORES = 2
#: CPU seconds per MAC of the end-of-epoch evaluation (a forward pass per image).
CONV_EVAL_MAC_S = 3.2e-10


def conv_macs(config: Any) -> int:
    """Multiply-accumulates of one forward pass of one image through config's conv net."""
    c_in = 3 if config.dataset == "cifar-10" else 1
    if config.net == "vgg":
        total, side = 0, SIDE
        for block in vgg_blocks(config.depth, config.width):
            conv_side = side if block.padding == "SAME" else side - 2
            total += conv_side * conv_side * 9 * c_in * block.channels
            side = conv_side // 2 if block.pool else conv_side
            c_in = block.channels
        return total + side * side * c_in * 10
    if config.net == "resnet":
        net = ResNet((config.depth - 2) // 4, config.width, 10, input_shape=(32, 32, c_in))
        total = SIDE * SIDE * 9 * c_in * config.width
        for (c_from, c_to, stride), (side, _, _) in zip(net._plan(), net.node_shapes[1:-1]):
            total += side * side * 9 * (c_from * c_to + c_to * c_to)
            if stride != 1 or c_from != c_to:
                total += side * side * c_from * c_to
        return total + 8 * config.width * 10
    raise ValueError(f"conv_macs: net={config.net!r} is not a conv net (vgg, resnet)")


class ConvCost(CostModel):
    """Conv nets: compile (CONV_COMPILE_*) + runs x (steps x (CONV_STEP_FIXED_S + batch x
    conv_macs x work x CONV_MAC_S) + (train + test images) x conv_macs x CONV_EVAL_MAC_S) /
    CONV_CORES."""

    def work(self, config: Any) -> float:
        n_t = config.inference_steps
        if config.algorithm == "bp":
            return CONV_BP_WORK
        if config.algorithm == "ipc":
            return CONV_IPC_WORK * (n_t + 1)
        if config.algorithm == "epc":
            return CONV_EPC_WORK * (n_t + 1)
        return (n_t + 1) * factor(STATE_OPTIMIZER_FACTOR, config.state_optimizer)

    def compile_seconds(self, config: Any) -> float:
        per_layer = CONV_COMPILE_LAYER_S[config.net]
        return (CONV_COMPILE_FIXED_S + per_layer * config.depth) * factor(
            CONV_COMPILE_FACTOR, config.algorithm)

    def run_seconds(self, config: Any) -> float:
        """One run: its training steps and its evaluations."""
        macs = conv_macs(config)
        steps = config.epochs * config.steps_per_epoch
        step = CONV_STEP_FIXED_S + config.batch_size * macs * self.work(config) * CONV_MAC_S
        images = config.n_train + (config.test_limit or info(config.dataset).n_test)
        cpu = steps * step + config.epochs * images * macs * CONV_EVAL_MAC_S
        return cpu / CONV_CORES

    def program_seconds(self, config: Any, runs: int) -> float:
        return self.compile_seconds(config) + runs * self.run_seconds(config)


CONV = ConvCost()
