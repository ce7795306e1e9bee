"""The CIFAR-10 reader: the official python archive ``cifar-10-python.tar.gz``, read as it
is or extracted (``cifar-10-batches-py/``), each member checked by MD5 (from
:mod:`pcdiag.data.registry`) before it is unpickled."""

from __future__ import annotations

import functools
import hashlib
import io
import os
import pickle
import tarfile
import zlib
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from pcdiag.data.download import fetch
from pcdiag.data.registry import DATASETS, DatasetInfo
from pcdiag.data.source import DataError, Source

CIFAR10 = "cifar-10"
CIFAR10_ARCHIVE = "cifar-10-python.tar.gz"  # the python version of the official archive
CIFAR10_FOLDER = "cifar-10-batches-py"  # the archive's one folder, the members' parent
CIFAR10_TRAIN = tuple(f"data_batch_{i}" for i in range(1, 6))
CIFAR10_TEST = "test_batch"
CIFAR10_MEMBERS = (*CIFAR10_TRAIN, CIFAR10_TEST, "batches.meta")  # what is read and checked
#: MD5 of the archive (from its official page) and of each member (as published with
#: torchvision's reader): the registry's checksums of cifar-10.
CIFAR10_MD5 = DATASETS[CIFAR10].checksums
N_CLASSES = DATASETS[CIFAR10].classes
_CIFAR_SIDE = 32
_CIFAR_PIXELS = 3 * _CIFAR_SIDE * _CIFAR_SIDE  # a row of b"data": 1024 R, 1024 G, 1024 B
_CIFAR_REFETCH = (f"Fix: delete it and download {CIFAR10_ARCHIVE} again "
                  f"({DATASETS[CIFAR10].mirror}{CIFAR10_ARCHIVE}).")


class Cifar10Source(Source):
    """The extracted member folder (preferred) or the archive in the data set's folder; a
    download fetches the archive."""

    def find(self, folder: Path) -> Path | None:
        extracted, archive = folder / CIFAR10_FOLDER, folder / CIFAR10_ARCHIVE
        if extracted.is_dir():
            return extracted
        return archive if archive.is_file() else None

    def missing(self, folder: Path) -> list[str]:
        return [] if self.find(folder) else [CIFAR10_ARCHIVE]

    def expected(self, folder: Path) -> str:
        return (f"the archive {folder / CIFAR10_ARCHIVE} or the folder "
                f"{folder / CIFAR10_FOLDER} extracted from it")

    def misplaced_fix(self, root: Path, folder: Path) -> str:
        if root.name == self.name:
            return super().misplaced_fix(root, folder)
        return f"move it into {folder}/."

    def cache_note(self, folder: Path, exists: bool) -> str:
        return f"no {CIFAR10_ARCHIVE} or {CIFAR10_FOLDER}/"

    def ways(self) -> list[str]:
        return [
            f"download {self.info.mirror}{CIFAR10_ARCHIVE} (the python version) into "
            f"ROOT/{self.name}/ (as it is or extracted) and pass data_dir=ROOT or export "
            "PCDIAG_DATA=ROOT",
            f"export {self.info.mirror_env}=URL_PREFIX (http(s):// or file://) to download "
            f"{CIFAR10_ARCHIVE} from there into the cache",
        ]

    def url(self, base: str) -> str:
        return base.rstrip("/") + "/" + CIFAR10_ARCHIVE

    def download(self, folder: Path, base: str) -> Path:
        url, expected = self.url(base), self.info.checksums[CIFAR10_ARCHIVE]
        try:
            return fetch(url, folder, CIFAR10_ARCHIVE, f"md5:{expected}")
        except ValueError as err:  # pooch: the hash did not match; the temporary file is gone
            raise DataError(
                f"downloaded {url} but its MD5 is not {expected} ({err}), so nothing was "
                f"saved: it is corrupt or not the official {CIFAR10_ARCHIVE}. Fix: set "
                f"{self.info.mirror_env} to a mirror serving the official archive, or unset it."
            ) from None


def source(info: DatasetInfo) -> Cifar10Source:
    return Cifar10Source(info)


def read(info: DatasetInfo, path: Path) -> tuple[np.ndarray, ...]:
    """:func:`read_cifar10` of ``path`` with the registry's checksums, decoded once per
    (path, checksums)."""
    return load_raw(str(path), tuple(sorted(info.checksums.items())))


class _BatchUnpickler(pickle.Unpickler):
    """A CIFAR batch holds plain containers and numpy arrays: anything else is refused (an
    unpickled object can run code; the MD5 check before this is the first guard)."""

    _ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("_codecs", "encode"),  # bytes in a protocol-2 pickle written by Python 3
    }

    def find_class(self, module: str, name: str):
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"it refers to {module}.{name}, not a CIFAR batch")
        return super().find_class(module, name)


