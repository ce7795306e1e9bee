"""Incremental PC: states and weights updated together at every one of the T inference
steps, both from the gradients at (x_t, theta_t); the record at t = T is read after the last
update. `update_norm` is new - old (the sum of its T updates); `weight_grad_norm` is the
gradient of its last update."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

from pcdiag.algorithms import nudging
from pcdiag.algorithms.base import Algorithm, energies
from pcdiag.algorithms.infer import STATES, InferenceRecord, forward_init, measure
from pcdiag.algorithms.optimizers import scale_for_convention, state_optimizer, weight_update
from pcdiag.algorithms.record import inference_record


def ipc_step(prog, hyper, params, opt_state, x0, y, record):
    batch = x0.shape[0]
    optimizer = state_optimizer(prog.state_optimizer, hyper.gamma, prog.state_momentum)
    mu1 = prog.net.predict(params, 1, x0)
    states0 = forward_init(params, mu1, prog.net)
    record_t = record and prog.record_inference
    target = y
    if nudging.on(prog):  # the output clamped to y + (1 - beta)(u0 - y) for the batch
        u0 = prog.net.predict(params, prog.net.depth, states0[-1]) if states0 else mu1
        target = nudging.target(prog, hyper, u0, y)

    def total_energy(p, states):
        per_layer = energies(prog, p, x0, states, target)
        return jnp.sum(per_layer), per_layer

    def step(carry, _):
        p, w_state, states, s_state, finite, _ = carry
        (total, per_layer), (grads, s_grads) = jax.value_and_grad(
            total_energy, argnums=(0, 1), has_aux=True
        )(p, states)
        grads = jax.tree_util.tree_map(lambda g: g / batch, grads)  # batch-mean F for weights
        grads = nudging.scale_weight_grads(prog, hyper, grads)
        s_in = scale_for_convention(s_grads, prog.gamma_convention, batch)
        s_updates, s_state = optimizer.update(s_in, s_state, states)
        states = optax.apply_updates(states, s_updates)
        p, w_state, _ = weight_update(prog, hyper, p, w_state, grads)
        out = jnp.stack(measure(per_layer, s_grads, batch)) if record_t else None
        return (p, w_state, states, s_state, finite & jnp.isfinite(total), grads), out

    zero_grads = jax.tree_util.tree_map(jnp.zeros_like, params)
    carry = (params, opt_state, states0, optimizer.init(states0), jnp.array(True), zero_grads)
    carry, stacked = jax.lax.scan(step, carry, None, length=prog.inference_steps)
    new_params, opt_state, states, _, finite, grads = carry
    inference = InferenceRecord(stacked[:, 0], stacked[:, 1]) if record_t else None
    final = None
    if record_t:  # t = T: after the last update
        (total, per_layer), s_grads = jax.value_and_grad(
            lambda s: total_energy(new_params, s), has_aux=True
        )(states)
        final = measure(per_layer, s_grads, batch)
    else:
        total, _ = total_energy(new_params, states)
    finite = finite & jnp.isfinite(total)
    if not record:
        return new_params, opt_state, finite, None
    change = jax.tree_util.tree_map(jnp.subtract, new_params, params)  # T updates in all
    out = inference_record(prog, STATES, inference, final, grads, new_params, change, params,
                           mu1, states0, x0, y)
    return new_params, opt_state, finite, out


IPC = Algorithm(
    "ipc", ipc_step, infers=True,
    description="incremental PC: states and weights updated together at every inference step",
)
