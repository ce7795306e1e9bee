"""The validation split: examples held out of the official training file (Config field
``validation_size``), so that a setting can be chosen without looking at the test set.

With ``validation_size = V`` and N examples in the official training file, the validation
split is the LAST V examples (rows N - V .. N - 1, in the file's order) and the training
examples are taken from the first N - V rows: ``train_limit`` keeps selecting the first
examples, ``train_limit=None`` means all N - V of them. The two never overlap. The held-out
images are normalised exactly as the training images (the data set's fixed mean and std,
pcdiag.data.normalise). ``V = 0`` (the default) holds nothing out: the data, the compiled
program and the Dataset are the same as without the field.
"""

from __future__ import annotations

from pcdiag.data import registry
from pcdiag.errors import ConfigError


def check(dataset: str, validation_size, train_limit: int | None) -> None:
    """ConfigError (naming the field, the rule and the fix) unless `validation_size` is an
    integer >= 0 with validation_size + (train_limit or the rest) <= the training file's
    size, leaving at least one training example."""
    if isinstance(validation_size, bool) or not isinstance(validation_size, int) \
            or validation_size < 0:
        raise ConfigError(f"validation_size={validation_size!r} is invalid: must be an integer "
                          ">= 0 (examples held out of the training set; 0 holds none out)")
    n = registry.info(dataset).n_train
    if validation_size >= n:
        raise ConfigError(
            f"validation_size={validation_size} is invalid: {dataset} has only {n} training "
            f"examples and at least one must stay for training; set validation_size < {n}")
    if validation_size and train_limit is not None and validation_size + train_limit > n:
        raise ConfigError(
            f"validation_size={validation_size} is invalid: validation_size + train_limit "
            f"({validation_size} + {train_limit}) must be <= {n}, the training examples of "
            f"{dataset} (the validation split is the last validation_size of them, the "
            f"training examples the first train_limit); lower validation_size or train_limit "
            f"to at most {n - train_limit} or {n - validation_size}")


def rows(n_file: int, validation_size: int, train_limit: int | None) -> tuple[slice, slice]:
    """(training rows, validation rows) of a training file of `n_file` examples."""
    pool = n_file - validation_size
    n_train = pool if train_limit is None else train_limit
    return slice(0, n_train), slice(pool, n_file)
