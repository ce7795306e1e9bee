"""Multilayer perceptrons: the standard parameterization, residual skips, and muPC.

Layer l (1..L) maps node x_{l-1} to the prediction of node x_l (an image input is
flattened first). Standard parameterization (``"sp"``, PCX's MLP convention):
``mu_l = f(x_{l-1} @ W_l + b_l)`` for hidden nodes and ``mu_L = x_{L-1} @ W_L + b_L``
(logits) for the output node; with ``skip`` the hidden layers 2..L-1 are residual:
``mu_l = x_{l-1} + f(x_{l-1} @ W_l + b_l)``.

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

from pcdiag.data.registry import DATASETS, DEFAULT
from pcdiag.nets.base import ACTIVATION_FNS, Net, Params


@dataclass(frozen=True)
class MLP(Net):
    """An MLP with node sizes `sizes` = (n_0, ..., n_L); `input_shape` is how x_0 arrives
    (flattened by layer 1). `sizes` may be empty for a net used only to predict (the sizes
    are then read from the parameters)."""

    sizes: tuple[int, ...] = ()
    activation: str = "hard_tanh"
    parameterization: str = "sp"
    skip: bool = False
    input_shape: tuple[int, ...] = ()

    @classmethod
    def from_config(cls, cfg, input_shape: tuple[int, ...], classes: int) -> MLP:
        n_in = math.prod(input_shape)
        return cls(tuple(layer_sizes(cfg.depth, cfg.width, n_in, classes)), cfg.activation,
                   cfg.parameterization, cfg.skip, tuple(input_shape))

    @property
    def depth(self) -> int:
        return len(self.sizes) - 1

    @property
    def node_shapes(self) -> tuple[tuple[int, ...], ...]:
        return tuple((n,) for n in self.sizes[1:])

    def init(self, key: jax.Array) -> Params:
        return init_params(key, list(self.sizes), self.parameterization)

    def predict(self, params: Params, layer: int, x_prev: jax.Array) -> jax.Array:
        """mu_layer from the node below it; `layer` counts from 1 (nearest the input)."""
        if x_prev.ndim > 2:  # an image batch (B, H, W, C) enters layer 1 flattened
            x_prev = x_prev.reshape(x_prev.shape[0], -1)
        weight, bias = params[layer - 1]
        depth = len(params)
        act = ACTIVATION_FNS[self.activation]
        if self.parameterization == "mupc":
            scale = mupc_multiplier(layer, depth, params[0][0].shape[0], weight.shape[0],
                                    self.skip)
            inp = x_prev if layer == 1 else act(x_prev)
            branch = scale * (inp @ weight) + bias
        else:
            pre = x_prev @ weight + bias
            branch = pre if layer == depth else act(pre)
        return x_prev + branch if self.skip and 1 < layer < depth else branch


def layer_sizes(depth: int, width: int, n_in: int = DATASETS[DEFAULT].input_size,
                n_out: int = DATASETS[DEFAULT].classes) -> list[int]:
    """Node sizes [n_0, ..., n_L]: input, depth - 1 hidden nodes of `width`, output (by
    default those of Config's default data set: 784 inputs, 10 classes)."""
    return [n_in] + [width] * (depth - 1) + [n_out]


def init_params(key: jax.Array, sizes: list[int], parameterization: str = "sp") -> Params:
    """Weights and biases ((W_1, b_1), ..., (W_L, b_L)), W_l: (in, out), as the module
    docstring describes.

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
