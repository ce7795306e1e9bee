"""Output nudging, as PCX's discriminative benchmarks define it (`Config.nudging`).

With nudging on, the output node is clamped for the whole batch to

    h = u0 - beta (u0 - y),  computed as  y + (1 - beta)(u0 - y)  (so beta = 1 gives y exactly)

where u0 is the output's feedforward prediction at forward initialisation (PCX sets the
frozen output value h once, in the forward pass of the INIT step; here `target`, set up once
per step by pcdiag.algorithms.compose.prepare), and the weight gradient is multiplied by
1 / beta (PCX's ``optim_w.step(..., mul=1/beta)``; here `weight_scaling`, an optax transform
that pcdiag.algorithms.optimizers.weight_update applies). beta = 1 is today's clamped output;
beta = 0 leaves the output at its prediction (free: no energy, no gradient; the 1 / beta is
then skipped). Positive nudging has beta > 0, negative nudging beta < 0 (the output is
pushed away from the target and the 1 / beta flips the weight step back), centred nudging
changes the sign from epoch to epoch.

beta changes per epoch only (PCX's ``beta + beta_ir * e``, clipped at 1 in magnitude), so it
is a traced setting (`Hyper.nudge_beta`) that the loop sets before each epoch
(`epoch_hyper`): no recompilation, and a vmapped sweep may mix betas.

At beta = 1 the target is y bit for bit and the gradient is multiplied by exactly 1, but the
nudged program is another XLA program than the clamped one (nudging "off"), and XLA may
emit its dots with another summation order: the two runs agree to float32 rounding (about
1e-6 relative after a few steps), not bit for bit. `nudging="off"` is today's program.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax

from pcdiag.algorithms.scalings import multiply_by


def on(prog) -> bool:
    return prog.nudging != "off"


def target(prog, hyper, u0: jax.Array, y: jax.Array) -> jax.Array:
    """What the output node is clamped to: y (nudging off) or y + (1 - beta)(u0 - y)."""
    if not on(prog):
        return y
    beta = hyper.nudge_beta.astype(y.dtype)
    return y + (1 - beta) * (jax.lax.stop_gradient(u0) - y)


def weight_scaling(prog, hyper) -> optax.GradientTransformation:
    """The weight gradient times 1 / beta, an optax transform (the identity with nudging
    off; a factor of 1 at beta = 0)."""
    if not on(prog):
        return optax.identity()
    beta = hyper.nudge_beta
    scale = jnp.where(beta == 0, 1.0, 1.0 / jnp.where(beta == 0, 1.0, beta))
    return multiply_by(scale, cast=True)


def sign(prog, epoch: int) -> float:
    """The sign of beta in epoch `epoch` (0-based)."""
    if prog.nudging == "positive":
        return 1.0
    if prog.nudging == "negative":
        return -1.0
    if prog.nudge_signs is not None:
        return 1.0 if prog.nudge_signs[epoch] == "+" else -1.0
    return 1.0 if epoch % 2 == 0 else -1.0


def epoch_beta(prog, nudge_beta, nudge_beta_step, epoch: int) -> np.ndarray:
    """Signed beta of epoch `epoch` (0-based): sign x min(beta + step x epoch, 1), in
    float64 from the configured values, as PCX computes it in Python."""
    magnitude = np.minimum(np.asarray(nudge_beta, np.float64)
                           + np.asarray(nudge_beta_step, np.float64) * epoch, 1.0)
    return sign(prog, epoch) * magnitude


def epoch_hyper(prog, hyper, epoch: int):
    """`hyper` with `nudge_beta` replaced by the signed beta of epoch `epoch` (0-based);
    `hyper` itself with nudging off."""
    if not on(prog):
        return hyper
    beta = epoch_beta(prog, np.asarray(hyper.nudge_beta), np.asarray(hyper.nudge_beta_step),
                      epoch)
    return hyper._replace(nudge_beta=jnp.asarray(beta, jnp.float32))
