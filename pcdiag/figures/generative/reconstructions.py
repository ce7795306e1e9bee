"""``generative_reconstructions``: test images (top row) and their reconstructions by a PC
decoder (the latent inferred, then the decoder's output) and by BP's autoencoder (PCX's
bp_decoder baseline), with the MSE of the shown images; the images are in the .nc, so the
figure redraws from its data alone."""

from __future__ import annotations

import json

import numpy as np
import xarray as xr
from matplotlib.figure import Figure as MplFigure

from pcdiag.figures.errors import FigureError
from pcdiag.figures.experiments import keep
from pcdiag.figures.generative import profile as gen
from pcdiag.figures.generative.text import decoder_text, setting
from pcdiag.figures.layout import TWO_COLUMNS, short_number
from pcdiag.figures.registry import Figure
from pcdiag.plot.generative import sample_grid
from pcdiag.plot.styling import algorithm_style, style

SIDE = 28
#: Fashion-MNIST's class names, by label (Xiao et al. 2017).
FASHION_CLASSES = ("T-shirt/top", "trouser", "pullover", "dress", "coat", "sandal", "shirt",
                   "sneaker", "bag", "ankle boot")


def _data(profile, results) -> xr.Dataset:
    g = gen.generative_profile(profile)
    ds = results["reconstructions"]
    ds = keep(ds, "original", "reconstruction", "label", "test_mse", "mean_image_mse")
    ds["label"].attrs = {"long_name": "class label of each shown test image", "units": "1",
                         "comment": "Fashion-MNIST classes 0-9 (FASHION_CLASSES)"}
    # float16 keeps 3 significant digits of each pixel in [0, 1]: the file stays small
    ds["original"] = ds["original"].astype(np.float16)
    ds["reconstruction"] = ds["reconstruction"].astype(np.float16)
    ds["original"].attrs = {"long_name": "test image", "units": "1",
                            "comment": "the first test images, x / 255, 28 x 28 flattened "
                                       "row by row (float16)"}
    ds["reconstruction"].attrs = {
        "long_name": "reconstruction", "units": "1",
        "comment": "pc: the decoder's output from the latent inferred with the weights "
                   "fixed (pcdiag.algorithms.reconstruct); bp: the autoencoder's output "
                   "(float16, not clipped)"}
    ds.attrs["generative_profile"] = g.to_json()
    return ds  # not conform(): image and pixel are not sweep dims


def shown_mse(ds: xr.Dataset) -> xr.DataArray:
    """Per algorithm: the per-pixel MSE of the shown images' reconstructions, from the
    stored (float16) pixels in float64."""
    diff = ds["reconstruction"].astype(np.float64) - ds["original"].astype(np.float64)
    return (diff ** 2).mean(("image", "pixel"))


def rows_of(ds: xr.Dataset) -> list[tuple[str, str, np.ndarray]]:
    """The drawn rows, top to bottom: (label, colour, images (N, 28 x 28) float32)."""
    mse = shown_mse(ds)
    rows = [("test image", "black", ds["original"].values.astype(np.float32))]
    for a in (str(v) for v in ds["algorithm"].values):
        look = algorithm_style(a)
        rows.append((f"{look['label']}\nMSE {short_number(float(mse.sel(algorithm=a)))}",
                     look["color"], ds["reconstruction"].sel(algorithm=a).values
                     .astype(np.float32)))
    return rows


