"""What every generative caption says about the runs' config: the gamma convention and one
sentence of the setting (pcdiag.figures.captions.describe assumes classification's forward
initialisation; these runs start every free node at 0)."""

from __future__ import annotations

import xarray as xr

from pcdiag.figures.captions import epochs_text, weights_text
from pcdiag.figures.experiments import config_of
from pcdiag.plot.styling import convention_long


def setting(ds: xr.Dataset, network: str, *notes: str, states: str, data: str,
            end: str = "") -> str:
    """The gamma convention; `network`, the squared-error output energy, zero
    initialisation, T, `states`, the batch, `data`, the epochs and the weights; then `end`;
    then each of `notes` on a line of its own."""
    cfg = config_of(ds)
    facts = [network, "squared-error output energy (the image clamped at node L)",
             "every free node (the latent x_0 too) started at 0", f"T = {cfg.inference_steps}",
             states, f"batch {cfg.batch_size}", data, epochs_text(cfg),
             f"weights {weights_text(cfg)}, weight decay {cfg.weight_decay:.3g}"]
    head = [f"{convention_long(ds)}. Energies at t = T are read after the T-th state update.",
            f"{', '.join(facts)}.{end}"]
    return "\n".join(head + [n for n in notes if n])


def decoder_text(ds: xr.Dataset, depths: str | None = None) -> str:
    """'PCX's linear decoder [64, 128, 128, 784] (hard_tanh, linear output)', or with
    `depths` the decoders of those depths."""
    cfg = config_of(ds)
    if depths is None:
        sizes = [cfg.latent_size] + [cfg.width] * (cfg.depth - 1) + [784]
        return (f"PCX's linear decoder {sizes} ({cfg.activation}, linear output; "
                "pcdiag.tasks.PCX_DECODER)")
    return (f"PCX's linear decoder (latent {cfg.latent_size}, hidden width {cfg.width}, "
            f"784 pixels, {cfg.activation}, linear output) at depths L = {depths}")
