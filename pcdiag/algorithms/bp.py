"""Backprop on the batch-mean output loss of the feedforward pass: the same network and
weight optimizer as the PC algorithms, the baseline. It runs no inference, so its per-t
records (and bp_cosine, hessian_condition, hessian_lambda_max) are NaN."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from pcdiag.algorithms.base import Algorithm, output_loss_of
from pcdiag.algorithms.optimizers import weight_update
from pcdiag.algorithms.record import step_record


def bp_step(prog, hyper, params, opt_state, x0, y, record):
    loss, grads = jax.value_and_grad(output_loss_of, argnums=1)(prog, params, x0, y)
    new_params, opt_state, change = weight_update(prog, hyper, params, opt_state, grads)
    finite = jnp.isfinite(loss)
    if not record:
        return new_params, opt_state, finite, None
    nan = None
    if prog.record_inference:
        nan = jnp.full((prog.inference_steps + 1, prog.net.depth), jnp.nan, jnp.float32)
    out = step_record(prog, nan, nan, grads, new_params, change, params, loss, x0, y,
                      bp_cosine=jnp.full((prog.net.depth,), jnp.nan, jnp.float32),
                      hessian=(jnp.float32(jnp.nan), jnp.float32(jnp.nan)))
    return new_params, opt_state, finite, out


BP = Algorithm(
    "bp", bp_step, infers=False,
    description="backprop on the output loss, same network and weight optimizer",
)