def plot_generative_reconstructions(ds: xr.Dataset) -> MplFigure:
    """One mosaic (pcdiag.plot.generative.sample_grid: grey on [0, 1], clipped for display
    only): the test images in the top row, each algorithm's reconstructions below, each row
    labelled with its algorithm (in its colour) and the shown images' MSE."""
    if "original" not in ds or "reconstruction" not in ds:
        raise FigureError("generative_reconstructions needs the variables original and "
                          "reconstruction; make the data with `pcdiag figures --only "
                          "generative_reconstructions`")
    rows = rows_of(ds)
    n = ds.sizes["image"]
    with style():
        height = min(4.0, 0.85 * TWO_COLUMNS * len(rows) / n) + 0.2  # the mosaic's aspect
        fig = MplFigure(figsize=(TWO_COLUMNS, height),
                        layout="constrained")
        ax = fig.subplots()
        sample_grid(np.concatenate([images for _, _, images in rows]), ax, rows=len(rows))
        ax.set_yticks([r * (SIDE + 1) + (SIDE - 1) / 2 for r in range(len(rows))],
                      [text for text, _, _ in rows])
        for tick, (_, colour, _) in zip(ax.get_yticklabels(), rows):
            tick.set_color(colour)
        ax.tick_params(axis="both", length=0)
        if "label" in ds:  # each column's class, under the mosaic
            ax.set_xticks([i * (SIDE + 1) + (SIDE - 1) / 2 for i in range(n)],
                          [class_name(v) for v in ds["label"].values])
    return fig


def class_name(label) -> str:
    """A Fashion-MNIST label's class name ('7' for a label outside 0-9)."""
    label = int(label)
    return FASHION_CLASSES[label] if 0 <= label < len(FASHION_CLASSES) else str(label)


def summary_generative_reconstructions(ds: xr.Dataset) -> str:
    mse = shown_mse(ds)
    test = ds["test_mse"].isel(epoch=-1)
    cells = [f"{a}: shown {short_number(float(mse.sel(algorithm=a)))}, test "
             f"{short_number(float(test.sel(algorithm=a)))}" for a in ds["algorithm"].values]
    return (f"  reconstruction MSE per pixel of the {ds.sizes['image']} shown test images, "
            f"and over the test set; mean image {short_number(float(ds['mean_image_mse'].max()))}"
            "\n    " + "; ".join(cells))


def caption_generative_reconstructions(ds: xr.Dataset) -> str:
    g = json.loads(ds.attrs.get("generative_profile", "{}"))
    mse = shown_mse(ds)
    test = ds["test_mse"].isel(epoch=-1)
    tests = g.get("test_limit") or 10000
    shown = ", ".join(f"{algorithm_style(str(a))['label']} "
                      f"{short_number(float(mse.sel(algorithm=a)))} (all {tests} test images: "
                      f"{short_number(float(test.sel(algorithm=a)))})"
                      for a in ds["algorithm"].values)
    return setting(
        ds, decoder_text(ds),
        states=f"PC's states SGD with momentum 0.45 at PCX's γ = {gen.PCX_GAMMA:.4g}",
        data=f"{g.get('recon_train_limit') or 60000} Fashion-MNIST training images (x / 255)",
        end=" BP: PCX's autoencoder baseline (an MLP encoder mirroring the decoder, then the "
            "same decoder, trained end to end on the squared error), with the decoder "
            "recipe's AdamW settings (not tuned for BP).",
    ) + "\n" + "\n".join([
        f"Top row: the first {ds.sizes['image']} test images (their classes under the "
        "columns); below: their reconstructions "
        "(PC: the latent inferred from 0 with the weights fixed, T state steps, then the "
        "decoder's output; BP: the autoencoder's output), pixels clipped to [0, 1] for "
        "drawing only (black 0, white 1).",
        f"Per-pixel MSE of the shown images (from the stored float16 pixels): {shown}; the "
        f"mean training image scores {short_number(float(ds['mean_image_mse'].max()))}. "
        "BP encodes the image in one pass, PC infers the latent in T steps: the two are "
        "different models of the same decoder.",
    ])


FIGURE = Figure(
    name="generative_reconstructions",
    description="Test images and their reconstructions by a PC decoder (latent inferred) and "
                "by BP's autoencoder, with the shown images' MSE.",
    sweeps=gen.reconstruction_specs,
    data=_data,
    plot=plot_generative_reconstructions,
    caption=caption_generative_reconstructions,
    summary=summary_generative_reconstructions,
)
