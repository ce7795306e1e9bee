"""Conditioning of inference: the Hessian of a sample's energy F_i w.r.t. its free states.

Exact (dense jax.hessian + eigvalsh) for small networks; Lanczos on Hessian-vector products
(full reorthogonalisation, k iterations) for large ones. Both are pure and jit-compatible, so
the trainer can record the extreme eigenvalues (the condition number lambda_max / lambda_min
and lambda_max itself, which bounds the stable state step) inside its compiled loop.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree

from pcdiag.nets.conv import forward_mode_autodiff

#: Largest number of free units for which the dense Hessian is used by default.
EXACT_MAX_UNITS = 512
LANCZOS_STEPS = 64


def extreme_eigenvalues_exact(hessian: jax.Array) -> tuple[jax.Array, jax.Array]:
    eigenvalues = jnp.linalg.eigvalsh(hessian)
    return eigenvalues[0], eigenvalues[-1]


def lanczos_extremes(
    hvp: Callable[[jax.Array], jax.Array], n: int, key: jax.Array, steps: int = LANCZOS_STEPS
) -> tuple[jax.Array, jax.Array]:
    """Smallest and largest Ritz values of a symmetric operator after `steps` Lanczos steps.

    Full reorthogonalisation keeps the basis orthonormal in float32; with steps = n the Ritz
    values are the exact eigenvalues.
    """
    steps = min(steps, n)
    v0 = jax.random.normal(key, (n,))
    v0 = v0 / jnp.linalg.norm(v0)
    basis = jnp.zeros((steps, n)).at[0].set(v0)

    def body(i, carry):
        basis, alphas, betas = carry
        v = basis[i]
        w = hvp(v)
        alpha = jnp.dot(w, v)
        w = w - basis.T @ (basis @ w)  # full reorthogonalisation (rows > i are zero)
        w = w - basis.T @ (basis @ w)
        beta = jnp.linalg.norm(w)
        nxt = jnp.where(beta > 1e-10, w / jnp.maximum(beta, 1e-30), 0.0)
        basis = jnp.where(i + 1 < steps, basis.at[(i + 1) % steps].set(nxt), basis)
        return basis, alphas.at[i].set(alpha), betas.at[i].set(beta)

    carry = (basis, jnp.zeros(steps), jnp.zeros(steps))
    _, alphas, betas = jax.lax.fori_loop(0, steps, body, carry)
    tridiagonal = jnp.diag(alphas) + jnp.diag(betas[:-1], 1) + jnp.diag(betas[:-1], -1)
    ritz = jnp.linalg.eigvalsh(tridiagonal)
    return ritz[0], ritz[-1]


def extreme_eigenvalues(
    energy_of_sample: Callable, states: tuple[jax.Array, ...], key: jax.Array, method: str = "auto"
) -> tuple[jax.Array, jax.Array]:
    """(lambda_min, lambda_max) of the Hessian of `energy_of_sample(states)` (a scalar) w.r.t.
    `states` (one sample's free nodes). method: "exact", "lanczos" or "auto" (by size)."""
    flat, unravel = ravel_pytree(states)
    n = flat.shape[0]

    def energy(v):
        return energy_of_sample(unravel(v))

    with forward_mode_autodiff():  # convolutions without their reverse-only gradient
        if method == "exact" or (method == "auto" and n <= EXACT_MAX_UNITS):
            low, high = extreme_eigenvalues_exact(jax.hessian(energy)(flat))
        else:
            grad = jax.grad(energy)

            def hvp(v):
                return jax.jvp(grad, (flat,), (v,))[1]

            low, high = lanczos_extremes(hvp, n, key)
    return low, high


def condition_number(
    energy_of_sample: Callable, states: tuple[jax.Array, ...], key: jax.Array, method: str = "auto"
) -> jax.Array:
    """lambda_max / lambda_min of the Hessian of `energy_of_sample(states)` (a scalar) w.r.t.
    `states` (one sample's free nodes). method: "exact", "lanczos" or "auto" (by size)."""
    low, high = extreme_eigenvalues(energy_of_sample, states, key, method)
    return high / low
