"""Error-optimised PC (Goemaere et al. 2025): pc's parts with the errors e_l as the free
variables (x_l = mu_l(x_{l-1}) + e_l, `ERRORS`), so the output error reaches every layer in
one inference step. The weight rule is `epc_weight_update` (Config's docstring), one of
`EPC_RULES`: pc's local gradient at the final states (`LOCAL`, default), that divided by
min(1, gamma_s T) as in the ePC paper's code (`LOCAL_SCALED`: the division is an optax
transform, `local_scaling`), or jpc's gradient through the chain at fixed errors (`CHAIN`).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

from pcdiag.algorithms.base import mean_energy
from pcdiag.algorithms.compose import Algorithm, ChosenBy
from pcdiag.algorithms.free import ERRORS
from pcdiag.algorithms.initialise import forward_init
from pcdiag.algorithms.pc import LOCAL, AfterInference, Gradient, local_gradient
from pcdiag.algorithms.scalings import multiply_by


def chain_gradient(prog, free, params, batch, z, states) -> Gradient:
    """The gradient of the batch-mean F through the chain of states that the fixed z give
    (states recomputed from z with the weights differentiated); no state gradient."""
    def chain(p):
        mu1 = prog.net.predict(p, 1, batch.x0)
        return mean_energy(p, batch.x0, free.to_states(p, mu1, z, prog.net), batch.target,
                           prog)

    (total, per_layer), grads = jax.value_and_grad(chain, has_aux=True)(params)
    return Gradient(total, per_layer, grads, None)


def local_scale(prog, hyper, batch: int) -> jax.Array:
    """min(1, gamma_s T), gamma_s the per-sample state step (the ePC code's weight-loss
    divisor min(1, e_lr x iters), e_lr a step on the batch-summed energy)."""
    per_sample = hyper.gamma if prog.gamma_convention == "per_sample" else hyper.gamma / batch
    return jnp.minimum(1.0, per_sample * prog.inference_steps)


def local_scaling(prog, hyper, batch: int) -> optax.GradientTransformation:
    """The weight gradient times 1 / min(1, gamma_s T) (`local_scale`)."""
    return multiply_by(1.0 / local_scale(prog, hyper, batch))


LOCAL_SCALED = AfterInference("local_scaled", local_gradient, local_scaling)
CHAIN = AfterInference("chain", chain_gradient)
#: epc's weight rules by `epc_weight_update` value (config.EPC_WEIGHT_UPDATES).
EPC_RULES = ChosenBy("epc_weight_update", (LOCAL, LOCAL_SCALED, CHAIN))

EPC = Algorithm(
    "epc", EPC_RULES, free=ERRORS, init=forward_init,
    description="inference moves the errors e_l (x_l = mu_l(x_{l-1}) + e_l); weight step: "
                "epc_weight_update (local, local_scaled, chain)",
)
