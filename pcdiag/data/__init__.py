"""Fashion-MNIST, MNIST and CIFAR-10: find, download, verify and load the official files.

Fashion-MNIST and MNIST are the four official IDX files (:mod:`pcdiag.data.idx`); CIFAR-10
is the official python archive ``cifar-10-python.tar.gz``, read as it is or extracted
(``cifar-10-batches-py/``; :mod:`pcdiag.data.cifar10`). Search order of :func:`locate`
(:mod:`pcdiag.data.search`): ``data_dir`` argument, ``$PCDIAG_DATA``, the user cache
(``$PCDIAG_CACHE``, else ``$XDG_CACHE_HOME/pcdiag``, else ``~/.cache/pcdiag``), Debian's
``/usr/share/datasets/fashion-mnist`` (fashion-mnist only), then a download into the cache.
``data_dir``, ``$PCDIAG_DATA`` and the cache each hold one subfolder per data set.
Downloads go through pooch (temporary file, hash check, then a move into place).
Every fact about a data set is in :mod:`pcdiag.data.registry`; a new data set is one reader
module here (``source(info)`` and ``read(info, path)``, :mod:`pcdiag.data.source`) and one
line in the registry. A missing or corrupt file raises :class:`DataError` (bad input), a
failed download :class:`DownloadError` (transient); each names the file or folder, the rule
and the fix.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from pcdiag.data import holdout, registry
from pcdiag.data.cifar10 import (
    CIFAR10,
    CIFAR10_ARCHIVE,
    CIFAR10_FOLDER,
    CIFAR10_MD5,
    CIFAR10_MEMBERS,
    CIFAR10_TEST,
    CIFAR10_TRAIN,
    read_cifar10,
)
from pcdiag.data.idx import FILES, read_idx
from pcdiag.data.idx import load_raw as load_raw
from pcdiag.data.normalise import (
    FIXED_NORMALISATION,
    NORMALISATION,
    black,
    mean_std,
    normalisation_note,
)
from pcdiag.data.search import locate, reader
from pcdiag.data.source import DataError, DownloadError, cache_root

# Old names, derived from the registry (pcdiag.data.registry holds the facts).
DATASETS = tuple(n for n, d in registry.DATASETS.items() if d.reader == "idx")  # IDX sets
KNOWN_DATASETS = tuple(registry.DATASETS)
N_TRAIN = {name: d.n_train for name, d in registry.DATASETS.items()}
N_CLASSES = registry.common("classes")
SHA256 = {name: registry.DATASETS[name].checksums for name in DATASETS}
MIRRORS = {name: d.mirror for name, d in registry.DATASETS.items()}
MIRROR_ENV = {name: d.mirror_env for name, d in registry.DATASETS.items()}


@dataclass(frozen=True)
class Split:
    """One split: ``images`` float32 (N, H, W, C) standardised, ``labels`` int32 (N,)."""

    images: np.ndarray
    labels: np.ndarray


def _limit(field: str, value: int | None, available: int) -> int:
    if value is None:
        return available
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise DataError(f"{field}={value!r}: must be a positive int or None.")
    if not 1 <= value <= available:
        raise DataError(
            f"{field}={value}: must be between 1 and {available} (examples available)"
            f", or None for all."
        )
    return int(value)


def load(
    dataset: str,
    data_dir: str | os.PathLike | None = None,
    train_limit: int | None = None,
    test_limit: int | None = None,
    normalisation: str = "standardise",
) -> tuple[Split, Split]:
    """(train, test); ``*_limit`` keeps the first N examples.

    Decoded files are cached in-process per (dataset, folder); each call returns fresh float32
    copies normalised as ``(x / 255 - mean) / std``: with the data set's own
    :data:`NORMALISATION` (``normalisation="standardise"``), or ``mean = std = 0.5``
    (``"pcx"``, PCX's benchmark scripts: pixels 0 and 255 become -1 and 1).
    """
    train, _, test = load_with_validation(dataset, data_dir, train_limit, test_limit,
                                          normalisation)
    return train, test


def load_with_validation(
    dataset: str,
    data_dir: str | os.PathLike | None = None,
    train_limit: int | None = None,
    test_limit: int | None = None,
    normalisation: str = "standardise",
    validation_size: int = 0,
) -> tuple[Split, Split | None, Split]:
    """(train, validation, test) as :func:`load`, the validation split the last
    `validation_size` examples of the official training file and the training examples
    the first `train_limit` of the rest (:mod:`pcdiag.data.holdout`), normalised alike;
    validation None when `validation_size` is 0."""
    path = locate(dataset, data_dir).resolve()
    info = registry.DATASETS[dataset]
    train_x, train_y, test_x, test_y = reader(info).read(info, path)
    if validation_size:
        holdout.check(dataset, validation_size, train_limit)
    n_train = _limit("train_limit", train_limit, len(train_y) - validation_size)
    n_test = _limit("test_limit", test_limit, len(test_y))
    mean, std = (np.asarray(v, np.float32) for v in mean_std(dataset, normalisation))

    def split(x: np.ndarray, y: np.ndarray, rows: slice) -> Split:
        images = x[rows].astype(np.float32)
        if images.ndim == 3:  # IDX: one channel, so (N, H, W, C) as every data set
            images = images[..., None]
        images /= 255
        images -= mean  # per channel where mean and std are
        images /= std
        return Split(images, y[rows].astype(np.int32))

    train_rows, validation_rows = holdout.rows(len(train_y), validation_size, n_train)
    validation = split(train_x, train_y, validation_rows) if validation_size else None
    return (split(train_x, train_y, train_rows), validation,
            split(test_x, test_y, slice(0, n_test)))


__all__ = [
    "CIFAR10", "CIFAR10_ARCHIVE", "CIFAR10_FOLDER", "CIFAR10_MD5", "CIFAR10_MEMBERS",
    "CIFAR10_TEST", "CIFAR10_TRAIN", "DATASETS", "FILES", "FIXED_NORMALISATION",
    "KNOWN_DATASETS", "MIRRORS", "MIRROR_ENV", "N_CLASSES", "N_TRAIN", "NORMALISATION",
    "SHA256", "DataError", "DownloadError", "Split", "black", "cache_root", "holdout", "load",
    "load_with_validation", "locate",
    "mean_std", "normalisation_note", "read_cifar10", "read_idx", "registry",
    "load_raw",
]
