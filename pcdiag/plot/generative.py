"""Images a generative PCN makes (pcdiag.algorithms.sampling, pcdiag.algorithms.reconstruct): a
grid of samples, and originals above their reconstructions.

Images are in the data's scale, "unit" normalisation (x / 255: pixels in [0, 1]), shaped
(N, H, W, C), (N, H, W) or (N, H * W) for square single-channel images. They are drawn in
grey on the fixed range [0, 1], clipped for display only: a decoder's output may leave the
range (Langevin samples do), and the clipping changes the picture, never the arrays or any
score computed from them (pcdiag.tasks.quality scores images unclipped).
"""

from __future__ import annotations

import math

import numpy as np
from matplotlib.axes import Axes

from pcdiag.errors import BadInputError
from pcdiag.plot.styling import new_axes

#: The pixel range of "unit" normalisation, the grey scale's ends.
PIXEL_RANGE = (0.0, 1.0)
CMAP = "gray"
#: Background between tiles: mid grey, neither black nor white pixels.
GAP_VALUE = 0.5


def _frames(images, what: str) -> np.ndarray:
    """`images` as (N, H, W) or (N, H, W, 3) float arrays."""
    x = np.asarray(images, np.float64)
    if x.ndim == 2:  # flat square images
        side = math.isqrt(x.shape[1])
        if side * side != x.shape[1]:
            raise BadInputError(f"{what}: flat images of {x.shape[1]} pixels are not square; "
                                "pass them shaped (N, H, W) or (N, H, W, C)")
        x = x.reshape(len(x), side, side)
    if x.ndim == 4 and x.shape[-1] == 1:
        x = x[..., 0]
    if x.ndim not in (3, 4) or len(x) == 0 or (x.ndim == 4 and x.shape[-1] != 3):
        raise BadInputError(f"{what}: shape {x.shape}; pass a non-empty batch of images "
                            "shaped (N, H, W), (N, H, W, 1 or 3) or (N, H * W)")
    return x


def tile(images, rows: int, gap: int = 1) -> np.ndarray:
    """One mosaic of `images` ((N, H, W[, 3])), `rows` rows filled row by row, tiles
    `gap` pixels apart on GAP_VALUE, clipped to PIXEL_RANGE (display only)."""
    x = np.clip(images, *PIXEL_RANGE)
    n, h, w = x.shape[:3]
    cols = -(-n // rows)
    canvas = np.full((rows * (h + gap) - gap, cols * (w + gap) - gap, *x.shape[3:]),
                     GAP_VALUE)
    for i, image in enumerate(x):
        r, c = divmod(i, cols)
        canvas[r * (h + gap):r * (h + gap) + h, c * (w + gap):c * (w + gap) + w] = image
    return canvas


def _show(ax: Axes, canvas: np.ndarray, label: str) -> Axes:
    ax.imshow(canvas, cmap=CMAP, vmin=PIXEL_RANGE[0], vmax=PIXEL_RANGE[1],
              interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)
    ax.set_label(label)
    return ax


def sample_grid(images, ax: Axes | None = None, rows: int | None = None) -> Axes:
    """Generated `images` as a grid of `rows` rows (default: as square as the count
    allows), grey on [0, 1], clipped for display only; returns the Axes."""
    x = _frames(images, "images")
    rows = rows or max(1, math.isqrt(len(x)))
    if not 1 <= rows <= len(x):
        raise BadInputError(f"rows={rows} for {len(x)} images; pass 1 <= rows <= {len(x)}")
    ax = new_axes(ax, figsize=(3.2, 3.2))
    return _show(ax, tile(x, rows),
                 f"{len(x)} generated images (grey, [0, 1], clipped for display)")


def reconstructions(originals, reconstructed, ax: Axes | None = None) -> Axes:
    """Originals (top row) above their reconstructions (bottom row), grey on [0, 1],
    clipped for display only; returns the Axes."""
    a, b = _frames(originals, "originals"), _frames(reconstructed, "reconstructed")
    if a.shape != b.shape:
        raise BadInputError(f"originals {a.shape} and reconstructed {b.shape}: pass one "
                            "reconstruction per original, in the same shape")
    ax = new_axes(ax, figsize=(0.4 * len(a) + 0.4, 1.0))
    return _show(ax, tile(np.concatenate([a, b]), 2),
                 f"{len(a)} originals (top) and their reconstructions (bottom) "
                 "(grey, [0, 1], clipped for display)")
