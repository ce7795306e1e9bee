"""Every fact about each data set, in one place: its shape, classes, split sizes,
normalisation, reader and where its files come from. Every module that needs such a fact
reads it here (``pcdiag.data.registry.DATASETS[name]`` or :func:`info`).

A new data set is one reader module in pcdiag/data/ and one line in :data:`DATASETS`.
This module imports nothing from pcdiag but the errors: any module may read it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from pcdiag.errors import BadInputError


@dataclass(frozen=True)
class DatasetInfo:
    """The facts about one data set.

    ``mean`` and ``std`` are the "standardise" normalisation after /255 (one value, or one
    per channel); ``reader`` names the module of pcdiag.data that reads the files ("idx":
    the four official IDX files; "cifar10": the official python archive); ``mirror`` is the
    official download prefix and ``mirror_env`` the variable that replaces it; ``checksums``
    maps each file to its hex digest (the reader says which: idx, the sha256 of the
    decompressed payload; cifar10, the MD5); ``debian_package`` installs the files into
    ``debian_folder``, searched after the cache.
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
    checksums: Mapping[str, str] = field(default_factory=dict, hash=False)
    debian_package: str | None = None
    debian_folder: str | None = None

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


#: The payload sha256 of the four IDX files (Debian re-gzips them, so not of the .gz).
_FASHION_MNIST_SHA256 = {
    "train-images-idx3-ubyte.gz":
        "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
    "train-labels-idx1-ubyte.gz":
        "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
    "t10k-images-idx3-ubyte.gz":
        "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
    "t10k-labels-idx1-ubyte.gz":
        "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
}
_MNIST_SHA256 = {
    "train-images-idx3-ubyte.gz":
        "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte.gz":
        "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte.gz":
        "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte.gz":
        "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}
#: MD5 of the archive (from its official page) and of each member (as published with
#: torchvision's reader). No sha256 of the members is published and the real archive cannot
#: be fetched where this reader was written, so members are checked by MD5: enough against
#: corruption and truncation. Only a member whose MD5 matched is unpickled.
_CIFAR10_MD5 = {
    "cifar-10-python.tar.gz": "c58f30108f718f92721af3b95e74349a",
    "data_batch_1": "c99cafc152244af753f735de768cd75f",
    "data_batch_2": "d4bba439e000b95fd0a9bffe97cbabec",
    "data_batch_3": "54ebc095f3ab1f0389bbae665268c751",
    "data_batch_4": "634d18415352ddfa80567beed471001a",
    "data_batch_5": "482c414d41f54cd18b22e5b47cb7c3cb",
    "test_batch": "40351d587109b95175f43aff81a1287e",
    "batches.meta": "5ff9c542aee3614f3951f8cda6e48888",
}

DATASETS: dict[str, DatasetInfo] = {
    d.name: d
    for d in (
        DatasetInfo("fashion-mnist", (28, 28, 1), 10, 60000, 10000, 0.286, 0.353, "idx",
                    "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
                    "PCDIAG_MIRROR_FASHION_MNIST", _FASHION_MNIST_SHA256,
                    "dataset-fashion-mnist", "/usr/share/datasets/fashion-mnist"),
        DatasetInfo("mnist", (28, 28, 1), 10, 60000, 10000, 0.1307, 0.3081, "idx",
                    "https://ossci-datasets.s3.amazonaws.com/mnist/", "PCDIAG_MIRROR_MNIST",
                    _MNIST_SHA256),
        # CIFAR-10's per-channel (R, G, B) mean and std: PCX's benchmark constants.
        DatasetInfo("cifar-10", (32, 32, 3), 10, 50000, 10000, (0.4914, 0.4822, 0.4465),
                    (0.2023, 0.1994, 0.2010), "cifar10", "https://www.cs.toronto.edu/~kriz/",
                    "PCDIAG_MIRROR_CIFAR_10", _CIFAR10_MD5),
    )
}


#: Config's default data set; the networks' default input shape and classes are its.
DEFAULT = "fashion-mnist"


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


def common(fact: str):
    """The value of `fact` (a DatasetInfo field) that every data set shares, for a module that
    assumes one (status's chance level: ``common("classes")``). Where they differ: an
    AssertionError naming them, as that module must then read the fact per data set."""
    values = {d.name: getattr(d, fact) for d in DATASETS.values()}
    assert len(set(values.values())) == 1, (
        f"the data sets differ in {fact} ({values}); read it per data set (pcdiag.data."
        f"registry.info(name).{fact}) where this module takes one value")
    return next(iter(values.values()))
