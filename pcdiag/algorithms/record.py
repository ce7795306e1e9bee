"""The StepRecord of a logged step: per-t records from inference, and the per-step ones
(norms, loss, and when switched on bp_cosine, hessian_condition and hessian_lambda_max).
What each variable means is declared in pcdiag.records."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from pcdiag.algorithms.base import energies, output_loss_of
from pcdiag.algorithms.infer import InferenceRecord
from pcdiag.energy import output_loss
from pcdiag.hessian import extreme_eigenvalues
from pcdiag.nets.base import cosines, layer_norms
from pcdiag.records import STEP_FIELDS, StepRecord


def join(first: InferenceRecord, last: InferenceRecord) -> InferenceRecord:
    """Stack the records for t = 0..T-1 and the one for t = T into (T+1, L) arrays ((T+1,)
    for the latent's)."""
    return InferenceRecord(*(None if a is None else jnp.concatenate([a, b[None]])
                             for a, b in zip(first, last)))


def reconstruction_loss(prog, params, latent: jax.Array, target: jax.Array) -> jax.Array:
    """Batch-mean output energy of the decoder's feedforward output from `latent` (the
    record's train_loss where the input node is free: how well the inferred latent
    reconstructs the training batch)."""
    return jnp.mean(output_loss(prog.net.forward(params, latent)[-1], target,
                                prog.output_energy))


def step_record(prog, energy, grad_norm, grads, new_params, change, old_params, loss, x0, y,
                bp_cosine=None, hessian=None, latent_grad_norm=None,
                norms: bool = True) -> StepRecord:
    """A StepRecord from a step's pieces (None for a record that is off; `hessian`: the pair
    (condition number, lambda_max) of `hessian_probe`); without `norms` the per-layer weight,
    gradient and update norms are NaN (a logged step between two of norms_every)."""
    if prog.bp_alignment and bp_cosine is None:
        bp_grads = jax.grad(output_loss_of, argnums=1)(prog, old_params, x0, y)
        bp_cosine = cosines(grads, bp_grads)
    if norms:
        weight_grad_norm, weight_norm, update_norm = layer_norms(grads, new_params, change)
    else:
        weight_grad_norm = weight_norm = update_norm = jnp.full((len(new_params),), jnp.nan,
                                                                jnp.float32)
    values = dict(energy=energy, state_grad_norm=grad_norm, latent_grad_norm=latent_grad_norm,
                  weight_grad_norm=weight_grad_norm,
                  weight_norm=weight_norm, update_norm=update_norm, train_loss=loss,
                  bp_cosine=bp_cosine if prog.bp_alignment else None,
                  hessian_condition=hessian[0] if prog.hessian_samples else None,
                  hessian_lambda_max=hessian[1] if prog.hessian_samples else None)
    return StepRecord(**{name: values.get(name) for name in STEP_FIELDS})


def inference_record(prog, algorithm, inference, final, grads, new_params, change, params,
                     batch, latent=None) -> StepRecord:
    """The StepRecord of a step that ran inference (pc, epc, ipc): per-t records (t = 0..T-1
    from `inference`, t = T from `final`, both None when per-t recording is off) and the
    per-step ones (the loss of the output's prediction `batch.u0`, at the old weights; where
    the input node is free, of the decoder's output from the inferred `latent`)."""
    joined = InferenceRecord(None, None) if final is None else join(inference, final)
    energy, grad_norm, latent_grad_norm = joined
    if latent is not None:
        loss = reconstruction_loss(prog, params, latent, batch.y)
    else:
        loss = jnp.mean(output_loss(batch.u0, batch.y, prog.output_energy))
    hessian = None
    if prog.hessian_samples:
        hessian = hessian_probe(prog, algorithm, params, batch.x0, batch.y, batch.mu1)
    return step_record(prog, energy, grad_norm, grads, new_params, change, params, loss,
                       batch.x0, batch.y, hessian=hessian, latent_grad_norm=latent_grad_norm,
                       norms=batch.record_norms)


def hessian_probe(prog, algorithm, params, x0, y, mu1) -> tuple[jax.Array, jax.Array]:
    """Over the batch's first `hessian_samples` samples, the medians of the condition number
    lambda_max / lambda_min and of lambda_max of the Hessian of F_i w.r.t. the free variables
    (`algorithm.free`: states; errors for epc) at t = 0 (at the states `algorithm.init`
    gives: forward initialisation). NaN for a network without free nodes (depth 1)."""
    count, free = prog.hessian_samples, algorithm.free
    if prog.net.depth == 1:
        return jnp.float32(jnp.nan), jnp.float32(jnp.nan)

    def one(x0_i, y_i, mu1_i, key):
        states0 = algorithm.init(params, mu1_i[None], prog.net)

        def energy(z):
            z = tuple(v[None] for v in z)
            states = free.to_states(params, mu1_i[None], z, prog.net)
            return jnp.sum(energies(prog, params, x0_i[None], states, y_i[None],
                                    mu1=mu1_i[None]))

        z0 = tuple(s[0] for s in free.initial(states0))
        low, high = extreme_eigenvalues(energy, z0, key)
        return high / low, high

    keys = jax.random.split(jax.random.PRNGKey(0), count)
    condition, lambda_max = jax.vmap(one)(x0[:count], y[:count], mu1[:count], keys)
    return jnp.median(condition), jnp.median(lambda_max)
