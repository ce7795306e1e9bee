"""THE network contract: what every network gives pcdiag's energies, trainers and records.

A network with weight layers l = 1..L maps node x_{l-1} to the prediction mu_l of node x_l;
x_0 is the clamped input, x_L the output node (class scores). pcdiag reaches a network only
through these members, so a new family is one module and one line in `pcdiag.nets.NETS`:

- ``depth``: L, the number of weight layers (and of nodes above the input);
- ``input_shape``: the per-sample shape of x_0 as the data arrive, e.g. (28, 28, 1);
- ``node_shapes``: the per-sample shapes of x_1..x_L (vectors ``(n,)`` or ``(H, W, C)``
  maps); the last one is ``(classes,)``;
- ``init(key) -> params``: a tuple of L per-layer pytrees (layer 1 first);
- ``predict(params, l, x_prev) -> mu_l``: a batch ``(B, *node_shapes[l-2])`` (``input_shape``
  for l = 1) to ``(B, *node_shapes[l-1])``;
- ``forward(params, x0)``: the feedforward values [x_1, ..., x_L] (given here).

Energies and norms of a node sum over all its non-batch axes; a layer's parameter norm is
the Frobenius norm of all its leaves together (`layer_norms`). Networks are frozen, hashable
values: a compiled program is kept per network.
"""

from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp

Params = tuple[Any, ...]  # one pytree per layer, layer 1 first

ACTIVATION_FNS = {
    "hard_tanh": jax.nn.hard_tanh,
    "tanh": jnp.tanh,
    "relu": jax.nn.relu,
    "leaky_relu": jax.nn.leaky_relu,  # negative slope 0.01
    "gelu": lambda x: jax.nn.gelu(x, approximate=False),
    "gelu_tanh": lambda x: jax.nn.gelu(x, approximate=True),  # jax.nn.gelu's default (PCX's)
    "linear": lambda x: x,
}


class Net:
    """Base class of the network contract (see the module docstring)."""

    depth: int
    input_shape: tuple[int, ...]
    node_shapes: tuple[tuple[int, ...], ...]
    #: Whether a sweep's runs of this network are vmapped in their compiled program (True), or
    #: mapped one after another inside it (False: one compile, each run the single-run
    #: computation). The conv families answer False on a CPU (pcdiag.nets.conv.vmap_friendly).
    vmap_runs: bool = True

    def init(self, key: jax.Array) -> Params:
        raise NotImplementedError

    def predict(self, params: Params, layer: int, x_prev: jax.Array) -> jax.Array:
        raise NotImplementedError

    def forward(self, params: Params, x0: jax.Array) -> list[jax.Array]:
        """Feedforward values [x_1, ..., x_L]: the forward initialisation of every node."""
        nodes, x = [], x0
        for layer in range(1, len(params) + 1):
            x = self.predict(params, layer, x)
            nodes.append(x)
        return nodes

    @property
    def working_units(self) -> int:
        """Values one sample holds in a step: its input and nodes (a family whose predictions
        have larger intermediates, as a conv before its pooling, adds them)."""
        return math.prod(self.input_shape) + sum(math.prod(s) for s in self.node_shapes)

    @property
    def classes(self) -> int:
        return math.prod(self.node_shapes[-1])

    def describe(self) -> str:
        """The node sizes as a list, e.g. "[784, 128, 128, 10]" (units per node)."""
        sizes = [math.prod(self.input_shape)] + [math.prod(s) for s in self.node_shapes]
        return str(sizes)


def sums_of_squares(arrays, keep_batch: bool = False,
                    variadic: bool | None = None) -> list[jax.Array]:
    """Sum of squares of each array over all its axes, or over all but the leading batch
    axis with `keep_batch` (a node's per-sample squared norm); `variadic`: None = as the
    backend prefers.

    On an accelerator, arrays of one shape are reduced together in ONE variadic reduction
    (one kernel, one pass), not one reduction each: each kernel launch costs microseconds,
    and a record of many small norms is mostly launches (measured on an H200: full recording
    of the depth-21 bench model 37% -> 7% slower than none). On a CPU each array gets its own
    reduction: XLA:CPU hands single reductions to its vectorised, multi-threaded library but
    runs a variadic one as a plain loop (measured: recording on the width-1024 model 31%
    slower than none with the variadic form)."""
    if variadic is None:
        variadic = jax.default_backend() != "cpu"

    def axes(a):
        return node_axes(a) if keep_batch else tuple(range(a.ndim))

    if not variadic:
        return [jnp.sum(a * a, axis=axes(a)) for a in arrays]
    groups: dict[tuple, list[int]] = {}
    for i, a in enumerate(arrays):
        groups.setdefault((a.shape, a.dtype), []).append(i)
    out: list = [None] * len(arrays)
    for members in groups.values():
        squares = tuple(arrays[i] * arrays[i] for i in members)
        zeros = tuple(jnp.zeros((), s.dtype) for s in squares)
        sums = jax.lax.reduce(squares, zeros, lambda x, y: tuple(map(jnp.add, x, y)),
                              axes(squares[0]))
        for i, value in zip(members, sums):
            out[i] = value
    return out


def layer_norms(*trees: Params) -> jax.Array:
    """Frobenius norm of each layer's parameters (all its leaves together): (L,) for one
    tree, or (n_trees, L) for several of the same structure (each leaf read in one pass)."""
    per_layer = []
    for layer in zip(*trees):
        leaves = [jax.tree_util.tree_leaves(tree) for tree in layer]
        total = None
        for position in zip(*leaves):  # the same leaf (e.g. W_l) of every tree at once
            squares = jnp.stack(sums_of_squares(list(position)))
            total = squares if total is None else total + squares
        per_layer.append(jnp.sqrt(total))
    norms = jnp.stack(per_layer, axis=-1)
    return norms[0] if len(trees) == 1 else norms


def cosines(a: Params, b: Params) -> jax.Array:
    """Per-layer cosine between two parameter trees (all of a layer's leaves together)."""
    dots = []
    for layer_a, layer_b in zip(a, b):
        pairs = zip(jax.tree_util.tree_leaves(layer_a), jax.tree_util.tree_leaves(layer_b))
        dot = None
        for leaf_a, leaf_b in pairs:
            term = jnp.sum(leaf_a * leaf_b)
            dot = term if dot is None else dot + term
        dots.append(dot)
    return jnp.stack(dots) / (layer_norms(a) * layer_norms(b))


def node_axes(x: jax.Array) -> tuple[int, ...]:
    """The non-batch axes of a node's batch (energies and norms sum over them)."""
    return tuple(range(1, x.ndim))


class FunctionNet(Net):
    """A network from plain functions, for a notebook: ``init(key) -> params`` (a tuple of L
    per-layer pytrees) and ``predict(params, l, x_prev) -> mu_l``, with the per-sample
    `input_shape` and `node_shapes` (x_1..x_L). Compared by identity: one compiled program
    per FunctionNet object."""

    def __init__(self, init, predict, input_shape, node_shapes):
        self._init, self._predict = init, predict
        self.input_shape = tuple(input_shape)
        self.node_shapes = tuple(tuple(s) for s in node_shapes)
        self.depth = len(self.node_shapes)

    def init(self, key: jax.Array) -> Params:
        return tuple(self._init(key))

    def predict(self, params: Params, layer: int, x_prev: jax.Array) -> jax.Array:
        return self._predict(params, layer, x_prev)
