"""One training step per algorithm, pure and jit-compatible.

- ``pc``: forward initialisation, T state steps (weights fixed), one weight step on the batch
  mean of F at the final states x_T.
- ``ipc``: states and weights updated together at every one of the T inference steps, both
  from the gradients at (x_t, theta_t); the record at t = T is read after the last update.
- ``epc``: like pc, but inference moves the errors e_l (x_l = mu_l(x_{l-1}) + e_l) instead of
  the states; the weight step is pc's local one at the final states.
- ``bp``: backprop on the batch-mean output loss of the feedforward pass, same network and
  weight optimizer; its energy records are NaN.

`weight_grad_norm` is the norm of the gradient the weight optimizer received (for ipc, at its
last update of the batch); `weight_norm` is read after the step; `update_norm` is the norm of
the update the weight optimizer added to theta_l in the step (for ipc, new - old: the sum of
its T updates). It is the optimizer's update, not new - old in float32, which rounds away
updates smaller than the weights' resolution (about 6e-8 of |theta|).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from pcdiag.config import Config
from pcdiag.energy import layer_energies, output_loss
from pcdiag.hessian import condition_number
from pcdiag.infer import (
    InferenceRecord,
    forward_init,
    infer,
    measure,
    scale_for_convention,
    state_optimizer,
    states_from_errors,
)
from pcdiag.model import Arch, Params, forward, init_params, layer_norms, layer_sizes, predict


@dataclass(frozen=True)
class Program:
    """The settings a compiled program depends on (shapes and code paths)."""

    sizes: tuple[int, ...]
    activation: str
    output_energy: str
    parameterization: str
    skip: bool
    precision: tuple[float, ...] | None
    algorithm: str
    inference_steps: int
    gamma_convention: str
    state_optimizer: str
    state_momentum: float
    weight_optimizer: str
    batch_size: int
    log_every: int
    record_inference: bool
    bp_alignment: bool
    hessian_samples: int

    @classmethod
    def from_config(cls, cfg: Config) -> Program:
        return cls(
            sizes=tuple(layer_sizes(cfg.depth, cfg.width)),
            activation=cfg.activation,
            output_energy=cfg.output_energy,
            parameterization=cfg.parameterization,
            skip=cfg.skip,
            precision=cfg.precision,
            algorithm=cfg.algorithm,
            inference_steps=cfg.inference_steps,
            gamma_convention=cfg.gamma_convention,
            state_optimizer=cfg.state_optimizer,
            state_momentum=cfg.state_momentum,
            weight_optimizer=cfg.weight_optimizer,
            batch_size=cfg.batch_size,
            log_every=cfg.log_every,
            record_inference=cfg.record_inference,
            bp_alignment=cfg.bp_alignment,
            hessian_samples=cfg.hessian_samples,
        )

    @property
    def depth(self) -> int:
        return len(self.sizes) - 1

    @property
    def arch(self) -> Arch:
        return Arch(self.activation, self.parameterization, self.skip)

    @property
    def records_energy(self) -> bool:
        return self.record_inference and self.algorithm != "bp"


class Hyper(NamedTuple):
    """Settings that change no shape: traced scalars, so runs over them share one program."""

    gamma: jax.Array
    weight_lr: jax.Array
    momentum: jax.Array
    weight_decay: jax.Array

    @classmethod
    def from_config(cls, cfg: Config) -> Hyper:
        return cls(*(jnp.float32(getattr(cfg, name)) for name in cls._fields))


class TrainState(NamedTuple):
    params: Params
    opt_state: Any
    key: jax.Array
    step: jax.Array  # weight updates done so far
    diverged_at: jax.Array  # first step with a non-finite energy or loss; -1 if none


class StepRecord(NamedTuple):
    """What one logged step records; energy and state_grad_norm are (T+1, L)."""

    energy: jax.Array | None
    state_grad_norm: jax.Array | None
    weight_grad_norm: jax.Array
    weight_norm: jax.Array
    update_norm: jax.Array
    train_loss: jax.Array
    bp_cosine: jax.Array | None
    hessian_condition: jax.Array | None


def weight_optimizer(prog: Program, hyper: Hyper) -> optax.GradientTransformation:
    """sgd / momentum with L2 weight decay (weight_decay * theta added to the gradient), or
    adamw (decoupled weight decay); learning rate `weight_lr`."""
    if prog.weight_optimizer == "adamw":
        return optax.adamw(hyper.weight_lr, weight_decay=hyper.weight_decay)
    momentum = hyper.momentum if prog.weight_optimizer == "momentum" else None
    return optax.chain(
        optax.add_decayed_weights(hyper.weight_decay),
        optax.sgd(hyper.weight_lr, momentum=momentum),
    )


def init_state(prog: Program, hyper: Hyper, key: jax.Array) -> TrainState:
    key_init, key_data = jax.random.split(key)
    params = init_params(key_init, list(prog.sizes), prog.parameterization)
    opt_state = weight_optimizer(prog, hyper).init(params)
    return TrainState(params, opt_state, key_data, jnp.int32(0), jnp.int32(-1))


def _weight_update(prog, hyper, params, opt_state, grads):
    """New weights, optimizer state and the update the optimizer added."""
    updates, opt_state = weight_optimizer(prog, hyper).update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state, updates


def _energies(prog, params, x0, states, y, mu1=None):
    """Per-layer energies summed over the batch, shape (L,)."""
    return layer_energies(
        params, x0, states, y, prog.arch, prog.output_energy, mu1=mu1, precision=prog.precision,
        batch_sum=True,
    )


def _mean_energy(params, x0, states, y, prog):
    """Batch-mean F (what the weight step descends) and the per-layer batch sums."""
    energies = _energies(prog, params, x0, states, y)
    return jnp.sum(energies) / x0.shape[0], energies


def output_loss_of(prog, params, x0, y) -> jax.Array:
    """Batch-mean output loss of the feedforward prediction (what bp minimises)."""
    return jnp.mean(output_loss(forward(params, x0, prog.arch)[-1], y, prog.output_energy))


def _join(first: InferenceRecord, last: InferenceRecord) -> tuple[jax.Array, jax.Array]:
    """Stack the records for t = 0..T-1 and the one for t = T into (T+1, L) arrays."""
    energy = jnp.concatenate([first.energy, last.energy[None]])
    grad_norm = jnp.concatenate([first.state_grad_norm, last.state_grad_norm[None]])
    return energy, grad_norm


def pc_step(prog, hyper, params, opt_state, x0, y, record):
    """pc and epc: inference with the weights fixed, then one weight step at x_T."""
    mu1 = predict(params, 1, x0, prog.arch)
    record_t = record and prog.record_inference
    states0 = forward_init(params, mu1, prog.arch)
    if prog.algorithm == "epc":

        def to_states(errors):
            return states_from_errors(params, mu1, errors, prog.arch)

        z0 = jax.tree_util.tree_map(jnp.zeros_like, states0)
    else:

        def to_states(states):
            return states

        z0 = states0

    def energy_fn(z):
        energies = _energies(prog, params, x0, to_states(z), y, mu1=mu1)
        return jnp.sum(energies), energies

    z, inference, finite = infer(energy_fn, z0, hyper.gamma, prog, record_t, x0.shape[0])
    states = to_states(z)
    (total, energies), (grads, state_grads) = jax.value_and_grad(
        _mean_energy, argnums=(0, 2), has_aux=True
    )(params, x0, states, y, prog)
    new_params, opt_state, change = _weight_update(prog, hyper, params, opt_state, grads)
    finite = finite & jnp.isfinite(total)
    if not record:
        return new_params, opt_state, finite, None
    final = None
    if record_t:
        if prog.algorithm == "epc":
            _, z_grads = jax.value_and_grad(energy_fn, has_aux=True)(z)
        else:
            z_grads = jax.tree_util.tree_map(lambda g: g * x0.shape[0], state_grads)
        final = measure(energies, z_grads, x0.shape[0])
    out = _logged(prog, inference, final, grads, new_params, change, params, mu1, states0, x0, y)
    return new_params, opt_state, finite, out


def ipc_step(prog, hyper, params, opt_state, x0, y, record):
    batch = x0.shape[0]
    optimizer = state_optimizer(prog.state_optimizer, hyper.gamma, prog.state_momentum)
    mu1 = predict(params, 1, x0, prog.arch)
    states0 = forward_init(params, mu1, prog.arch)
    record_t = record and prog.record_inference

    def total_energy(p, states):
        energies = _energies(prog, p, x0, states, y)
        return jnp.sum(energies), energies

    def step(carry, _):
        p, w_state, states, s_state, finite, _ = carry
        (total, energies), (grads, s_grads) = jax.value_and_grad(
            total_energy, argnums=(0, 1), has_aux=True
        )(p, states)
        grads = jax.tree_util.tree_map(lambda g: g / batch, grads)  # batch-mean F for weights
        s_in = scale_for_convention(s_grads, prog.gamma_convention, batch)
        s_updates, s_state = optimizer.update(s_in, s_state, states)
        states = optax.apply_updates(states, s_updates)
        p, w_state, _ = _weight_update(prog, hyper, p, w_state, grads)
        out = jnp.stack(measure(energies, s_grads, batch)) if record_t else None
        return (p, w_state, states, s_state, finite & jnp.isfinite(total), grads), out

    zero_grads = jax.tree_util.tree_map(jnp.zeros_like, params)
    carry = (params, opt_state, states0, optimizer.init(states0), jnp.array(True), zero_grads)
    carry, stacked = jax.lax.scan(step, carry, None, length=prog.inference_steps)
    new_params, opt_state, states, _, finite, grads = carry
    inference = InferenceRecord(stacked[:, 0], stacked[:, 1]) if record_t else None
    final = None
    if record_t:  # t = T: after the last update
        (total, energies), s_grads = jax.value_and_grad(
            lambda s: total_energy(new_params, s), has_aux=True
        )(states)
        final = measure(energies, s_grads, batch)
    else:
        total, _ = total_energy(new_params, states)
    finite = finite & jnp.isfinite(total)
    if not record:
        return new_params, opt_state, finite, None
    change = jax.tree_util.tree_map(jnp.subtract, new_params, params)  # T updates in all
    out = _logged(prog, inference, final, grads, new_params, change, params, mu1, states0, x0, y)
    return new_params, opt_state, finite, out


def bp_step(prog, hyper, params, opt_state, x0, y, record):
    loss, grads = jax.value_and_grad(output_loss_of, argnums=1)(prog, params, x0, y)
    new_params, opt_state, change = _weight_update(prog, hyper, params, opt_state, grads)
    finite = jnp.isfinite(loss)
    if not record:
        return new_params, opt_state, finite, None
    nan = None
    if prog.record_inference:
        nan = jnp.full((prog.inference_steps + 1, prog.depth), jnp.nan, jnp.float32)
    record = _step_record(prog, nan, nan, grads, new_params, change, params, loss, x0, y)
    if prog.hessian_samples:
        record = record._replace(hessian_condition=jnp.float32(jnp.nan))
    return new_params, opt_state, finite, record


STEPS = {"pc": pc_step, "epc": pc_step, "ipc": ipc_step, "bp": bp_step}


def _logged(prog, inference, final, grads, new_params, change, params, mu1, states0, x0, y):
    """The StepRecord of a pc / epc / ipc step: per-t records (t = 0..T-1 from `inference`,
    t = T from `final`, both None when per-t recording is off) and the per-step ones."""
    energy = grad_norm = None
    if final is not None:
        energy, grad_norm = _join(inference, final)
    loss = jnp.mean(output_loss(_output_from(params, mu1, states0, prog), y, prog.output_energy))
    out = _step_record(prog, energy, grad_norm, grads, new_params, change, params, loss, x0, y)
    if prog.hessian_samples:
        out = out._replace(hessian_condition=_hessian_condition(prog, params, x0, y, mu1))
    return out


def _output_from(params, mu1, states0, prog):
    """mu_L of the feedforward pass, from the forward-initialised top hidden node."""
    return predict(params, len(params), states0[-1], prog.arch) if states0 else mu1


def _cosines(a, b) -> jax.Array:
    """Per-layer cosine between two parameter trees (W and b of a layer taken together)."""
    dots = jnp.stack([jnp.sum(wa * wb) + jnp.sum(ba * bb) for (wa, ba), (wb, bb) in zip(a, b)])
    return dots / (layer_norms(a) * layer_norms(b))


def _step_record(prog, energy, grad_norm, grads, new_params, change, old_params, loss, x0, y):
    cosine = None
    if prog.bp_alignment:
        if prog.algorithm == "bp":
            cosine = jnp.full((prog.depth,), jnp.nan, jnp.float32)
        else:
            bp_grads = jax.grad(output_loss_of, argnums=1)(prog, old_params, x0, y)
            cosine = _cosines(grads, bp_grads)
    weight_grad_norm, weight_norm, update_norm = layer_norms(grads, new_params, change)
    return StepRecord(
        energy,
        grad_norm,
        weight_grad_norm,
        weight_norm,
        update_norm,
        loss,
        cosine,
        None,
    )


def _hessian_condition(prog, params, x0, y, mu1) -> jax.Array:
    """Median over the batch's first `hessian_samples` samples of the condition number of
    the Hessian of F_i w.r.t. the inference variables (states; errors for epc) at t = 0."""
    count = prog.hessian_samples
    if prog.depth == 1:
        return jnp.float32(jnp.nan)

    def one(x0_i, y_i, mu1_i, key):
        one_params = params
        states0 = forward_init(one_params, mu1_i[None], prog.arch)

        def energy(z):
            z = tuple(v[None] for v in z)
            if prog.algorithm == "epc":
                z = states_from_errors(one_params, mu1_i[None], z, prog.arch)
            return jnp.sum(_energies(prog, one_params, x0_i[None], z, y_i[None], mu1=mu1_i[None]))

        z0 = tuple(s[0] for s in states0)
        if prog.algorithm == "epc":
            z0 = tuple(jnp.zeros_like(s) for s in z0)
        return condition_number(energy, z0, key)

    keys = jax.random.split(jax.random.PRNGKey(0), count)
    return jnp.median(jax.vmap(one)(x0[:count], y[:count], mu1[:count], keys))


def train_step(
    prog: Program, hyper: Hyper, state: TrainState, x0: jax.Array, y: jax.Array, record: bool
) -> tuple[TrainState, StepRecord | None]:
    """One weight update on a batch (x0 images, y one-hot targets)."""
    params, opt_state, finite, out = STEPS[prog.algorithm](
        prog, hyper, state.params, state.opt_state, x0, y, record
    )
    first_bad = (state.diverged_at < 0) & ~finite
    diverged_at = jnp.where(first_bad, state.step, state.diverged_at)
    return TrainState(params, opt_state, state.key, state.step + 1, diverged_at), out
