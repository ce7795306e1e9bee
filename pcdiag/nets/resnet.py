"""Residual convolutional PCNs: ResNet-10 / 18 style basic blocks, one PC node per block.

Layer 1 is a 3x3 stem conv (``mu_1 = f(conv(x_0))``, W channels); then four stages of
`blocks` basic blocks each (channels W, 2W, 4W, 8W; the first block of stages 2-4 strides 2),
each one PC node: ``mu_l = f(conv3x3(f(conv3x3(x_{l-1}))) + s(x_{l-1}))`` with s the identity,
or a strided 1x1 projection where the shape changes; the output node is linear on the
globally average-pooled last map. Depth L = 2 + 4 * blocks: 6 is ResNet-10 (one block per
stage), 10 is ResNet-18 (two). No batch normalisation (a PC node's prediction is a function of
the node below only). Images smaller than 32 x 32 are zero-padded to 32 x 32 by layer 1.
Initialisation: PyTorch's defaults, from the run's seed.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp

from pcdiag.data.registry import DATASETS, DEFAULT
from pcdiag.errors import ConfigError
from pcdiag.nets.base import ACTIVATION_FNS, Net, Params
from pcdiag.nets.conv import conv, conv_init, linear_init, pad_to, vmap_friendly

SIDE = 32


@dataclass(frozen=True)
class ResNet(Net):
    blocks: int = 1  # per stage
    width: int = 64
    n_out: int = DATASETS[DEFAULT].classes
    activation: str = "relu"
    input_shape: tuple[int, ...] = DATASETS[DEFAULT].input_shape

    @property
    def vmap_runs(self) -> bool:
        return vmap_friendly()

    @classmethod
    def from_config(cls, cfg, input_shape: tuple[int, ...], classes: int) -> ResNet:
        if cfg.depth < 6 or (cfg.depth - 2) % 4:
            raise ConfigError(f"depth={cfg.depth} is invalid for net='resnet': must be 2 + 4 * "
                              "blocks per stage (6: ResNet-10, 10: ResNet-18, 14, ...)")
        return cls((cfg.depth - 2) // 4, cfg.width, classes, cfg.activation, tuple(input_shape))

    @property
    def depth(self) -> int:
        return 2 + 4 * self.blocks

    def _plan(self) -> list[tuple[int, int, int]]:
        """(channels in, channels out, stride) of every block, stage by stage."""
        plan, c_in = [], self.width
        for stage in range(4):
            c_out = self.width * 2**stage
            for b in range(self.blocks):
                plan.append((c_in, c_out, 2 if stage > 0 and b == 0 else 1))
                c_in = c_out
        return plan

    @property
    def node_shapes(self) -> tuple[tuple[int, ...], ...]:
        side = max(SIDE, self.input_shape[0])
        shapes = [(side, side, self.width)]
        for _, c_out, stride in self._plan():
            side = -(-side // stride)
            shapes.append((side, side, c_out))
        return (*shapes, (self.n_out,))

    @property
    def working_units(self) -> int:
        """The nodes, and each block's inner conv output."""
        return super().working_units + sum(h * w * c for h, w, c in self.node_shapes[1:-1])

    def init(self, key: jax.Array) -> Params:
        keys = jax.random.split(key, self.depth)
        params = [conv_init(keys[0], 3, self.input_shape[-1], self.width)]
        for k, (c_in, c_out, stride) in zip(keys[1:-1], self._plan()):
            k1, k2, k3 = jax.random.split(k, 3)
            block = {"conv1": conv_init(k1, 3, c_in, c_out),
                     "conv2": conv_init(k2, 3, c_out, c_out)}
            if stride != 1 or c_in != c_out:
                block["shortcut"] = conv_init(k3, 1, c_in, c_out)
            params.append(block)
        params.append(linear_init(keys[-1], self.width * 8, self.n_out))
        return tuple(params)

    def predict(self, params: Params, layer: int, x_prev: jax.Array) -> jax.Array:
        act = ACTIVATION_FNS[self.activation]
        p = params[layer - 1]
        if layer == 1:
            return act(conv(pad_to(x_prev, SIDE), p["w"], p["b"]))
        if layer == self.depth:  # linear on the global average of the last map: logits
            return jnp.mean(x_prev, axis=(1, 2)) @ p["w"] + p["b"]
        stride = self._plan()[layer - 2][2]
        inner = act(conv(x_prev, p["conv1"]["w"], p["conv1"]["b"], stride=stride))
        branch = conv(inner, p["conv2"]["w"], p["conv2"]["b"])
        skip = x_prev
        if "shortcut" in p:
            skip = conv(x_prev, p["shortcut"]["w"], p["shortcut"]["b"], stride=stride)
        return act(branch + skip)
