"""Standard predictive coding (and any variant that only changes what inference moves).

Forward initialisation, T state steps with the weights fixed, one weight step on the batch
mean of F at the final states x_T. Which variables inference moves is a `FreeVariables`
choice: the states (`STATES`, pc) or the errors (`ERRORS`, epc, in pcdiag.algorithms.epc).
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp

from pcdiag.algorithms import nudging
from pcdiag.algorithms.base import Algorithm, energies, mean_energy
from pcdiag.algorithms.infer import STATES, FreeVariables, forward_init, infer, measure
from pcdiag.algorithms.optimizers import weight_update
from pcdiag.algorithms.record import inference_record


def inference_then_learning(free: FreeVariables, prog, hyper, params, opt_state, x0, y, record):
    """Inference over `free` with the weights fixed, then one weight step at x_T."""
    batch = x0.shape[0]
    mu1 = prog.net.predict(params, 1, x0)
    record_t = record and prog.record_inference
    states0 = forward_init(params, mu1, prog.net)
    target = y
    if nudging.on(prog):  # the output clamped to y + (1 - beta)(u0 - y) for the batch
        u0 = prog.net.predict(params, prog.net.depth, states0[-1]) if states0 else mu1
        target = nudging.target(prog, hyper, u0, y)

    def to_states(z):
        return free.to_states(params, mu1, z, prog.net)

    def energy_fn(z):
        per_layer = energies(prog, params, x0, to_states(z), target, mu1=mu1)
        return jnp.sum(per_layer), per_layer

    z, inference, finite = infer(energy_fn, free.initial(states0), hyper.gamma, prog, record_t,
                                 batch)
    states = to_states(z)
    total, per_layer, grads, state_grads = weight_grads(prog, hyper, free, params, x0, z,
                                                        states, target)
    grads = nudging.scale_weight_grads(prog, hyper, grads)
    new_params, opt_state, change = weight_update(prog, hyper, params, opt_state, grads)
    finite = finite & jnp.isfinite(total)
    if not record:
        return new_params, opt_state, finite, None
    final = None
    if record_t:  # t = T: dF/dz at z_T
        if free is STATES:  # the weight step's state gradient is it (of the batch mean)
            z_grads = jax.tree_util.tree_map(lambda g: g * batch, state_grads)
        else:
            _, z_grads = jax.value_and_grad(energy_fn, has_aux=True)(z)
        final = measure(per_layer, z_grads, batch)
    out = inference_record(prog, free, inference, final, grads, new_params, change, params, mu1,
                           states0, x0, y)
    return new_params, opt_state, finite, out


def weight_grads(prog, hyper, free, params, x0, z, states, target):
    """The weight step's gradient of the batch-mean F at the inferred z_T (`states` = the
    states they give), by `prog.epc_weight_update` (Config's docstring): the local rule
    ("local"; also the state gradient, which pc's t = T record reuses), divided by
    min(1, per-sample gamma x T) ("local_scaled"), or through the chain of states that the
    fixed z give ("chain"). Returns (F, per-layer batch sums, weight grads, state grads or
    None)."""
    rule = prog.epc_weight_update
    if rule == "chain":
        def chain(p):
            return mean_energy(p, x0, free.to_states(p, prog.net.predict(p, 1, x0), z,
                                                     prog.net), target, prog)

        (total, per_layer), grads = jax.value_and_grad(chain, has_aux=True)(params)
        return total, per_layer, grads, None
    (total, per_layer), (grads, state_grads) = jax.value_and_grad(
        mean_energy, argnums=(0, 2), has_aux=True
    )(params, x0, states, target, prog)
    if rule == "local_scaled":
        inverse = 1.0 / local_scale(prog, hyper, x0.shape[0])
        grads = jax.tree_util.tree_map(lambda g: g * inverse, grads)
    return total, per_layer, grads, state_grads


def local_scale(prog, hyper, batch: int) -> jax.Array:
    """min(1, gamma_s T), gamma_s the per-sample state step (the ePC code's weight-loss
    divisor min(1, e_lr x iters), e_lr a step on the batch-summed energy)."""
    per_sample = hyper.gamma if prog.gamma_convention == "per_sample" else hyper.gamma / batch
    return jnp.minimum(1.0, per_sample * prog.inference_steps)


PC = Algorithm(
    "pc", partial(inference_then_learning, STATES), infers=True,
    description="forward init, T state steps (lr gamma), one weight step at x_T",
)
