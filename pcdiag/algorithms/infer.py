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
    """Per-t measurements, each (T, L) for t = 0..T-1 ((T,) for the latent's); None when
    recording is off, and latent_grad_norm None where the input node is clamped."""

    energy: jax.Array | None
    state_grad_norm: jax.Array | None
    latent_grad_norm: jax.Array | None = None


def measure(energy_sums: jax.Array, grads: Variables, batch: int | None,
            norms: bool = True) -> InferenceRecord:
    """Batch means of the energies (from their batch sums, (L,); `batch` None: the sums
    themselves) and of the per-sample ||dF_i/dz_l|| over all of a node's non-batch axes (NaN
    at L). The sqrt and the mean act on all layers' per-sample squares stacked, and on an
    accelerator those come from one variadic reduction per node shape (`sums_of_squares`): a
    few kernels per t, not a few per layer and t. Where the input node is free (`grads`
    start with x_0's: one per layer), its norm is the record's latent_grad_norm. Without
    `norms` (a logged step between two of norms_every) every norm is NaN, same shapes."""
    nan = jnp.full((1,), jnp.nan, energy_sums.dtype)  # the output node is clamped
    energy = energy_sums if batch is None else energy_sums / batch
    if not grads:
        return InferenceRecord(energy, nan)
    if not norms:
        none = jnp.full(energy_sums.shape, jnp.nan, energy_sums.dtype)
        if len(grads) == energy_sums.shape[-1]:  # x_0 free: its norm NaN too
            return InferenceRecord(energy, none, jnp.float32(jnp.nan))
        return InferenceRecord(energy, none)
    squares = jnp.stack(sums_of_squares(grads, keep_batch=True))  # (L - 1, batch)
    norms = jnp.mean(jnp.sqrt(squares), axis=-1)
    if len(grads) == energy_sums.shape[-1]:  # x_0 free: L gradients, x_0's first
        return InferenceRecord(energy, jnp.concatenate([norms[1:], nan]), norms[0])
    return InferenceRecord(energy, jnp.concatenate([norms, nan]))


EnergyFn = Callable[[Variables], tuple[jax.Array, jax.Array]]


def infer(
    energy_fn: EnergyFn, z0: Variables, gamma: jax.Array, prog, record: bool, batch: int,
    key: jax.Array | None = None, norms: bool = True,
) -> tuple[Variables, InferenceRecord, jax.Array]:
    """Run T optimizer steps on z from z0 (batch rows); `energy_fn(z)` -> (sum of F over the
    batch, per-layer energies summed over the batch (L,)).

    Returns z_T, the per-t record for t = 0..T-1, and whether every total energy was finite.

    With `record`, the per-layer batch sums leave the scan as its output and whether their
    totals were finite is asked once, after it (of the same sums, the same total): a check
    inside the loop would keep each t's total as a separate kernel beside the record's.
    Without, each t's total is checked in the loop (nothing else reads it).

    Without `norms` the record's norms are NaN (`measure`).

    With `key` (Monte Carlo PC, `mcpc_noise` > 0), each update adds Gaussian noise of std
    sqrt(2 gamma_s) * mcpc_noise to every free unit (`langevin_noise`).
    """
    optimizer = state_transform(prog, gamma, batch)  # the gamma convention, then the optimizer

    def step(carry, t):
        z, opt_state, finite = carry
        (total, energies), grads = jax.value_and_grad(energy_fn, has_aux=True)(z)
        updates, opt_state = optimizer.update(grads, opt_state, z)
        z = optax.apply_updates(z, updates)
        if key is not None:
            z = langevin_noise(z, jax.random.fold_in(key, t), prog, gamma, batch)
        if record:  # one output: batch sums and norms, (2, L); the latent's norm apart
            measured = measure(energies, grads, None, norms)
            out = jnp.stack(measured[:2])
            latent = measured.latent_grad_norm
            return (z, opt_state, finite), out if latent is None else (out, latent)
        return (z, opt_state, finite & jnp.isfinite(total)), None

    carry = (z0, optimizer.init(z0), jnp.array(True))
    steps = jnp.arange(prog.inference_steps) if key is not None else None
    (z, _, finite), out = jax.lax.scan(step, carry, steps, length=prog.inference_steps)
    if not record:
        return z, InferenceRecord(None, None), finite
    out, latent = out if isinstance(out, tuple) else (out, None)
    finite = jnp.all(jnp.isfinite(jnp.sum(out[:, 0], axis=-1)))
    return z, InferenceRecord(out[:, 0] / batch, out[:, 1], latent), finite


def langevin_noise(z: Variables, key: jax.Array, prog, gamma: jax.Array,
                   batch: int) -> Variables:
    """z plus Gaussian noise of std sqrt(2 gamma_s) * mcpc_noise on every unit (Monte Carlo
    PC: Oliviers, Bogacz & Meulemans 2024; Langevin dynamics on the per-sample energy at
    temperature mcpc_noise^2), gamma_s the per-sample step (gamma, or gamma / batch under
    the batch_mean convention)."""
    step = gamma if prog.gamma_convention == "per_sample" else gamma / batch
    scale = jnp.sqrt(2 * step) * prog.mcpc_noise
    keys = jax.random.split(key, len(z))
    return tuple(v + scale * jax.random.normal(k, v.shape, v.dtype) for v, k in zip(z, keys))
