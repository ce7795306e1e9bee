"""The optax optimizers of states (learning rate gamma) and weights, and the one place each
gradient is scaled before its optimizer (`state_transform`, `weight_update`; the scalings
are optax transforms, pcdiag.algorithms.scalings)."""

from __future__ import annotations

import jax
import optax

from pcdiag.algorithms import nudging
from pcdiag.algorithms.scalings import gamma_convention


def state_optimizer(name: str, gamma: jax.Array,
                    state_momentum: float) -> optax.GradientTransformation:
    """The optax transformation that moves the free variables with learning rate gamma."""
    if name == "sgd":
        return optax.sgd(gamma)
    if name == "momentum":
        return optax.sgd(gamma, momentum=state_momentum)
    return optax.adam(gamma)


def state_transform(prog, gamma: jax.Array, batch_size: int) -> optax.GradientTransformation:
    """What inference applies to dF/dz (F summed over the batch): the gamma convention's
    scaling, then the state optimizer."""
    return optax.chain(gamma_convention(prog.gamma_convention, batch_size),
                       state_optimizer(prog.state_optimizer, gamma, prog.state_momentum))


def weight_schedule(prog, weight_lr):
    """The weight learning rate: `weight_lr` itself (``lr_schedule="constant"``) or an optax
    schedule of the update count (kept in the optimizer state).

    ``"warmup_cosine"`` is optax's ``warmup_cosine_decay_schedule(init_value=weight_lr,
    peak_value=lr_peak_factor * weight_lr, warmup_steps, decay_steps, end_value=lr_end_factor
    * weight_lr)``, built from the same optax pieces (linear warmup joined to a cosine decay)
    because optax's own function tests ``peak_value == 0`` in Python, which a traced
    `weight_lr` cannot answer; its alpha = end / peak is lr_end_factor / lr_peak_factor.
    Program.from_config has filled in the step counts."""
    if prog.lr_schedule == "constant":
        return weight_lr
    warmup, decay = prog.lr_warmup_steps, prog.lr_decay_steps
    peak = prog.lr_peak_factor * weight_lr
    return optax.join_schedules([
        optax.linear_schedule(init_value=weight_lr, end_value=peak, transition_steps=warmup),
        optax.cosine_decay_schedule(init_value=peak, decay_steps=decay - warmup,
                                    alpha=prog.lr_end_factor / prog.lr_peak_factor),
    ], [warmup])


def weight_optimizer(prog, hyper) -> optax.GradientTransformation:
    """sgd / momentum with L2 weight decay (weight_decay * theta added to the gradient), or
    adamw (decoupled weight decay); learning rate `weight_lr`, or its schedule
    (`weight_schedule`). Its state is the TrainState's `opt_state`."""
    lr = weight_schedule(prog, hyper.weight_lr)
    if prog.weight_optimizer == "adamw":
        return optax.adamw(lr, weight_decay=hyper.weight_decay)
    momentum = hyper.momentum if prog.weight_optimizer == "momentum" else None
    return optax.chain(
        optax.add_decayed_weights(hyper.weight_decay),
        optax.sgd(lr, momentum=momentum),
    )


def weight_update(prog, hyper, params, opt_state, grads, scaling=None):
    """One weight step, the one place a weight gradient is scaled: `grads` through the weight
    rule's own `scaling` (an optax transform, or None), then nudging's 1 / beta
    (`nudging.weight_scaling`), both stateless and chained in front of the weight optimizer.

    Returns the new weights, the optimizer state, the update it added and the gradient it
    received (the scaled one, which the step's record reads). The scalings keep no state, so
    `opt_state` is the weight optimizer's own (`weight_optimizer(...).init(params)`).
    """
    scale = optax.chain(scaling or optax.identity(), nudging.weight_scaling(prog, hyper))
    grads, _ = scale.update(grads, scale.init(params), params)
    updates, opt_state = weight_optimizer(prog, hyper).update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state, updates, grads
