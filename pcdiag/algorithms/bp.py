"""Backprop on the batch-mean output loss of the feedforward pass: the same network and
weight optimizer as the PC algorithms, the baseline. It has no states and runs no inference
(no `init`, no `free`; the weight rule `BACKPROP`), so its per-t records (and bp_cosine,
hessian_condition, hessian_lambda_max) are NaN."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from pcdiag.algorithms.base import output_loss_of
from pcdiag.algorithms.compose import Algorithm
from pcdiag.algorithms.optimizers import weight_update
from pcdiag.algorithms.record import step_record


def backprop(algorithm, prog, hyper, params, opt_state, batch, record):
    """Weight rule: one weight step on the gradient of the output loss."""
    x0, y = batch.x0, batch.y
    loss, grads = jax.value_and_grad(output_loss_of, argnums=1)(prog, params, x0, y)
    new_params, opt_state, change, grads = weight_update(prog, hyper, params, opt_state, grads)
    finite = jnp.isfinite(loss)
    if not record:
        return new_params, opt_state, finite, None
    nan = None
    if prog.record_inference:
        nan = jnp.full((prog.inference_steps + 1, prog.net.depth), jnp.nan, jnp.float32)
    out = step_record(prog, nan, nan, grads, new_params, change, params, loss, x0, y,
                      bp_cosine=jnp.full((prog.net.depth,), jnp.nan, jnp.float32),
                      hessian=(jnp.float32(jnp.nan), jnp.float32(jnp.nan)),
                      norms=batch.record_norms)
    return new_params, opt_state, finite, out


BACKPROP = backprop

BP = Algorithm(
    "bp", BACKPROP,
    description="backprop on the output loss, same network and weight optimizer",
)
