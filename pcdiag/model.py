"""MLP parameters, activations and the feedforward pass.

Layer l (1..L) maps node x_{l-1} to the prediction of node x_l:
``mu_l = f(x_{l-1} @ W_l + b_l)`` for hidden nodes and ``mu_L = x_{L-1} @ W_L + b_L`` for the
output node (logits for the cross-entropy energy). This is PCX's MLP convention.

Initialisation: every W_l and b_l is drawn from U(-1/sqrt(fan_in), 1/sqrt(fan_in)), the
PyTorch / PCX default for linear layers, from the run's seed.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

Params = tuple[tuple[jax.Array, jax.Array], ...]  # ((W_1, b_1), ..., (W_L, b_L)), W_l: (in, out)

N_INPUT = 784
N_OUTPUT = 10

ACTIVATION_FNS = {
    "hard_tanh": jax.nn.hard_tanh,
    "tanh": jnp.tanh,
    "relu": jax.nn.relu,
    "leaky_relu": jax.nn.leaky_relu,  # negative slope 0.01
    "gelu": lambda x: jax.nn.gelu(x, approximate=False),
    "linear": lambda x: x,
}


def layer_sizes(depth: int, width: int, n_in: int = N_INPUT, n_out: int = N_OUTPUT) -> list[int]:
    """Node sizes [n_0, ..., n_L]: input, depth - 1 hidden nodes of `width`, output."""
    return [n_in] + [width] * (depth - 1) + [n_out]


def init_params(key: jax.Array, sizes: list[int]) -> Params:
    """U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weights and biases of every layer."""
    params = []
    for key_l, n_in, n_out in zip(jax.random.split(key, len(sizes) - 1), sizes[:-1], sizes[1:]):
        bound = 1.0 / jnp.sqrt(n_in)
        key_w, key_b = jax.random.split(key_l)
        weight = jax.random.uniform(key_w, (n_in, n_out), minval=-bound, maxval=bound)
        bias = jax.random.uniform(key_b, (n_out,), minval=-bound, maxval=bound)
        params.append((weight, bias))
    return tuple(params)


def predict(params: Params, layer: int, x_prev: jax.Array, activation: str) -> jax.Array:
    """mu_layer from the node below it; `layer` counts from 1 (nearest the input)."""
    weight, bias = params[layer - 1]
    pre = x_prev @ weight + bias
    if layer == len(params):
        return pre
    return ACTIVATION_FNS[activation](pre)


def forward(params: Params, x0: jax.Array, activation: str) -> list[jax.Array]:
    """Feedforward values [x_1, ..., x_L]: the forward initialisation of every node."""
    nodes, x = [], x0
    for layer in range(1, len(params) + 1):
        x = predict(params, layer, x, activation)
        nodes.append(x)
    return nodes


def layer_norms(tree: Params) -> jax.Array:
    """Frobenius norm of each layer's (W_l, b_l) taken together, shape (L,)."""
    return jnp.stack([jnp.sqrt(jnp.sum(w**2) + jnp.sum(b**2)) for w, b in tree])
