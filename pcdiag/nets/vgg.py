"""VGG-style convolutional PCNs, as in PCX's benchmark (liukidar/pcx, tag v0.6.1,
examples/s4_1_discriminative_mode/VGG5/cifar10/PC_SE.py and VGG7/cifar100/PC_CE.py).

Each conv layer is one PC node: ``mu_l = pool(f(conv3x3(x_{l-1})))`` (pool: 2x2 max pooling
where the layer has one), then a linear output node on the flattened last map. Layers, with
`width` W the first stage's channels (PCX: W = 128):

- VGG-5: four stages of one conv each, channels W, 2W, 4W, 4W, each pooled (32 -> 2 pixels);
- VGG-7: PCX's: (W, pool), (W), (2W, pool), (2W, no padding), (4W, pool), (4W, no padding);
- VGG-(4k+1), k >= 2 (9, 13, ...): the VGG-5 stages with k convs each, the first of a stage
  pooled, all padded (the pattern that studies the depth trend).

Images smaller than 32 x 32 (Fashion-MNIST, MNIST) are zero-padded to 32 x 32 by layer 1, so
every depth sees PCX's CIFAR geometry. Initialisation: PyTorch's defaults (PCX's), from the
run's seed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import jax

from pcdiag.data.registry import DATASETS, DEFAULT
from pcdiag.errors import ConfigError
from pcdiag.nets.base import ACTIVATION_FNS, Net, Params
from pcdiag.nets.conv import conv, conv_init, linear_init, max_pool, pad_to, vmap_friendly

SIDE = 32  # images are padded up to SIDE x SIDE


@dataclass(frozen=True)
class ConvBlock:
    channels: int
    pool: bool
    padding: str = "SAME"  # or "VALID"


@dataclass(frozen=True)
class VGG(Net):
    blocks: tuple[ConvBlock, ...]
    n_out: int = DATASETS[DEFAULT].classes
    activation: str = "hard_tanh"
    input_shape: tuple[int, ...] = DATASETS[DEFAULT].input_shape

    @property
    def vmap_runs(self) -> bool:
        return vmap_friendly()

    @classmethod
    def from_config(cls, cfg, input_shape: tuple[int, ...], classes: int) -> VGG:
        return cls(vgg_blocks(cfg.depth, cfg.width), classes, cfg.activation, tuple(input_shape))

    @property
    def depth(self) -> int:
        return len(self.blocks) + 1

    def _sides(self) -> list[tuple[int, int]]:
        """(side of the conv output, side of the node after pooling) of each conv layer."""
        sides, side = [], max(SIDE, self.input_shape[0])
        for block in self.blocks:
            conv_side = side if block.padding == "SAME" else side - 2
            side = conv_side // 2 if block.pool else conv_side
            sides.append((conv_side, side))
        return sides

    @property
    def node_shapes(self) -> tuple[tuple[int, ...], ...]:
        shapes = [(side, side, block.channels)
                  for block, (_, side) in zip(self.blocks, self._sides())]
        return (*shapes, (self.n_out,))

    @property
    def working_units(self) -> int:
        """The nodes, and the conv outputs before their pooling."""
        return super().working_units + sum(
            conv_side * conv_side * block.channels
            for block, (conv_side, _) in zip(self.blocks, self._sides()))

    def init(self, key: jax.Array) -> Params:
        keys = jax.random.split(key, self.depth)
        c_in, params = self.input_shape[-1], []
        for k, block in zip(keys, self.blocks):
            params.append(conv_init(k, 3, c_in, block.channels))
            c_in = block.channels
        params.append(linear_init(keys[-1], math.prod(self.node_shapes[-2]), self.n_out))
        return tuple(params)

    def predict(self, params: Params, layer: int, x_prev: jax.Array) -> jax.Array:
        p = params[layer - 1]
        if layer == self.depth:  # the linear output node: logits
            return x_prev.reshape(x_prev.shape[0], -1) @ p["w"] + p["b"]
        if layer == 1:
            x_prev = pad_to(x_prev, SIDE)
        block = self.blocks[layer - 1]
        out = ACTIVATION_FNS[self.activation](conv(x_prev, p["w"], p["b"], padding=block.padding))
        return max_pool(out) if block.pool else out


def vgg_blocks(depth: int, width: int) -> tuple[ConvBlock, ...]:
    """The conv layers of VGG-`depth` with first-stage channels `width` (module docstring)."""
    stages = (width, 2 * width, 4 * width, 4 * width)
    if depth == 5:
        return tuple(ConvBlock(c, True) for c in stages)
    if depth == 7:
        w = width
        return (ConvBlock(w, True), ConvBlock(w, False), ConvBlock(2 * w, True),
                ConvBlock(2 * w, False, "VALID"), ConvBlock(4 * w, True),
                ConvBlock(4 * w, False, "VALID"))
    if depth >= 9 and (depth - 1) % 4 == 0:
        per_stage = (depth - 1) // 4
        return tuple(ConvBlock(c, i == 0) for c in stages for i in range(per_stage))
    raise ConfigError(f"depth={depth} is invalid for net='vgg': must be 5, 7 or 4k + 1 with "
                      "k >= 2 (9, 13, 17, ...), the number of weight layers (convs + output)")
