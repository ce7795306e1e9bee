"""Every fact about each data set, in one place: its shape, classes, split sizes,
normalisation, reader and where its files come from. Every module that needs such a fact
reads it here (``pcdiag.data.registry.DATASETS[name]`` or :func:`info`).

A new data set is one reader module in pcdiag/data/ and one line in :data:`DATASETS`.
This module imports nothing from pcdiag but the errors: any module may read it.
"""

from __future__ import annotations

from dataclasses import dataclass

from pcdiag.errors import BadInputError


@dataclass(frozen=True)
class DatasetInfo:
    """The facts about one data set.

    ``mean`` and ``std`` are the "standardise" normalisation after /255 (one value, or one
    per channel); ``reader`` names the module of pcdiag.data that reads the files ("idx":
    the four official IDX files; "cifar10": the official python archive); ``mirror`` is the
    official download prefix and ``mirror_env`` the variable that replaces it.
    """

    name: str
    input_shape: tuple[int, ...]  # one example, (H, W, C)
    classes: int
    n_train: int
    n_test: int
    mean: float | tuple[float, ...]
    std: float | tuple[float, ...]
    reader: str
    mirror: str
    mirror_env: str

    @property
    def chance(self) -> float:
        """The accuracy of a guess: 1 / classes."""
        return 1.0 / self.classes

    @property
    def input_size(self) -> int:
        """Numbers in one example."""
        size = 1
        for n in self.input_shape:
            size *= n
        return size


DATASETS: dict[str, DatasetInfo] = {
    d.name: d
    for d in (
        DatasetInfo("fashion-mnist", (28, 28, 1), 10, 60000, 10000, 0.286, 0.353, "idx",
                    "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
                    "PCDIAG_MIRROR_FASHION_MNIST"),
        DatasetInfo("mnist", (28, 28, 1), 10, 60000, 10000, 0.1307, 0.3081, "idx",
                    "https://ossci-datasets.s3.amazonaws.com/mnist/", "PCDIAG_MIRROR_MNIST"),
        # CIFAR-10's per-channel (R, G, B) mean and std: PCX's benchmark constants.
        DatasetInfo("cifar-10", (32, 32, 3), 10, 50000, 10000, (0.4914, 0.4822, 0.4465),
                    (0.2023, 0.1994, 0.2010), "cifar10", "https://www.cs.toronto.edu/~kriz/",
                    "PCDIAG_MIRROR_CIFAR_10"),
    )
}


def info(name: str) -> DatasetInfo:
    """The facts about data set `name`; an unknown name is a BadInputError listing the
    known ones."""
    try:
        return DATASETS[name]
    except KeyError:
        raise BadInputError(
            f"dataset {name!r} is unknown; known data sets: {', '.join(DATASETS)}. Fix: use "
            "one of them (a new one is a reader module in pcdiag/data/ and a line in "
            "pcdiag.data.registry.DATASETS)"
        ) from None
