"""Convolution pieces shared by the conv families: 3x3 / 1x1 convolutions on NHWC batches,
2x2 max pooling, PyTorch's default initialisation, and padding small images up."""

from __future__ import annotations

import contextlib
import math
from functools import partial

import jax
import jax.numpy as jnp

_DIMS = ("NHWC", "HWIO", "NHWC")
_forward_mode = [False]  # set while tracing code that differentiates forwards (hessian.py)


@contextlib.contextmanager
def forward_mode_autodiff():
    """Trace convolutions inside this block without the CPU's custom gradient (a custom_vjp
    admits no forward-mode differentiation: jax.hessian, jax.jvp); a trace-time switch."""
    _forward_mode.append(True)
    try:
        yield
    finally:
        _forward_mode.pop()


def vmap_friendly() -> bool:
    """Whether convolutions of several runs are best vmapped (a Net's `vmap_runs`). Not on a
    CPU: a vmapped convolution's kernel has a run axis, which XLA:CPU computes as a grouped
    convolution, slower per run than the runs one after another (measured: VGG-5 width 4,
    T = 5, batch 128, 3 seeds vmapped 0.23 s a step, one seed 0.025 s; dev/speed/README.md)."""
    return jax.default_backend() != "cpu"


def conv(x: jax.Array, weight: jax.Array, bias: jax.Array, *, stride: int = 1,
         padding: str = "SAME", im2col: bool | None = None) -> jax.Array:
    """2-D convolution of a (B, H, W, C_in) batch with a (k, k, C_in, C_out) kernel; "SAME"
    pads (k - 1) / 2 pixels a side (PyTorch's padding=1 for 3x3), "VALID" none.

    On a CPU (`im2col` None) the gradients are the issue: inside a lax.scan (the trainers'
    loops) XLA:CPU runs the gradient of its own convolution op about 40 times slower than
    outside one (a 3x3 conv's gradient, batch 128, 16 x 16 x 32 -> 64: 8.0 s per step in a
    scan, 0.15 s outside). So a stride-1 convolution there is XLA's forward convolution with
    its own gradient (`conv_cpu`): d/dx is XLA's forward convolution of the output gradient
    with the flipped, transposed kernel, d/dW one matmul of the input's k * k shifted views
    (im2col) with the output gradient; about twice as fast as differentiating the im2col form
    (16 x 16 x 32 -> 64 in a 7-step scan: 64 vs 114 ms a step for d/dx, 77 vs 175 ms for d/dW).
    `im2col=True` (and a strided convolution on a CPU) is the plain im2col form: one matmul of
    the shifted views against the kernel. Elsewhere XLA's convolution is used."""
    cpu = jax.default_backend() == "cpu"
    side = (weight.shape[0] - 1) // 2 if padding == "SAME" else 0
    if im2col is None and cpu and stride == 1 and not _forward_mode[-1]:
        return conv_cpu(x, weight, bias, side)
    if im2col is None:
        im2col = cpu
    if not im2col:
        return _xla_conv(x, weight, stride, side) + bias
    return _patches(x, weight.shape[0], stride, side) @ weight.reshape(-1, weight.shape[-1]) + bias


def _xla_conv(x, weight, stride: int, side: int):
    return jax.lax.conv_general_dilated(x, weight, window_strides=(stride, stride),
                                        padding=((side, side), (side, side)),
                                        dimension_numbers=_DIMS)


def _patches(x, k: int, stride: int, side: int):
    """The k * k shifted views of the (padded) image side by side: (B, rows, cols, k k C)."""
    padded = jnp.pad(x, ((0, 0), (side, side), (side, side), (0, 0))) if side else x
    rows = (padded.shape[1] - k) // stride + 1
    cols = (padded.shape[2] - k) // stride + 1
    views = [padded[:, i : i + stride * (rows - 1) + 1 : stride,
                    j : j + stride * (cols - 1) + 1 : stride, :]
             for i in range(k) for j in range(k)]
    return views[0] if k == 1 else jnp.concatenate(views, axis=-1)


@partial(jax.custom_vjp, nondiff_argnums=(3,))
def conv_cpu(x, weight, bias, side: int):
    return _xla_conv(x, weight, 1, side) + bias


def _conv_cpu_fwd(x, weight, bias, side):
    return conv_cpu(x, weight, bias, side), (x, weight)


def _conv_cpu_bwd(side, residuals, g):
    x, weight = residuals
    k = weight.shape[0]
    flipped = jnp.flip(weight, (0, 1)).transpose(0, 1, 3, 2)  # (k, k, C_out, C_in)
    dx = _xla_conv(g, flipped, 1, k - 1 - side)
    patches = _patches(x, k, 1, side)
    dw = patches.reshape(-1, patches.shape[-1]).T @ g.reshape(-1, g.shape[-1])
    return dx, dw.reshape(weight.shape), g.sum(axis=(0, 1, 2))


conv_cpu.defvjp(_conv_cpu_fwd, _conv_cpu_bwd)


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