def _cifar10_batch(raw: bytes, where: str) -> tuple[np.ndarray, np.ndarray]:
    """(images uint8 (n, 32, 32, 3), labels uint8 (n,)) of one batch pickle."""
    try:
        batch = _BatchUnpickler(io.BytesIO(raw), encoding="bytes").load()
    except Exception as err:  # noqa: BLE001 - a bad pickle raises anything; all say the same
        raise DataError(f"{where}: not a readable CIFAR-10 batch ({err}). {_CIFAR_REFETCH}") \
            from None
    if not isinstance(batch, dict) or not {b"data", b"labels"} <= set(batch):
        found = sorted(batch) if isinstance(batch, dict) else type(batch).__name__
        raise DataError(f"{where}: expected a dict with keys b'data' and b'labels', found "
                        f"{found}. {_CIFAR_REFETCH}")
    images, labels = batch[b"data"], np.asarray(batch[b"labels"])
    if (not isinstance(images, np.ndarray) or images.dtype != np.uint8 or images.ndim != 2
            or images.shape[1] != _CIFAR_PIXELS):
        what = (f"{images.dtype} {images.shape}" if isinstance(images, np.ndarray)
                else type(images).__name__)
        raise DataError(f"{where}: b'data' is {what}, expected uint8 (N, {_CIFAR_PIXELS}): "
                        f"N images of 3 channels of {_CIFAR_SIDE}x{_CIFAR_SIDE}. "
                        + _CIFAR_REFETCH)
    if labels.shape != (len(images),) or not np.issubdtype(labels.dtype, np.integer):
        raise DataError(f"{where}: {len(images)} images but b'labels' is {labels.dtype} "
                        f"{labels.shape}, expected {len(images)} integer labels. "
                        + _CIFAR_REFETCH)
    if labels.size and (labels.min() < 0 or labels.max() >= N_CLASSES):
        bad = int(np.argmax((labels < 0) | (labels >= N_CLASSES)))
        raise DataError(f"{where}: label {labels[bad]} at index {bad}, expected 0.."
                        f"{N_CLASSES - 1}. {_CIFAR_REFETCH}")
    # channel-major rows (R plane, G plane, B plane; each row-major) -> NHWC
    images = images.reshape(-1, 3, _CIFAR_SIDE, _CIFAR_SIDE).transpose(0, 2, 3, 1)
    return images, labels.astype(np.uint8)


def _cifar10_members(source: Path):
    """(member name, its bytes) of each wanted member, from the archive (in its own order) or
    the extracted folder; DataError names a member that is missing, unreadable or truncated."""
    if source.is_dir():
        missing = [m for m in CIFAR10_MEMBERS if not (source / m).is_file()]
        if missing:
            raise DataError(
                f"{source}: incomplete extracted {CIFAR10} folder: missing "
                f"{', '.join(missing)}. Fix: extract {CIFAR10_ARCHIVE} again, or delete the "
                f"folder and put the archive beside it."
            )
        for member in CIFAR10_MEMBERS:
            path = source / member
            try:
                yield member, path.read_bytes()
            except PermissionError:
                raise DataError(f"{path}: not readable (permission denied). Fix: make it "
                                f"readable (chmod a+r) or use another copy.") from None
            except OSError as err:
                raise DataError(f"{path}: could not be read ({err}).") from None
        return
    wanted = {f"{CIFAR10_FOLDER}/{m}": m for m in CIFAR10_MEMBERS}
    current = last = None
    try:
        with tarfile.open(source, "r|gz") as archive:  # a stream: one pass, no seeking
            for info in archive:
                if info.name not in wanted:
                    continue
                current = wanted.pop(info.name)
                reader = archive.extractfile(info)
                if reader is None:
                    raise DataError(f"{source}: member {info.name} is not a file. "
                                    + _CIFAR_REFETCH)
                raw = reader.read()
                if len(raw) != info.size:
                    raise tarfile.ReadError(f"{len(raw)} of {info.size} bytes")
                yield current, raw
                current, last = None, current
    except FileNotFoundError:
        raise DataError(f"{source}: file not found. {_CIFAR_REFETCH}") from None
    except PermissionError:
        raise DataError(f"{source}: not readable (permission denied). Fix: make it readable "
                        f"(chmod a+r) or use another copy.") from None
    except (tarfile.TarError, EOFError, zlib.error, OSError) as err:
        if current is not None:
            where = f"member {CIFAR10_FOLDER}/{current} is truncated or corrupt"
        else:
            after = f"member {last}" if last else "its start"
            where = (f"truncated or corrupt archive after {after} (not read: "
                     f"{', '.join(sorted(wanted.values()))})")
        raise DataError(f"{source}: {where} ({err}). {_CIFAR_REFETCH}") from None
    if wanted:
        raise DataError(
            f"{source}: the archive lacks {', '.join(sorted(wanted))}; it is truncated or not "
            f"the official {CIFAR10_ARCHIVE}. {_CIFAR_REFETCH}"
        )


def read_cifar10(source: str | os.PathLike,
                 checksums: Mapping[str, str] | None = None) -> tuple[np.ndarray, ...]:
    """Read CIFAR-10 from the official python archive or the folder extracted from it.

    ``source`` is ``cifar-10-python.tar.gz`` (its members are read from it directly) or the
    ``cifar-10-batches-py`` folder. Each member is checked against the MD5 in ``checksums``
    (default :data:`CIFAR10_MD5`) before it is unpickled. Returns read-only arrays (train
    images uint8 (50000, 32, 32, 3), train labels (50000,), test images, test labels), the
    images NHWC with channels R, G, B; the training batches in order 1..5.
    """
    source = Path(source)
    checksums = CIFAR10_MD5 if checksums is None else checksums
    batches = {}
    for member, raw in _cifar10_members(source):
        where = f"{source}: member {member}" if source.is_file() else str(source / member)
        found = hashlib.md5(raw, usedforsecurity=False).hexdigest()
        if found != checksums[member]:
            raise DataError(
                f"{where}: checksum mismatch: MD5 is {found}, expected {checksums[member]}; "
                f"it is corrupt or not the official one. {_CIFAR_REFETCH}"
            )
        if member != "batches.meta":  # checked, but the class names are not needed
            batches[member] = _cifar10_batch(raw, where)
    arrays = []
    for names in (CIFAR10_TRAIN, (CIFAR10_TEST,)):
        for part in zip(*(batches[name] for name in names)):
            array = np.concatenate(part)
            array.setflags(write=False)
            arrays.append(array)
    return tuple(arrays)


@functools.lru_cache(maxsize=2)
def load_raw(source: str, checksums: tuple[tuple[str, str], ...]):
    return read_cifar10(source, dict(checksums))
