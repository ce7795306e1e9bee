"""The IDX reader (Fashion-MNIST, MNIST): the four official ``.gz`` files of a data set in one
folder, each checked against the sha256 of its decompressed payload (Debian re-gzips the
files) from :mod:`pcdiag.data.registry`."""

from __future__ import annotations

import functools
import gzip
import hashlib
import os
import tempfile
import zlib
from pathlib import Path

import numpy as np

from pcdiag.data.download import fetch
from pcdiag.data.registry import DATASETS, DatasetInfo
from pcdiag.data.source import DataError, Source

FILES = {  # file name -> what it is, for messages
    "train-images-idx3-ubyte.gz": "training image file",
    "train-labels-idx1-ubyte.gz": "training label file",
    "t10k-images-idx3-ubyte.gz": "test image file",
    "t10k-labels-idx1-ubyte.gz": "test label file",
}
_IDX_UBYTE = 0x08
_SIDE = 28
_REFETCH = "Fix: delete it and re-download it (or re-copy it from a good source)."


class IdxSource(Source):
    """Four IDX files in the data set's folder; a download fetches only those it lacks."""

    def find(self, folder: Path) -> Path | None:
        return None if self.missing(folder) else folder

    def missing(self, folder: Path) -> list[str]:
        return [name for name in FILES if not (folder / name).is_file()]

    def partial(self, folder: Path) -> bool:
        return 0 < len(self.missing(folder)) < len(FILES)

    def describe(self, name: str) -> str:
        return f"{FILES[name]} {name}"

    def expected(self, folder: Path) -> str:
        return f"the folder {folder} with the four files {', '.join(FILES)}"

    def ways(self) -> list[str]:
        info = self.info
        ways = [
            f'load("{self.name}", data_dir=ROOT) with the four files in ROOT/{self.name}/',
            "export PCDIAG_DATA=ROOT (same layout)",
        ]
        if info.debian_folder is not None:
            ways.append(f"sudo apt-get install {info.debian_package} (files in "
                        f"{Path(info.debian_folder)})")
        ways.append(f"export {info.mirror_env}=URL_PREFIX (http(s):// or file://) to download")
        return ways

    def download(self, folder: Path, base: str) -> Path:
        """Fetch the files ``folder`` lacks: temp folder, payload checksum, atomic rename."""
        names = self.missing(folder)
        folder.mkdir(parents=True, exist_ok=True)
        for name in names:
            url = base.rstrip("/") + "/" + name
            with tempfile.TemporaryDirectory(prefix=f".{name}.", suffix=".part",
                                             dir=folder) as tmp:
                path = fetch(url, Path(tmp), name, None)  # the payload's sha256 is checked here:
                try:
                    read_idx(path, self.info.checksums[name])
                except DataError as err:
                    raise DataError(
                        f"downloaded {url} but it failed verification, so nothing was saved: "
                        f"{err}\nFix: set {self.info.mirror_env} to a mirror serving the "
                        "official files."
                    ) from None
                os.replace(path, folder / name)
        return folder


def source(info: DatasetInfo) -> IdxSource:
    return IdxSource(info)


def read(info: DatasetInfo, path: Path) -> tuple[np.ndarray, ...]:
    """Verified read-only uint8 arrays (train images, train labels, test images, test labels)
    of the data set's folder ``path``."""
    return load_raw(info.name, str(path))


def read_idx(path: Path, expected_sha256: str | None) -> np.ndarray:
    """Decompress an IDX ``.gz`` file, check the payload's sha256 (unless None) and parse it.

    Returns a read-only uint8 array of shape (N, 28, 28) for images or (N,) for labels.
    """
    path = Path(path)
    try:
        payload = gzip.decompress(path.read_bytes())
    except FileNotFoundError:
        raise DataError(f"{path}: file not found. Fix: re-download or re-copy it.") from None
    except PermissionError:
        raise DataError(
            f"{path}: not readable (permission denied). "
            f"Fix: make it readable (chmod a+r) or use another copy."
        ) from None
    except (EOFError, zlib.error, gzip.BadGzipFile) as err:
        raise DataError(f"{path}: truncated or corrupt gzip file ({err}). {_REFETCH}") from None
    except OSError as err:
        raise DataError(f"{path}: could not be read ({err}).") from None
    if expected_sha256 is not None:
        found = hashlib.sha256(payload).hexdigest()
        if found != expected_sha256:
            raise DataError(
                f"{path}: checksum mismatch: sha256 of the decompressed payload is {found}, "
                f"expected {expected_sha256}; the file is corrupt or not the official one. "
                + _REFETCH
            )
    return _parse_idx(payload, path)


def _parse_idx(payload: bytes, path: Path) -> np.ndarray:
    magic = payload[:4]
    if len(magic) < 4 or magic[:2] != b"\0\0" or magic[3] not in (1, 3):
        raise DataError(
            f"{path}: bad IDX magic number 0x{magic.hex()}, expected 0x00000801 "
            f"(labels) or 0x00000803 (images). {_REFETCH}"
        )
    if magic[2] != _IDX_UBYTE:
        raise DataError(
            f"{path}: IDX dtype code 0x{magic[2]:02x}, expected 0x08 (unsigned byte). {_REFETCH}"
        )
    ndim = magic[3]
    header = 4 + 4 * ndim
    if len(payload) < header:
        raise DataError(
            f"{path}: IDX header truncated: {len(payload)} bytes, expected at least "
            f"{header}. {_REFETCH}"
        )
    shape = tuple(int(d) for d in np.frombuffer(payload, ">u4", count=ndim, offset=4))
    if ndim == 3 and shape[1:] != (_SIDE, _SIDE):
        raise DataError(
            f"{path}: images are {shape[1]}x{shape[2]}, expected {_SIDE}x{_SIDE}. {_REFETCH}"
        )
    expected = int(np.prod(shape))
    if len(payload) - header != expected:
        raise DataError(
            f"{path}: header says shape {shape} ({expected} bytes) but the payload "
            f"holds {len(payload) - header} bytes. {_REFETCH}"
        )
    return np.frombuffer(payload, np.uint8, offset=header).reshape(shape)


def _check_pair(images: np.ndarray, labels: np.ndarray, image_path: Path, label_path: Path,
                classes: int):
    if images.ndim != 3:
        raise DataError(f"{image_path}: holds 1-D data, expected images (N, 28, 28). {_REFETCH}")
    if labels.ndim != 1:
        raise DataError(
            f"{label_path}: holds {labels.ndim}-D data, expected labels (N,). " + _REFETCH
        )
    if len(images) != len(labels):
        raise DataError(
            f"{image_path.name} has {len(images)} images but {label_path.name} has "
            f"{len(labels)} labels (in {image_path.parent}); both must come from the "
            f"same release. Fix: delete both and re-download or re-copy them."
        )
    if labels.size and labels.max() >= classes:
        bad = int(np.argmax(labels >= classes))
        raise DataError(
            f"{label_path}: label {labels[bad]} at index {bad}, expected 0.."
            f"{classes - 1}. {_REFETCH}"
        )


@functools.lru_cache(maxsize=4)
def load_raw(dataset: str, folder: str) -> tuple[np.ndarray, ...]:
    """:func:`read`, decoded once per (data set, folder)."""
    info = DATASETS[dataset]
    paths = [Path(folder) / name for name in FILES]
    arrays = [read_idx(path, info.checksums[path.name]) for path in paths]
    _check_pair(arrays[0], arrays[1], paths[0], paths[1], info.classes)
    _check_pair(arrays[2], arrays[3], paths[2], paths[3], info.classes)
    return tuple(arrays)
