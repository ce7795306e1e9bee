"""Training algorithms: a registry of one module each (pc, epc, ipc, bp), each an
`Algorithm` composed of parts (pcdiag.algorithms.compose): a state initialisation
(pcdiag.algorithms.initialise), what inference moves (`FreeVariables`,
pcdiag.algorithms.free) and a weight rule.

A new algorithm is one module defining ``Algorithm(name, learn, description, free=...,
init=...)`` from existing or new parts, plus one line in `ALGORITHMS` and its name in
`pcdiag.config.ALGORITHMS` (a test keeps the two equal). A new variant is a new part: an
initialiser, a `FreeVariables`, or a weight rule (a callable ``rule(algorithm, prog, hyper,
params, opt_state, batch, record)`` returning what `Algorithm.step` returns; one that steps
once after inference is `pcdiag.algorithms.pc.AfterInference(name, gradient, scaling)`).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from pcdiag.algorithms.base import Hyper, Program, TrainState
from pcdiag.algorithms.bp import BP
from pcdiag.algorithms.compose import Algorithm
from pcdiag.algorithms.epc import EPC
from pcdiag.algorithms.ipc import IPC
from pcdiag.algorithms.optimizers import weight_optimizer
from pcdiag.algorithms.pc import PC
from pcdiag.records import StepRecord

ALGORITHMS: dict[str, Algorithm] = {a.name: a for a in (PC, IPC, BP, EPC)}


def algorithm_for(prog: Program) -> Algorithm:
    """The algorithm `prog` runs, for its task: with the input node free where the task
    infers it (`Program.input_free`: generation's latent)."""
    algorithm = ALGORITHMS[prog.algorithm]
    return algorithm.with_free_input if prog.input_free else algorithm


def records_energy(prog: Program) -> bool:
    """Whether a step of `prog` records per-t energies."""
    return prog.record_inference and ALGORITHMS[prog.algorithm].infers


def init_state(prog: Program, hyper: Hyper, key: jax.Array) -> TrainState:
    key_init, key_data = jax.random.split(key)
    params = prog.net.init(key_init)
    opt_state = weight_optimizer(prog, hyper).init(params)
    return TrainState(params, opt_state, key_data, jnp.int32(0), jnp.int32(-1))


def train_step(
    prog: Program, hyper: Hyper, state: TrainState, x0: jax.Array, y: jax.Array, record: bool,
    norms: bool = True,
) -> tuple[TrainState, StepRecord | None]:
    """One weight update on a batch (x0 inputs, y the targets the output node is clamped
    to: one-hot labels, or images for generation). With `record` it returns the step's
    record, its norms NaN unless `norms` (norms_every). With `mcpc_noise` the step's
    inference draws its noise from a key folded from the run's key and its step number."""
    key = (jax.random.fold_in(jax.random.fold_in(state.key, state.step), 1) if prog.mcpc_noise
           else None)  # a stream apart from augment's fold_in(key, step)
    params, opt_state, finite, out = algorithm_for(prog).step(
        prog, hyper, state.params, state.opt_state, x0, y, record, key, norms
    )
    first_bad = (state.diverged_at < 0) & ~finite
    diverged_at = jnp.where(first_bad, state.step, state.diverged_at)
    return TrainState(params, opt_state, state.key, state.step + 1, diverged_at), out


__all__ = ["ALGORITHMS", "Algorithm", "Hyper", "Program", "TrainState", "algorithm_for",
           "init_state", "records_energy", "train_step", "weight_optimizer"]
