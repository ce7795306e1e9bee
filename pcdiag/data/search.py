"""Where a data set is found, written once for every reader: the ``data_dir`` argument,
``$PCDIAG_DATA``, the user cache, a Debian package folder (where the registry names one),
then a download into the cache. Each reader says through its :class:`~pcdiag.data.source.
Source` which files make the set, what a folder must hold and what to download."""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from types import ModuleType

from pcdiag.data.registry import DATASETS, DatasetInfo
from pcdiag.data.source import (
    DataError,
    DownloadError,
    Source,
    cache_root,
    env,
    folder_exists,
    mirror,
)


def reader(info: DatasetInfo) -> ModuleType:
    """The reader module of a data set: ``pcdiag.data.<info.reader>``."""
    return importlib.import_module(f"{__package__}.{info.reader}")


def locate(
    dataset: str, data_dir: str | os.PathLike | None = None, *, download: bool = True
) -> Path:
    """What the data set's reader reads (downloading it into the cache if needed): the folder
    of the four IDX files, or for CIFAR-10 the extracted ``cifar-10-batches-py`` folder or
    the archive (see :func:`pcdiag.data.read_cifar10`)."""
    if dataset not in DATASETS:
        raise DataError(
            f"unknown dataset {dataset!r}. Fix: use one of {', '.join(DATASETS)}.")
    info = DATASETS[dataset]
    source: Source = reader(info).source(info)
    if data_dir is not None:
        root = Path(os.path.abspath(Path(data_dir).expanduser()))
        return _named(source, root, f"data_dir={str(data_dir)!r}",
                      f"pass the folder that holds {dataset}/, or leave data_dir unset.")
    if value := env("PCDIAG_DATA"):
        root = Path(os.path.abspath(Path(value).expanduser()))
        return _named(source, root, f"environment variable PCDIAG_DATA={value!r}",
                      f"point PCDIAG_DATA to the folder that holds {dataset}/, or unset it.")

    looked = ["data_dir argument: not given", "PCDIAG_DATA: not set"]
    cache = Path(os.path.abspath(cache_root() / dataset))
    exists = folder_exists(cache, "cache")
    if exists and (found := source.find(cache)) is not None:
        return found
    looked.append(f"cache {cache}: {source.cache_note(cache, exists)}")
    if info.debian_folder is not None:
        system, origin = Path(info.debian_folder), f"Debian package {info.debian_package}"
        if folder_exists(system, origin):
            if (found := source.find(system)) is not None:
                return found
            raise _incomplete(source, system, origin,
                              f"sudo apt-get install --reinstall {info.debian_package}.")
        looked.append(f"Debian package folder {system}: not installed")
    if not download:
        raise DataError(f"{dataset} not found and download=False. " + _report(looked, source))
    base = mirror(info)
    try:
        return source.download(cache, base)
    except OSError as err:  # the transfer failed; a wrong file raised DataError
        looked.append(f"download from {source.url(base)} into {cache}: failed ({err})")
        raise DownloadError(
            f"{dataset} not found and could not be downloaded. " + _report(looked, source)
        ) from err


def _named(source: Source, root: Path, origin: str, fix: str) -> Path:
    """The data set under a root the user named; any shortfall is an error."""
    if not folder_exists(root, origin):
        raise DataError(f"{origin}: folder {root} does not exist. Fix: {fix}")
    folder = root / source.name
    if folder_exists(folder, origin):
        if (found := source.find(folder)) is not None:
            return found
        if source.partial(folder):
            raise _incomplete(source, folder, origin, f"copy the missing files into {folder}.")
    if source.find(root) is not None:  # the files sit in root itself: a common slip
        fix = source.misplaced_fix(root, folder)
    raise DataError(
        f"{origin}: {root} does not contain the {source.name} data set: expected "
        f"{source.expected(folder)}. Fix: {fix}"
    )


def _incomplete(source: Source, folder: Path, origin: str, fix: str) -> DataError:
    what = ", ".join(f"missing {source.describe(name)}" for name in source.missing(folder))
    return DataError(f"{origin}: incomplete data folder {folder}: {what}. Fix: {fix}")


def _report(looked: list[str], source: Source) -> str:
    return ("Looked in:\n" + "\n".join(f"  - {place}" for place in looked)
            + "\nWays to provide the data:\n" + "\n".join(f"  - {way}" for way in source.ways()))
