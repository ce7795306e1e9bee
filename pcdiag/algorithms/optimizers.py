"""The optax optimizers of states (learning rate gamma) and weights, and the gamma
convention."""

from __future__ import annotations

import jax
import optax


def state_optimizer(name: str, gamma: jax.Array,
                    state_momentum: float) -> optax.GradientTransformation:
    """The optax transformation that moves the free variables with learning rate gamma."""
    if name == "sgd":
        return optax.sgd(gamma)
    if name == "momentum":
        return optax.sgd(gamma, momentum=state_momentum)
    return optax.adam(gamma)


def scale_for_convention(grads, convention: str, batch_size: int):
    """Gradients of the summed per-sample energies -> what the state optimizer receives."""
    if convention == "per_sample":
        return grads
    return jax.tree_util.tree_map(lambda g: g / batch_size, grads)


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
    (`weight_schedule`)."""
    lr = weight_schedule(prog, hyper.weight_lr)
    if prog.weight_optimizer == "adamw":
        return optax.adamw(lr, weight_decay=hyper.weight_decay)
    momentum = hyper.momentum if prog.weight_optimizer == "momentum" else None
    return optax.chain(
        optax.add_decayed_weights(hyper.weight_decay),
        optax.sgd(lr, momentum=momentum),
    )


def weight_update(prog, hyper, params, opt_state, grads):
    """New weights, optimizer state and the update the optimizer added."""
    updates, opt_state = weight_optimizer(prog, hyper).update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state, updates
