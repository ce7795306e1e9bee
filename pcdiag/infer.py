"""The inference loop: T state-optimizer steps on dF/dx, a lax.scan over t that records
per-layer energies and state-gradient norms as it goes (never the states themselves).

Timing convention: the record at t describes the states x_t, before the (t+1)-th update;
t = 0 is right after forward initialisation, and t = T (recorded by the caller) is the
state after the T-th update, the one the weight step reads.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from pcdiag.energy import layer_energies
from pcdiag.model import Params, predict


class InferenceRecord(NamedTuple):
    """Per-t measurements, each (T, L) for t = 0..T-1; None when recording is off."""

    energy: jax.Array | None
    state_grad_norm: jax.Array | None


def state_optimizer(
    name: str, gamma: jax.Array, state_momentum: float
) -> optax.GradientTransformation:
    """The optax transformation that moves the free states with learning rate gamma."""
    if name == "sgd":
        return optax.sgd(gamma)
    if name == "momentum":
        return optax.sgd(gamma, momentum=state_momentum)
    return optax.adam(gamma)


def forward_init(params: Params, mu1: jax.Array, activation: str) -> tuple[jax.Array, ...]:
    """Free nodes x_1..x_{L-1} set to their feedforward predictions (hidden E_l become 0)."""
    states, x = [], mu1
    for layer in range(2, len(params) + 1):
        states.append(x)
        x = predict(params, layer, x, activation)
    return tuple(states)


def measure(energies: jax.Array, state_grads: tuple[jax.Array, ...]) -> InferenceRecord:
    """Batch means of per-sample energies (L,) and of per-sample ||dF_i/dx_l|| (NaN at L)."""
    norms = [jnp.mean(jnp.sqrt(jnp.sum(g * g, axis=-1))) for g in state_grads]
    norms.append(jnp.full((), jnp.nan, energies.dtype))  # the output node is clamped
    return InferenceRecord(jnp.mean(energies, axis=0), jnp.stack(norms))


def scale_for_convention(grads, convention: str, batch_size: int):
    """Per-sample energies' gradients -> what the state optimizer receives."""
    if convention == "per_sample":
        return grads
    return jax.tree_util.tree_map(lambda g: g / batch_size, grads)


def infer(
    params: Params,
    x0: jax.Array,
    mu1: jax.Array,
    y: jax.Array,
    gamma: jax.Array,
    prog,
    record: bool,
) -> tuple[tuple[jax.Array, ...], InferenceRecord, jax.Array]:
    """Run T state steps from forward initialisation with the weights fixed.

    Returns the final states x_T, the per-t record for t = 0..T-1, and whether every total
    energy seen was finite.
    """
    activation, output_energy = prog.activation, prog.output_energy

    def total_energy(states):
        energies = layer_energies(params, x0, states, y, activation, output_energy, mu1=mu1)
        return jnp.sum(energies), energies

    optimizer = state_optimizer(prog.state_optimizer, gamma, prog.state_momentum)
    states0 = forward_init(params, mu1, activation)

    def step(carry, _):
        states, opt_state, finite = carry
        (total, energies), grads = jax.value_and_grad(total_energy, has_aux=True)(states)
        grads_in = scale_for_convention(grads, prog.gamma_convention, x0.shape[0])
        updates, opt_state = optimizer.update(grads_in, opt_state, states)
        states = optax.apply_updates(states, updates)
        out = measure(energies, grads) if record else None
        return (states, opt_state, finite & jnp.isfinite(total)), out

    carry = (states0, optimizer.init(states0), jnp.array(True))
    (states, _, finite), out = jax.lax.scan(step, carry, None, length=prog.inference_steps)
    return states, out if record else InferenceRecord(None, None), finite
