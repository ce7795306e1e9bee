"""Transposed-convolution decoders (generation), after PCX's deconv decoder (liukidar/pcx,
tag v0.6.1, examples/s4_2_generative_mode/autoencoders/deconv/pc_deconv.py with
conv_transpose_layer.py, an equinox ConvTranspose).

x_0 is a free latent vector (latent_size,); every weight layer is one PC node:

- layer 1, linear: ``mu_1 = f(x_0 @ W_1 + b_1)`` reshaped to a small map (H/4, W/4, width)
  (H/2 x W/2 at depth 2) for an image of (H, W, C): 7 x 7 for Fashion-MNIST / MNIST;
- layers 2..L, transposed convolutions ``mu_l = f(convT(x_{l-1}))``, the last one linear
  (PCX's output_act_fn None), its node exactly the image shape.

Depth L >= 2: L = 2 is one stride-2 layer (14 -> 28); L = 3 is PCX's geometry, two stride-2
layers (7 -> 14 -> 28); each extra layer (L >= 4) is a stride-1 3x3 transposed convolution
at 7 x 7 inserted before the two stride-2 layers. Channels fall from `width` to the image's
by PCX's default rule (its ``channel_diff // num_layers`` steps), at least 1.

Copied from PCX: one node per transposed conv, its layer arithmetic (equinox's
ConvTranspose: the input dilated by the stride, padded by k - 1 - p each side, correlated
with the kernel, no flip), stride 2 with kernel 4 (its CIFAR-10 default) and PCX's padding
rule (p = 1, no output padding), the channel rule, hidden activations, linear output, and
the init bound 1/sqrt(k k C_in) (equinox's; PyTorch's ConvTranspose2d would use C_out).
Changed: the latent is a vector with a linear layer to the first map (PCX's x_0 is the map
itself), the stride-1 layers for depth, channels last (NHWC / HWIO).

On a CPU a transposed conv runs as its stride-phase form (`conv_transpose`), a stride-1
conv that XLA:CPU differentiates fast inside a scan; elsewhere `jax.lax.conv_transpose`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from pcdiag.data.registry import DATASETS, DEFAULT
from pcdiag.errors import ConfigError
from pcdiag.nets.base import ACTIVATION_FNS, Net, Params
from pcdiag.nets.conv import conv, vmap_friendly

_DIMS = ("NHWC", "HWIO", "NHWC")
UP_KERNEL = 4  # stride-2 layers (PCX's CIFAR-10 default kernel size)
SAME_KERNEL = 3  # stride-1 layers


@dataclass(frozen=True)
class UpLayer:
    """One transposed conv: output channels, stride (the map grows by it) and kernel size."""

    channels: int
    stride: int
    kernel: int


@dataclass(frozen=True)
class Deconv(Net):
    """A decoder from a (latent_size,) vector to `image_shape`; build it with `make`."""

    latent_size: int
    image_shape: tuple[int, int, int]
    base: tuple[int, int, int]  # the first map, node x_1
    layers: tuple[UpLayer, ...]
    activation: str = "hard_tanh"

    @property
    def vmap_runs(self) -> bool:
        return vmap_friendly()

    @classmethod
    def make(cls, latent_size: int, image_shape=DATASETS[DEFAULT].input_shape, depth: int = 3,
             width: int = 32, activation: str = "hard_tanh") -> Deconv:
        height, side, channels = image_shape
        if depth < 2:
            raise ConfigError(f"depth={depth} is invalid for net='deconv': must be 2, 3 or more "
                              "(a linear layer to the first map, then transposed convs)")
        shrink = 2 if depth == 2 else 4
        if height % shrink or side % shrink:
            raise ConfigError(f"net='deconv' at depth={depth} needs an image side divisible by "
                              f"{shrink}, not {height} x {side}; pick another dataset or depth")
        strides = [1] * (depth - 3) + [2] * min(depth - 1, 2)
        layers = tuple(UpLayer(c, s, UP_KERNEL if s == 2 else SAME_KERNEL)
                       for c, s in zip(channel_rule(width, channels, depth - 1), strides))
        return cls(latent_size, tuple(image_shape), (height // shrink, side // shrink, width),
                   layers, activation)

    @classmethod
    def from_config(cls, cfg, input_shape: tuple[int, ...], n_out: int) -> Deconv:
        """For generation: `input_shape` is the latent's (latent_size,), `n_out` the image's
        units; the image shape is the data set's."""
        image_shape = DATASETS[cfg.dataset].input_shape
        if math.prod(image_shape) != n_out:
            raise ConfigError(f"net='deconv' decodes {cfg.dataset} images {image_shape} "
                              f"({math.prod(image_shape)} units), not {n_out} outputs")
        return cls.make(math.prod(input_shape), image_shape, cfg.depth, cfg.width,
                        cfg.activation)

    @property
    def depth(self) -> int:
        return len(self.layers) + 1

    @property
    def input_shape(self) -> tuple[int, ...]:
        return (self.latent_size,)

    @property
    def node_shapes(self) -> tuple[tuple[int, ...], ...]:
        shapes, (height, side, _) = [self.base], self.base
        for layer in self.layers:
            height, side = height * layer.stride, side * layer.stride
            shapes.append((height, side, layer.channels))
        return tuple(shapes)

    @property
    def working_units(self) -> int:
        """The nodes, and each transposed conv's output before its phases are interleaved."""
        return super().working_units + sum(math.prod(s) for s in self.node_shapes[1:])

    def init(self, key: jax.Array) -> Params:
        """PyTorch's / equinox's U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for each layer's weight
        and bias (fan_in: latent_size, then k * k * C_in), all from one draw sliced in order
        W_1, b_1, W_2, ... (one draw compiles several times faster than one per array)."""
        shapes, c_in = [((self.latent_size, math.prod(self.base)), self.latent_size)], self.base[-1]
        for layer in self.layers:
            shapes.append(((layer.kernel, layer.kernel, c_in, layer.channels),
                           layer.kernel * layer.kernel * c_in))
            c_in = layer.channels
        total = sum(math.prod(shape) + shape[-1] for shape, _ in shapes)
        flat = jax.random.uniform(key, (total,), minval=-1.0, maxval=1.0)
        params, offset = [], 0
        for shape, fan_in in shapes:
            size, bound = math.prod(shape), 1.0 / math.sqrt(fan_in)
            weight = flat[offset : offset + size].reshape(shape) * bound
            bias = flat[offset + size : offset + size + shape[-1]] * bound
            params.append({"w": weight, "b": bias})
            offset += size + shape[-1]
        return tuple(params)

    def predict(self, params: Params, layer: int, x_prev: jax.Array) -> jax.Array:
        p = params[layer - 1]
        act = ACTIVATION_FNS[self.activation]
        if layer == 1:
            pre = x_prev.reshape(x_prev.shape[0], -1) @ p["w"] + p["b"]
            return act(pre).reshape(x_prev.shape[0], *self.base)
        out = conv_transpose(x_prev, p["w"], p["b"], self.layers[layer - 2].stride)
        return out if layer == self.depth else act(out)


