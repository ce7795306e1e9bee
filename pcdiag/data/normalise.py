"""How images become inputs: ``(x / 255 - mean) / std``, with the data set's own mean and
std (``"standardise"``, from :mod:`pcdiag.data.registry`) or a fixed pair."""

from __future__ import annotations

import numpy as np

from pcdiag.data.registry import DATASETS
from pcdiag.data.source import DataError

#: (mean, std) after /255 of each normalisation other than "standardise" (the data set's own):
#: "pcx" is torchvision's Normalize((0.5,), (0.5,)) of PCX's scripts: 0 -> -1, 255 -> 1.
#: "unit" is x / 255 alone (pixels in [0, 1]), PCX's generative benchmarks (ToTensor).
FIXED_NORMALISATION = {"pcx": (0.5, 0.5), "unit": (0.0, 1.0)}
#: Each data set's own (mean, std) after /255 (per channel (R, G, B) for CIFAR-10).
NORMALISATION = {name: (d.mean, d.std) for name, d in DATASETS.items()}


def mean_std(dataset: str, normalisation: str = "standardise"):
    """(mean, std) after /255 that `normalisation` uses for `dataset` (per channel for
    CIFAR-10's own standardisation)."""
    if normalisation == "standardise":
        facts = DATASETS[dataset]
        return facts.mean, facts.std
    if normalisation in FIXED_NORMALISATION:
        return FIXED_NORMALISATION[normalisation]
    raise DataError(f"normalisation={normalisation!r}: must be one of standardise, "
                    f"{', '.join(FIXED_NORMALISATION)}.")


def normalisation_note(dataset: str, normalisation: str = "standardise") -> str:
    """How ``dataset``'s images are normalised, in words (a Dataset attr)."""
    mean, std = mean_std(dataset, normalisation)
    if isinstance(mean, tuple):
        return f"(x / 255 - mean) / std per channel (R, G, B), mean {mean}, std {std}"
    return f"(x / 255 - mean) / std, mean {mean}, std {std}"


def black(dataset: str, normalisation: str = "standardise") -> tuple[float, ...]:
    """A black pixel of ``dataset`` after normalisation, per channel: what the random crop
    pads with (torchvision pads the raw image, before Normalize); float32 as load() computes."""
    mean, std = mean_std(dataset, normalisation)
    return tuple(float(-np.float32(m) / np.float32(s))
                 for m, s in zip(np.atleast_1d(mean), np.atleast_1d(std)))
