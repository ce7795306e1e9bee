"""A bare PC training epoch: the same model, data and optimizers as the speed benchmark, written
directly (one jit: scan over batches; per batch forward init, T SGD state steps via
jax.grad, one AdamW step), with no vmap, no lax.cond, no records. A speed-of-light
reference for what XLA makes of this algorithm on this machine."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax


def make_epoch(sizes, batch: int, T: int, gamma: float, lr: float):
    """-> (epoch(carry, order, X, Y) -> carry, optimizer); carry = (params, opt_state)."""
    act = jax.nn.hard_tanh
    L = len(sizes) - 1
    opt = optax.adamw(lr, weight_decay=0.0)

    def pred(p, layer, x):
        w, b = p[layer]
        z = x @ w + b
        return z if layer == L - 1 else act(z)

    def energy(p, x0, states, y, mu1=None):
        nodes = (x0, *states)
        total = 0.0
        for layer in range(L):
            mu = mu1 if (layer == 0 and mu1 is not None) else pred(p, layer, nodes[layer])
            if layer == L - 1:
                total = total - jnp.sum(y * jax.nn.log_softmax(mu))
            else:
                total = total + 0.5 * jnp.sum((states[layer] - mu) ** 2)
        return total

    def step(carry, idx, X, Y):
        p, o = carry
        x0 = X[idx]
        y = jax.nn.one_hot(Y[idx], sizes[-1])
        mu1 = pred(p, 0, x0)
        states, x = [], mu1
        for layer in range(1, L):
            states.append(x)
            x = pred(p, layer, x)
        states = tuple(states)

        def inference(s, _):
            g = jax.grad(energy, argnums=2)(p, x0, s, y, mu1)
            return jax.tree_util.tree_map(lambda a, b: a - gamma * b, s, g), None

        states, _ = jax.lax.scan(inference, states, None, length=T)
        grads = jax.grad(lambda q: energy(q, x0, states, y) / batch)(p)
        updates, o = opt.update(grads, o, p)
        return (optax.apply_updates(p, updates), o), None

    @jax.jit
    def epoch(carry, order, X, Y):
        return jax.lax.scan(lambda c, i: step(c, i, X, Y), carry, order)[0]

    return epoch, opt
