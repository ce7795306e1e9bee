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


def weight_optimizer(prog, hyper) -> optax.GradientTransformation:
    """sgd / momentum with L2 weight decay (weight_decay * theta added to the gradient), or
    adamw (decoupled weight decay); learning rate `weight_lr`."""
    if prog.weight_optimizer == "adamw":
        return optax.adamw(hyper.weight_lr, weight_decay=hyper.weight_decay)
    momentum = hyper.momentum if prog.weight_optimizer == "momentum" else None
    return optax.chain(
        optax.add_decayed_weights(hyper.weight_decay),
        optax.sgd(hyper.weight_lr, momentum=momentum),
    )


def weight_update(prog, hyper, params, opt_state, grads):
    """New weights, optimizer state and the update the optimizer added."""
    updates, opt_state = weight_optimizer(prog, hyper).update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state, updates
