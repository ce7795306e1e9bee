"""Incremental PC: states and weights updated together at every one of the T inference
steps, both from the gradients at (x_t, theta_t); the record at t = T is read after the last
update. `update_norm` is new - old (the sum of its T updates); `weight_grad_norm` is the
gradient of its last update (as the weight optimizer received it).

Its parts: forward initialisation, the states as free variables, and the weight rule
`INCREMENTAL` (the states are what it moves: its free variables must be `STATES`).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

from pcdiag.algorithms.base import energies
from pcdiag.algorithms.compose import Algorithm
from pcdiag.algorithms.free import STATES
from pcdiag.algorithms.infer import InferenceRecord, measure
from pcdiag.algorithms.initialise import forward_init
from pcdiag.algorithms.optimizers import state_transform, weight_update
from pcdiag.algorithms.record import inference_record


def incremental(algorithm, prog, hyper, params, opt_state, batch, record):
    """Weight rule: a weight step on the batch-mean F at each of the T state steps."""
    size, x0, target = batch.x0.shape[0], batch.x0, batch.target
    optimizer = state_transform(prog, hyper.gamma, size)  # the gamma convention, then gamma

    def total_energy(p, states):
        per_layer = energies(prog, p, x0, states, target)
        return jnp.sum(per_layer), per_layer

    def step(carry, _):
        p, w_state, states, s_state, finite, _ = carry
        (total, per_layer), (grads, s_grads) = jax.value_and_grad(
            total_energy, argnums=(0, 1), has_aux=True
        )(p, states)
        grads = jax.tree_util.tree_map(lambda g: g / size, grads)  # batch-mean F for weights
        s_updates, s_state = optimizer.update(s_grads, s_state, states)
        states = optax.apply_updates(states, s_updates)
        p, w_state, _, grads = weight_update(prog, hyper, p, w_state, grads)
        out = None
        if batch.record_t:  # (2, L); the latent's norm apart where x_0 is free
            measured = measure(per_layer, s_grads, size, batch.record_norms)
            out = jnp.stack(measured[:2])
            if measured.latent_grad_norm is not None:
                out = (out, measured.latent_grad_norm)
        return (p, w_state, states, s_state, finite & jnp.isfinite(total), grads), out

    zero_grads = jax.tree_util.tree_map(jnp.zeros_like, params)
    states0 = batch.states0
    carry = (params, opt_state, states0, optimizer.init(states0), jnp.array(True), zero_grads)
    carry, stacked = jax.lax.scan(step, carry, None, length=prog.inference_steps)
    new_params, opt_state, states, _, finite, grads = carry
    inference = None
    if batch.record_t:
        stacked, latent = stacked if isinstance(stacked, tuple) else (stacked, None)
        inference = InferenceRecord(stacked[:, 0], stacked[:, 1], latent)
    final = None
    if batch.record_t:  # t = T: after the last update
        (total, per_layer), s_grads = jax.value_and_grad(
            lambda s: total_energy(new_params, s), has_aux=True
        )(states)
        final = measure(per_layer, s_grads, size, batch.record_norms)
    else:
        total, _ = total_energy(new_params, states)
    finite = finite & jnp.isfinite(total)
    if not record:
        return new_params, opt_state, finite, None
    change = jax.tree_util.tree_map(jnp.subtract, new_params, params)  # T updates in all
    out = inference_record(prog, algorithm, inference, final, grads, new_params, change, params,
                           batch, states[0] if prog.input_free else None)
    return new_params, opt_state, finite, out


INCREMENTAL = incremental

IPC = Algorithm(
    "ipc", INCREMENTAL, free=STATES, init=forward_init,
    description="incremental PC: states and weights updated together at every inference step",
)
