"""The inference loop: T state-optimizer steps on dF/dz, a lax.scan over t that records
per-layer energies and gradient norms as it goes (never the states themselves).

z are the free variables, a declared part (`FreeVariables`, pcdiag.algorithms.free: the
states or the errors); they start from a state initialisation part
(pcdiag.algorithms.initialise). Both are re-exported here.

Timing convention: the record at t describes z_t, before the (t+1)-th update; t = 0 is right
after forward initialisation, and t = T (recorded by the caller) is the state after the T-th
update, the one the weight step reads.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from pcdiag.algorithms.free import ERRORS, STATES, FreeVariables, states_from_errors
from pcdiag.algorithms.initialise import Variables, forward_init
from pcdiag.algorithms.optimizers import state_transform
from pcdiag.nets.base import sums_of_squares

__all__ = ["ERRORS", "STATES", "FreeVariables", "InferenceRecord", "Variables", "forward_init",
           "infer", "measure", "states_from_errors"]


class InferenceRecord(NamedTuple):
    """Per-t measurements, each (T, L) for t = 0..T-1; None when recording is off."""

    energy: jax.Array | None
    state_grad_norm: jax.Array | None


def measure(energy_sums: jax.Array, grads: Variables, batch: int | None) -> InferenceRecord:
    """Batch means of the energies (from their batch sums, (L,); `batch` None: the sums
    themselves) and of the per-sample ||dF_i/dz_l|| over all of a node's non-batch axes (NaN
    at L). The sqrt and the mean act on all layers' per-sample squares stacked, and on an
    accelerator those come from one variadic reduction per node shape (`sums_of_squares`): a
    few kernels per t, not a few per layer and t."""
    nan = jnp.full((1,), jnp.nan, energy_sums.dtype)  # the output node is clamped
    energy = energy_sums if batch is None else energy_sums / batch
    if not grads:
        return InferenceRecord(energy, nan)
    squares = jnp.stack(sums_of_squares(grads, keep_batch=True))  # (L - 1, batch)
    norms = jnp.mean(jnp.sqrt(squares), axis=-1)
    return InferenceRecord(energy, jnp.concatenate([norms, nan]))


EnergyFn = Callable[[Variables], tuple[jax.Array, jax.Array]]


def infer(
    energy_fn: EnergyFn, z0: Variables, gamma: jax.Array, prog, record: bool, batch: int
) -> tuple[Variables, InferenceRecord, jax.Array]:
    """Run T optimizer steps on z from z0 (batch rows); `energy_fn(z)` -> (sum of F over the
    batch, per-layer energies summed over the batch (L,)).

    Returns z_T, the per-t record for t = 0..T-1, and whether every total energy was finite.

    With `record`, the per-layer batch sums leave the scan as its output and whether their
    totals were finite is asked once, after it (of the same sums, the same total): a check
    inside the loop would keep each t's total as a separate kernel beside the record's.
    Without, each t's total is checked in the loop (nothing else reads it).
    """
    optimizer = state_transform(prog, gamma, batch)  # the gamma convention, then the optimizer

    def step(carry, _):
        z, opt_state, finite = carry
        (total, energies), grads = jax.value_and_grad(energy_fn, has_aux=True)(z)
        updates, opt_state = optimizer.update(grads, opt_state, z)
        z = optax.apply_updates(z, updates)
        if record:  # one output: batch sums and norms, (2, L)
            return (z, opt_state, finite), jnp.stack(measure(energies, grads, None))
        return (z, opt_state, finite & jnp.isfinite(total)), None

    carry = (z0, optimizer.init(z0), jnp.array(True))
    (z, _, finite), out = jax.lax.scan(step, carry, None, length=prog.inference_steps)
    if not record:
        return z, InferenceRecord(None, None), finite
    finite = jnp.all(jnp.isfinite(jnp.sum(out[:, 0], axis=-1)))
    return z, InferenceRecord(out[:, 0] / batch, out[:, 1]), finite
