"""The one caption describer: what every figure's caption says about the config its data
were made with (the gamma convention, the network, states, data and weights), kept outside
the image (`Figure.caption`; `draw_footnote` draws it under the figure on request)."""

from __future__ import annotations

import xarray as xr

from pcdiag.config import Config
from pcdiag.figures.experiments import config_of
from pcdiag.plot.styling import convention_long


def n_seeds(ds: xr.Dataset) -> int:
    """How many seeds the data hold (1 without a seed dim)."""
    return ds.sizes.get("seed", 1)


def epochs_text(cfg: Config) -> str:
    """'1 epoch (937 training steps)': the budget every figure's numbers are read after
    (issue 20: a figure says how long its runs trained; a claim about final accuracy needs a
    budget that reaches it)."""
    steps = cfg.epochs * cfg.steps_per_epoch
    return f"{cfg.epochs} epoch{'s' if cfg.epochs > 1 else ''} ({steps} training steps)"


def weights_text(cfg: Config) -> str:
    """'AdamW lr 0.001' or 'momentum (momentum 0.9) lr 0.01'."""
    if cfg.weight_optimizer == "adamw":
        return f"AdamW lr {cfg.weight_lr:g}"
    return f"{cfg.weight_optimizer} (momentum {cfg.momentum:g}) lr {cfg.weight_lr:g}"


def describe(ds: xr.Dataset, network: str, *notes: str, states: str, data: str | None = None,
             steps: bool = True, weights: bool = False, end: str = "") -> str:
    """A caption: the gamma convention; one sentence of the data's config (`network`, which
    names the activation too, the output energy, forward initialisation, T unless `steps` is
    False, `states`, the batch, `data` (default: the training images), the epochs and, with
    `weights`, the weight optimizer and decay), then `end`; then each of `notes` that is not
    empty on a line of its own."""
    cfg = config_of(ds)
    facts = [network, f"{cfg.output_energy} output energy", "forward initialisation"]
    facts += [f"T = {cfg.inference_steps}"] if steps else []
    facts += [states, f"batch {cfg.batch_size}",
              data or f"{cfg.n_train} {cfg.dataset} training images", epochs_text(cfg)]
    sentence = ", ".join(facts)
    if weights:
        sentence += f"; weights {weights_text(cfg)}, weight decay {cfg.weight_decay:g}"
    head = [f"{convention_long(ds)}. Energies at t = T are read after the T-th state update.",
            f"{sentence}.{end}"]
    return "\n".join(head + [note for note in notes if note])