def channel_rule(width: int, out_channels: int, n_layers: int) -> list[int]:
    """PCX's default channels for `n_layers` transposed convs from `width` channels to
    `out_channels`: width + i * ((out - width) // n) for layers i < n, the last `out`
    (here at least 1)."""
    step = (out_channels - width) // n_layers
    return [max(1, width + i * step) for i in range(1, n_layers)] + [out_channels]


def conv_transpose(x: jax.Array, weight: jax.Array, bias: jax.Array, stride: int,
                   phases: bool | None = None) -> jax.Array:
    """Transposed conv of a (B, H, W, C_in) batch with a (k, k, C_in, C_out) kernel to
    (B, sH, sW, C_out), as equinox's ConvTranspose with padding p = (k - s) / 2: y[s i + b - p]
    += x[i] weight[k - 1 - b] (per axis), plus the bias.

    `phases` (None: on a CPU) computes it as one stride-1 conv producing the s * s output
    phases as channels (each output pixel s m + r reads taps of x near m), interleaved after;
    inside a scan XLA:CPU differentiates `jax.lax.conv_transpose` 3-30x slower (batch 200,
    forward + VJP in a 20-step scan, 2 shared cores: 7x7x64 -> 14x14x32 55 ms a step against
    620-1840 ms; 14x14x32 -> 28x28x1 39 against 116 ms). The zero-dilated input through
    pcdiag's CPU conv gradient is in between (188 and 405 ms): 3/4 of its products are 0."""
    k, s = weight.shape[0], stride
    if (k - s) % 2 or k < s:
        raise ValueError(f"kernel {k} and stride {s}: k - s must be even and >= 0")
    if phases is None:
        phases = jax.default_backend() == "cpu"
    if not phases:
        edge = k - 1 - (k - s) // 2
        out = jax.lax.conv_transpose(x, weight, (s, s), ((edge, edge), (edge, edge)),
                                     dimension_numbers=_DIMS)
        return out + bias
    idx = _phase_taps(k, s)
    n, c_in, c_out = idx.shape[0], weight.shape[2], weight.shape[3]
    padded = jnp.pad(weight, ((0, 1), (0, 1), (0, 0), (0, 0)))  # index k: a zero tap
    kernel = padded[idx[:, :, None, None], idx[None, None, :, :]]  # (n, s, n, s, C_in, C_out)
    kernel = kernel.transpose(0, 2, 4, 1, 3, 5).reshape(n, n, c_in, s * s * c_out)
    y = conv(x, kernel, jnp.tile(bias, s * s), padding="SAME")
    batch, height, side, _ = y.shape
    y = y.reshape(batch, height, side, s, s, c_out).transpose(0, 1, 3, 2, 4, 5)
    return y.reshape(batch, s * height, s * side, c_out)


def _phase_taps(k: int, s: int) -> np.ndarray:
    """(n, s) kernel rows of the phase form: entry [t, r] is the row of the transposed
    conv's kernel that input offset t - side gives output phase r (k: none)."""
    p = (k - s) // 2
    side = (s + p - 1) // s
    idx = np.full((2 * side + 1, s), k, np.int32)
    for t in range(2 * side + 1):
        for r in range(s):
            b = s * (side - t) + r + p
            if 0 <= b < k:
                idx[t, r] = k - 1 - b
    return idx
