"""MLP parameters, activations and the feedforward pass.

Layer l (1..L) maps node x_{l-1} to the prediction of node x_l. Standard parameterization
(``"sp"``, PCX's MLP convention): ``mu_l = f(x_{l-1} @ W_l + b_l)`` for hidden nodes and
``mu_L = x_{L-1} @ W_L + b_L`` (logits) for the output node; with ``skip`` the hidden layers
2..L-1 are residual: ``mu_l = x_{l-1} + f(x_{l-1} @ W_l + b_l)``.

muPC (``"mupc"``; Innocenti, Achour & Buckley 2025, "muPC: Scaling predictive coding to
100+ layer networks", as in jpc's ``make_mlp``): pre-activation residual layers with explicit
multipliers, ``mu_1 = a_1 x_0 @ W_1``, ``mu_l = x_{l-1} + a_l f(x_{l-1}) @ W_l`` (l = 2..L-1,
with skips) and ``mu_L = a_L f(x_{L-1}) @ W_L``, where a_1 = 1/sqrt(n_0),
a_l = 1/sqrt(N L) (1/sqrt(N) without skips) and a_L = 1/N for width N; biases start at 0.

Initialisation: "sp" draws every W_l and b_l from U(-1/sqrt(fan_in), 1/sqrt(fan_in)), the
PyTorch / PCX default for linear layers; "mupc" draws W_l from N(0, 1) (the multipliers
carry the scale) with zero biases. Both from the run's seed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

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


@dataclass(frozen=True)
class Arch:
    """How a layer computes its prediction: activation, parameterization, residual skips."""

    activation: str = "hard_tanh"
    parameterization: str = "sp"
    skip: bool = False

    @classmethod
    def of(cls, arch: Arch | str) -> Arch:
        """Accept an activation name as shorthand for a standard MLP."""
        return arch if isinstance(arch, Arch) else cls(activation=arch)


def layer_sizes(depth: int, width: int, n_in: int = N_INPUT, n_out: int = N_OUTPUT) -> list[int]:
    """Node sizes [n_0, ..., n_L]: input, depth - 1 hidden nodes of `width`, output."""
    return [n_in] + [width] * (depth - 1) + [n_out]


def init_params(key: jax.Array, sizes: list[int], parameterization: str = "sp") -> Params:
    """Weights and biases of every layer, as the module docstring describes.

    All values come from one random draw (a draw per array made the compiled init program
    several times slower to compile), sliced layer by layer in order W_1, b_1, W_2, ...
    """
    shapes = [s for n_in, n_out in zip(sizes[:-1], sizes[1:]) for s in ((n_in, n_out), (n_out,))]
    total = sum(math.prod(shape) for shape in shapes)
    if parameterization == "mupc":
        flat = jax.random.normal(key, (total,))
    else:
        flat = jax.random.uniform(key, (total,), minval=-1.0, maxval=1.0)
    arrays, offset = [], 0
    for shape in shapes:
        size = math.prod(shape)
        arrays.append(flat[offset : offset + size].reshape(shape))
        offset += size
    params = []
    for n_in, weight, bias in zip(sizes[:-1], arrays[0::2], arrays[1::2]):
        if parameterization == "mupc":
            params.append((weight, jnp.zeros_like(bias)))
        else:
            bound = 1.0 / math.sqrt(n_in)
            params.append((weight * bound, bias * bound))
    return tuple(params)


def mupc_multiplier(layer: int, depth: int, n_in: int, width: int, skip: bool) -> float:
    """a_l of muPC for layer `layer` (1-based) of a depth-`depth` network."""
    if layer == 1:
        return 1.0 / math.sqrt(n_in)
    if layer == depth:
        return 1.0 / width
    return 1.0 / math.sqrt(width * depth) if skip else 1.0 / math.sqrt(width)


def is_residual(layer: int, depth: int, arch: Arch) -> bool:
    """Identity skips go around every hidden layer but the first and the last."""
    return arch.skip and 1 < layer < depth


def predict(params: Params, layer: int, x_prev: jax.Array, arch: Arch | str) -> jax.Array:
    """mu_layer from the node below it; `layer` counts from 1 (nearest the input)."""
    arch = Arch.of(arch)
    weight, bias = params[layer - 1]
    depth = len(params)
    act = ACTIVATION_FNS[arch.activation]
    if arch.parameterization == "mupc":
        scale = mupc_multiplier(layer, depth, params[0][0].shape[0], weight.shape[0], arch.skip)
        inp = x_prev if layer == 1 else act(x_prev)
        branch = scale * (inp @ weight) + bias
    else:
        pre = x_prev @ weight + bias
        branch = pre if layer == depth else act(pre)
    return x_prev + branch if is_residual(layer, depth, arch) else branch


def forward(params: Params, x0: jax.Array, arch: Arch | str) -> list[jax.Array]:
    """Feedforward values [x_1, ..., x_L]: the forward initialisation of every node."""
    nodes, x = [], x0
    for layer in range(1, len(params) + 1):
        x = predict(params, layer, x, arch)
        nodes.append(x)
    return nodes


def sums_of_squares(arrays, axes: tuple[int, ...], variadic: bool | None = None) -> list[jax.Array]:
    """Sum of squares over `axes` of each array (`variadic`: None = as the backend prefers).

    On an accelerator, arrays of one shape are reduced together in ONE variadic reduction
    (one kernel, one pass), not one reduction each: each kernel launch costs microseconds,
    and a record of many small norms is mostly launches (measured on an H200: full recording
    of the depth-21 bench model 37% -> 7% slower than none). On a CPU each array gets its own
    reduction: XLA:CPU hands single reductions to its vectorised, multi-threaded library but
    runs a variadic one as a plain loop (measured: recording on the width-1024 model 31%
    slower than none with the variadic form)."""
    if variadic is None:
        variadic = jax.default_backend() != "cpu"
    if not variadic:
        return [jnp.sum(a * a, axis=axes) for a in arrays]
    groups: dict[tuple, list[int]] = {}
    for i, a in enumerate(arrays):
        groups.setdefault((a.shape, a.dtype), []).append(i)
    out: list = [None] * len(arrays)
    for members in groups.values():
        squares = tuple(arrays[i] * arrays[i] for i in members)
        zeros = tuple(jnp.zeros((), s.dtype) for s in squares)
        sums = jax.lax.reduce(squares, zeros, lambda x, y: tuple(map(jnp.add, x, y)), axes)
        for i, value in zip(members, sums):
            out[i] = value
    return out


def layer_norms(*trees: Params) -> jax.Array:
    """Frobenius norm of each layer's (W_l, b_l) taken together: (L,) for one tree, or
    (n_trees, L) for several of the same structure (all their W_l read in one pass)."""
    per_layer = []
    for layer in zip(*trees):
        weights = sums_of_squares([w for w, _ in layer], tuple(range(layer[0][0].ndim)))
        biases = sums_of_squares([b for _, b in layer], tuple(range(layer[0][1].ndim)))
        per_layer.append(jnp.sqrt(jnp.stack(weights) + jnp.stack(biases)))
    norms = jnp.stack(per_layer, axis=-1)
    return norms[0] if len(trees) == 1 else norms
