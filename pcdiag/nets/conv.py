"""Convolution pieces shared by the conv families: 3x3 / 1x1 convolutions on NHWC batches,
2x2 max pooling, PyTorch's default initialisation, and padding small images up."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp


def conv(x: jax.Array, weight: jax.Array, bias: jax.Array, *, stride: int = 1,
         padding: str = "SAME", im2col: bool | None = None) -> jax.Array:
    """2-D convolution of a (B, H, W, C_in) batch with a (k, k, C_in, C_out) kernel; "SAME"
    pads (k - 1) / 2 pixels a side (PyTorch's padding=1 for 3x3), "VALID" none.

    `im2col` (None: on a CPU) computes it as one matmul of the k * k shifted views of the
    image against the kernel. Inside a lax.scan (the trainers' loops) XLA:CPU runs the
    gradient of its own convolution op about 40 times slower than outside one (measured here:
    a 3x3 conv's gradient, batch 128, 16 x 16 x 32 -> 64: 8.0 s per step in a scan, 0.15 s
    outside; the im2col form 0.18 s in the scan). Elsewhere XLA's convolution is used."""
    if im2col is None:
        im2col = jax.default_backend() == "cpu"
    side = (weight.shape[0] - 1) // 2 if padding == "SAME" else 0
    if not im2col:
        out = jax.lax.conv_general_dilated(
            x, weight, window_strides=(stride, stride), padding=((side, side), (side, side)),
            dimension_numbers=("NHWC", "HWIO", "NHWC"),
        )
        return out + bias
    k = weight.shape[0]
    padded = jnp.pad(x, ((0, 0), (side, side), (side, side), (0, 0))) if side else x
    rows = (padded.shape[1] - k) // stride + 1
    cols = (padded.shape[2] - k) // stride + 1
    views = [padded[:, i : i + stride * (rows - 1) + 1 : stride,
                    j : j + stride * (cols - 1) + 1 : stride, :]
             for i in range(k) for j in range(k)]
    patches = views[0] if k == 1 else jnp.concatenate(views, axis=-1)
    return patches @ weight.reshape(-1, weight.shape[-1]) + bias


def max_pool(x: jax.Array) -> jax.Array:
    """2x2 max pooling with stride 2 (odd sizes lose their last row / column, as PyTorch).
    As a reshape and a max (its gradient twice as fast as reduce_window's on a CPU, and no
    slower inside a scan); where a window has tied maxima the gradient is shared among them."""
    batch, height, width, channels = x.shape
    x = x[:, : height // 2 * 2, : width // 2 * 2]
    return x.reshape(batch, height // 2, 2, width // 2, 2, channels).max(axis=(2, 4))


def conv_init(key: jax.Array, kernel: int, c_in: int, c_out: int) -> dict[str, jax.Array]:
    """PyTorch's default for Conv2d: weight and bias from U(-1/sqrt(fan_in), 1/sqrt(fan_in)),
    fan_in = k * k * C_in."""
    bound = 1.0 / math.sqrt(kernel * kernel * c_in)
    k_w, k_b = jax.random.split(key)
    return {"w": jax.random.uniform(k_w, (kernel, kernel, c_in, c_out), minval=-bound,
                                    maxval=bound),
            "b": jax.random.uniform(k_b, (c_out,), minval=-bound, maxval=bound)}


def linear_init(key: jax.Array, n_in: int, n_out: int) -> dict[str, jax.Array]:
    """PyTorch's default for Linear: U(-1/sqrt(n_in), 1/sqrt(n_in)) for weight and bias."""
    bound = 1.0 / math.sqrt(n_in)
    k_w, k_b = jax.random.split(key)
    return {"w": jax.random.uniform(k_w, (n_in, n_out), minval=-bound, maxval=bound),
            "b": jax.random.uniform(k_b, (n_out,), minval=-bound, maxval=bound)}


def pad_to(x: jax.Array, side: int) -> jax.Array:
    """Zero-pad a (B, H, W, C) batch symmetrically to side x side (28 x 28 -> 32 x 32)."""
    extra_h, extra_w = side - x.shape[1], side - x.shape[2]
    if extra_h <= 0 and extra_w <= 0:
        return x
    return jnp.pad(x, ((0, 0), (extra_h // 2, extra_h - extra_h // 2),
                       (extra_w // 2, extra_w - extra_w // 2), (0, 0)))
