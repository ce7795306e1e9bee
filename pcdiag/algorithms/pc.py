"""Standard predictive coding, and the weight rules that step once after inference.

pc = forward initialisation (`forward_init`), T state steps with the weights fixed
(`STATES`), one weight step on the batch mean of F at the final states x_T (`LOCAL`).
`AfterInference` is that weight rule for any free variables and any weight gradient at z_T:
epc (pcdiag.algorithms.epc) reuses it with the errors and its three gradients.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from pcdiag.algorithms.base import energies, mean_energy
from pcdiag.algorithms.compose import Algorithm
from pcdiag.algorithms.free import STATES
from pcdiag.algorithms.infer import infer, measure
from pcdiag.algorithms.initialise import forward_init
from pcdiag.algorithms.optimizers import weight_update
from pcdiag.algorithms.record import inference_record


class Gradient(NamedTuple):
    """A weight gradient at z_T: F (the batch mean), its per-layer batch sums, the weight
    gradient, and the state gradient of the same F when the rule computed it (else None)."""

    total: jax.Array
    per_layer: jax.Array
    grads: object
    state_grads: object | None


def local_gradient(prog, free, params, batch, z, states) -> Gradient:
    """The local rule: the gradient of the batch-mean F w.r.t. the weights at the states
    `states` (those z gives), each state held fixed; also its state gradient."""
    (total, per_layer), (grads, state_grads) = jax.value_and_grad(
        mean_energy, argnums=(0, 2), has_aux=True
    )(params, batch.x0, states, batch.target, prog)
    return Gradient(total, per_layer, grads, state_grads)


def no_scaling(prog, hyper, batch_size: int) -> None:
    """A weight rule's own gradient scaling: none."""
    return None


@dataclass(frozen=True)
class AfterInference:
    """Weight rule: inference over `algorithm.free` with the weights fixed, then one weight
    step on the batch-mean F at z_T, its gradient from ``gradient(prog, free, params,
    batch, z, states) -> Gradient``, scaled by ``scaling(prog, hyper, batch_size)`` (an
    optax transform or None) in `weight_update`."""

    name: str
    gradient: Callable[..., Gradient]
    scaling: Callable[..., optax.GradientTransformation | None] = no_scaling

    def __call__(self, algorithm, prog, hyper, params, opt_state, batch, record):
        free, size = algorithm.free, batch.x0.shape[0]

        def energy_fn(z):
            states = free.to_states(params, batch.mu1, z, prog.net)
            per_layer = energies(prog, params, batch.x0, states, batch.target, mu1=batch.mu1)
            return jnp.sum(per_layer), per_layer

        z, inference, finite = infer(energy_fn, free.initial(batch.states0), hyper.gamma, prog,
                                     batch.record_t, size, batch.key, batch.record_norms)
        states = free.to_states(params, batch.mu1, z, prog.net)
        total, per_layer, grads, state_grads = self.gradient(prog, free, params, batch, z,
                                                             states)
        new_params, opt_state, change, grads = weight_update(
            prog, hyper, params, opt_state, grads, self.scaling(prog, hyper, size))
        finite = finite & jnp.isfinite(total)
        if not record:
            return new_params, opt_state, finite, None
        final = None
        if batch.record_t:  # t = T: dF/dz at z_T
            if not batch.record_norms:  # only its shapes are read
                z_grads = z
            elif free.is_states and state_grads is not None:  # the weight step's (batch mean)
                z_grads = jax.tree_util.tree_map(lambda g: g * size, state_grads)
            else:
                _, z_grads = jax.value_and_grad(energy_fn, has_aux=True)(z)
            final = measure(per_layer, z_grads, size, batch.record_norms)
        out = inference_record(prog, algorithm, inference, final, grads, new_params, change,
                               params, batch, states[0] if prog.input_free else None)
        return new_params, opt_state, finite, out


LOCAL = AfterInference("local", local_gradient)

PC = Algorithm(
    "pc", LOCAL, free=STATES, init=forward_init,
    description="forward init, T state steps (lr gamma), one weight step at x_T",
)
