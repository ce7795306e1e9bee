"""Fashion-MNIST, MNIST and CIFAR-10: find, download, verify and load the official files.

Fashion-MNIST and MNIST are the four official IDX files; CIFAR-10 is the official python
archive ``cifar-10-python.tar.gz``, read as it is or extracted (``cifar-10-batches-py/``).
Search order of :func:`locate`: ``data_dir`` argument, ``$PCDIAG_DATA``, the user cache
(``$PCDIAG_CACHE``, else ``$XDG_CACHE_HOME/pcdiag``, else ``~/.cache/pcdiag``), Debian's
``/usr/share/datasets/fashion-mnist`` (fashion-mnist only), then a download into the cache.
``data_dir``, ``$PCDIAG_DATA`` and the cache each hold one subfolder per data set.
Downloads go through pooch (temporary file, hash check, then a move into place).
Every problem raises :class:`DataError` naming the file or folder, the rule and the fix.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import io
import os
import pickle
import shutil
import tarfile
import tempfile
import urllib.request
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

DATASETS = ("fashion-mnist", "mnist")  # the IDX data sets; CIFAR-10 has its own section below
KNOWN_DATASETS = (*DATASETS, "cifar-10")
N_TRAIN = {"fashion-mnist": 60000, "mnist": 60000, "cifar-10": 50000}
N_CLASSES = 10
NORMALISATION = {"fashion-mnist": (0.286, 0.353), "mnist": (0.1307, 0.3081)}  # mean, std after /255
#: (mean, std) after /255 of each normalisation other than "standardise" (the data set's own):
#: "pcx" is torchvision's Normalize((0.5,), (0.5,)) of PCX's scripts: 0 -> -1, 255 -> 1.
FIXED_NORMALISATION = {"pcx": (0.5, 0.5)}
#: CIFAR-10's per-channel (R, G, B) mean and std after /255: PCX's benchmark constants.
NORMALISATION["cifar-10"] = ((0.4914, 0.4822, 0.4465), (0.2023, 0.1994, 0.2010))

FILES = {  # file name -> what it is, for messages
    "train-images-idx3-ubyte.gz": "training image file",
    "train-labels-idx1-ubyte.gz": "training label file",
    "t10k-images-idx3-ubyte.gz": "test image file",
    "t10k-labels-idx1-ubyte.gz": "test label file",
}
_PAYLOAD_SHA256 = {  # in FILES order; of the decompressed payload, as Debian re-gzips the files
    "fashion-mnist": (
        "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
        "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
        "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
        "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
    ),
    "mnist": (
        "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
        "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
        "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
        "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
    ),
}
SHA256 = {name: dict(zip(FILES, rows, strict=True)) for name, rows in _PAYLOAD_SHA256.items()}
MIRRORS = {
    "fashion-mnist": "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
    "mnist": "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "cifar-10": "https://www.cs.toronto.edu/~kriz/",
}
MIRROR_ENV = {"fashion-mnist": "PCDIAG_MIRROR_FASHION_MNIST", "mnist": "PCDIAG_MIRROR_MNIST",
              "cifar-10": "PCDIAG_MIRROR_CIFAR_10"}
DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")  # package dataset-fashion-mnist
_IDX_UBYTE = 0x08
_SIDE = 28
_REFETCH = "Fix: delete it and re-download it (or re-copy it from a good source)."


class DataError(Exception):
    """A data set is missing, unreadable or corrupt; the message says where, why and the fix."""


@dataclass(frozen=True)
class Split:
    """One split: ``images`` float32 (N, H, W, C) standardised, ``labels`` int32 (N,)."""

    images: np.ndarray
    labels: np.ndarray


def _env(name: str) -> str | None:
    return os.environ.get(name) or None  # an empty variable counts as unset


def _cache_root() -> Path:
    if root := _env("PCDIAG_CACHE"):
        return Path(root).expanduser()
    if xdg := _env("XDG_CACHE_HOME"):
        return Path(xdg).expanduser() / "pcdiag"
    return Path.home() / ".cache" / "pcdiag"


def _folder_exists(folder: Path, origin: str) -> bool:
    """Whether ``folder`` exists; a file or an unreadable folder there: DataError."""
    if not folder.exists():
        return False
    if not folder.is_dir():
        raise DataError(f"{origin}: {folder} is not a folder. Fix: point it to a data folder.")
    if not os.access(folder, os.R_OK | os.X_OK):
        raise DataError(
            f"{origin}: folder {folder} is not readable (permission denied). "
            f"Fix: make it readable (chmod a+rx) or point to another copy."
        )
    return True


def _missing(folder: Path, origin: str) -> list[str] | None:
    """Names of the files ``folder`` lacks; None if it does not exist. Unreadable: DataError."""
    if not _folder_exists(folder, origin):
        return None
    return [name for name in FILES if not (folder / name).is_file()]


def _missing_error(folder: Path, missing: list[str], origin: str, fix: str) -> DataError:
    what = ", ".join(f"missing {FILES[name]} {name}" for name in missing)
    return DataError(f"{origin}: incomplete data folder {folder}: {what}. Fix: {fix}")


def _explicit(dataset: str, root: Path, origin: str, unset_hint: str) -> Path:
    """The dataset folder under a root the user named; any shortfall is an error."""
    if _missing(root, origin) is None:
        raise DataError(f"{origin}: folder {root} does not exist. Fix: {unset_hint}")
    folder = root / dataset
    missing = _missing(folder, origin)
    if missing is None or len(missing) == len(FILES):
        if not _missing(root, origin):  # the files sit in root itself: a common slip
            unset_hint = f"pass the folder above it, {root.parent}, holding {root.name}/."
        raise DataError(
            f"{origin}: {root} does not contain the {dataset} data set: expected the folder "
            f"{folder} with the four files {', '.join(FILES)}. Fix: {unset_hint}"
        )
    if missing:
        raise _missing_error(folder, missing, origin, f"copy the missing files into {folder}.")
    return folder


def _ways(dataset: str) -> str:
    ways = [
        f'load("{dataset}", data_dir=ROOT) with the four files in ROOT/{dataset}/',
        "export PCDIAG_DATA=ROOT (same layout)",
    ]
    if dataset == "fashion-mnist":
        ways.append(f"sudo apt-get install dataset-fashion-mnist (files in {DEBIAN_DIR})")
    ways.append(f"export {MIRROR_ENV[dataset]}=URL_PREFIX (http(s):// or file://) to download")
    return "Ways to provide the data:\n" + "\n".join(f"  - {way}" for way in ways)


def _file_download(url: str, output_file, pooch_instance=None) -> None:
    """A pooch downloader for file:// URLs (pooch has none): a plain copy through urllib."""
    with urllib.request.urlopen(url, timeout=60) as response:
        if hasattr(output_file, "write"):
            shutil.copyfileobj(response, output_file)
        else:
            with open(output_file, "wb") as out:
                shutil.copyfileobj(response, out)


def _fetch(url: str, folder: Path, name: str, known_hash: str | None) -> Path:
    """``folder / name`` downloaded from ``url`` through pooch: into a temporary file, checked
    against ``known_hash`` (``"md5:..."``; None: the caller checks), then moved into place.

    A failed transfer raises OSError (requests' errors are OSErrors); a hash mismatch
    raises ValueError, and nothing is saved."""
    import pooch  # only a download needs it

    if url.startswith("file:"):
        downloader = _file_download
    elif url.startswith(("http:", "https:")):
        downloader = pooch.HTTPDownloader(timeout=60)
    else:
        downloader = pooch.choose_downloader(url)
    logger = pooch.get_logger()
    level = logger.level
    if known_hash is None:  # pooch would suggest pinning the file's hash: we check the payload
        logger.setLevel("WARNING")
    try:
        return Path(pooch.retrieve(url, known_hash, fname=name, path=folder,
                                   downloader=downloader))
    finally:
        logger.setLevel(level)


def _download(dataset: str, folder: Path, names: list[str]) -> None:
    """Fetch ``names`` into ``folder``: temp folder, payload checksum, then atomic rename."""
    base = _env(MIRROR_ENV[dataset]) or MIRRORS[dataset]
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        url = base.rstrip("/") + "/" + name
        with tempfile.TemporaryDirectory(prefix=f".{name}.", suffix=".part", dir=folder) as tmp:
            path = _fetch(url, Path(tmp), name, None)  # the payload's sha256 is checked here:
            try:
                read_idx(path, SHA256[dataset][name])
            except DataError as err:
                raise DataError(
                    f"downloaded {url} but it failed verification, so nothing was saved: {err}\n"
                    f"Fix: set {MIRROR_ENV[dataset]} to a mirror serving the official files."
                ) from None
            os.replace(path, folder / name)


def locate(
    dataset: str, data_dir: str | os.PathLike | None = None, *, download: bool = True
) -> Path:
    """Folder holding the dataset's four files (downloading them into the cache if needed);
    for CIFAR-10 the extracted ``cifar-10-batches-py`` folder or the archive (see
    :func:`read_cifar10`)."""
    if dataset not in KNOWN_DATASETS:
        raise DataError(
            f"unknown dataset {dataset!r}. Fix: use one of {', '.join(KNOWN_DATASETS)}.")
    if dataset == CIFAR10:
        return _locate_cifar10(data_dir, download=download)
    if data_dir is not None:
        root = Path(os.path.abspath(Path(data_dir).expanduser()))
        return _explicit(
            dataset,
            root,
            f"data_dir={str(data_dir)!r}",
            f"pass the folder that holds {dataset}/, or leave data_dir unset.",
        )
    if env := _env("PCDIAG_DATA"):
        root = Path(os.path.abspath(Path(env).expanduser()))
        return _explicit(
            dataset,
            root,
            f"environment variable PCDIAG_DATA={env!r}",
            f"point PCDIAG_DATA to the folder that holds {dataset}/, or unset it.",
        )

    looked = ["data_dir argument: not given", "PCDIAG_DATA: not set"]
    cache = Path(os.path.abspath(_cache_root() / dataset))
    cached = _missing(cache, "cache")
    if cached == []:
        return cache
    looked.append(
        f"cache {cache}: "
        + ("no such folder" if cached is None else f"missing {', '.join(cached)}")
    )
    if dataset == "fashion-mnist":
        debian = _missing(DEBIAN_DIR, "Debian package dataset-fashion-mnist")
        if debian == []:
            return DEBIAN_DIR
        if debian:
            raise _missing_error(
                DEBIAN_DIR,
                debian,
                "Debian package dataset-fashion-mnist",
                "sudo apt-get install --reinstall dataset-fashion-mnist.",
            )
        looked.append(f"Debian package folder {DEBIAN_DIR}: not installed")
    if not download:
        raise DataError(
            f"{dataset} not found and download=False. Looked in:\n"
            + "\n".join(f"  - {place}" for place in looked)
            + "\n"
            + _ways(dataset)
        )
    url = _env(MIRROR_ENV[dataset]) or MIRRORS[dataset]
    try:
        _download(dataset, cache, list(FILES) if cached is None else cached)
    except OSError as err:
        looked.append(f"download from {url} into {cache}: failed ({err})")
        raise DataError(
            f"{dataset} not found and could not be downloaded. Looked in:\n"
            + "\n".join(f"  - {place}" for place in looked)
            + "\n"
            + _ways(dataset)
        ) from err
    return cache


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


def _check_pair(images: np.ndarray, labels: np.ndarray, image_path: Path, label_path: Path):
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
    if labels.size and labels.max() >= N_CLASSES:
        bad = int(np.argmax(labels >= N_CLASSES))
        raise DataError(
            f"{label_path}: label {labels[bad]} at index {bad}, expected 0.."
            f"{N_CLASSES - 1}. {_REFETCH}"
        )


@functools.lru_cache(maxsize=4)
def _load_raw(dataset: str, folder: str) -> tuple[np.ndarray, ...]:
    """Verified read-only uint8 arrays (train images, train labels, test images, test labels)."""
    arrays = [read_idx(Path(folder) / name, SHA256[dataset][name]) for name in FILES]
    paths = [Path(folder) / name for name in FILES]
    _check_pair(arrays[0], arrays[1], paths[0], paths[1])
    _check_pair(arrays[2], arrays[3], paths[2], paths[3])
    return tuple(arrays)


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


def mean_std(dataset: str, normalisation: str = "standardise"):
    """(mean, std) after /255 that `normalisation` uses for `dataset` (per channel for
    CIFAR-10's own standardisation)."""
    if normalisation == "standardise":
        return NORMALISATION[dataset]
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
    folder = str(locate(dataset, data_dir).resolve())
    if dataset == CIFAR10:
        raw = _load_raw_cifar10(folder, tuple(sorted(CIFAR10_MD5.items())))
    else:
        raw = _load_raw(dataset, folder)
    train_x, train_y, test_x, test_y = raw
    n_train = _limit("train_limit", train_limit, len(train_y))
    n_test = _limit("test_limit", test_limit, len(test_y))
    mean, std = (np.asarray(v, np.float32) for v in mean_std(dataset, normalisation))

    def split(x: np.ndarray, y: np.ndarray, n: int) -> Split:
        images = x[:n].astype(np.float32)
        if images.ndim == 3:  # IDX: one channel, so (N, H, W, C) as every data set
            images = images[..., None]
        images /= 255
        images -= mean  # per channel where mean and std are
        images /= std
        return Split(images, y[:n].astype(np.int32))

    return split(train_x, train_y, n_train), split(test_x, test_y, n_test)


# --- CIFAR-10 ----------------------------------------------------------------------------------

CIFAR10 = "cifar-10"
CIFAR10_ARCHIVE = "cifar-10-python.tar.gz"  # the python version of the official archive
CIFAR10_FOLDER = "cifar-10-batches-py"  # the archive's one folder, the members' parent
CIFAR10_TRAIN = tuple(f"data_batch_{i}" for i in range(1, 6))
CIFAR10_TEST = "test_batch"
CIFAR10_MEMBERS = (*CIFAR10_TRAIN, CIFAR10_TEST, "batches.meta")  # what is read and checked
#: MD5 of the archive (from its official page) and of each member (as published with
#: torchvision's reader). No sha256 of the members is published and the real archive cannot
#: be fetched where this reader was written, so members are checked by MD5: enough against
#: corruption and truncation. Only a member whose MD5 matched is unpickled.
CIFAR10_MD5 = {
    CIFAR10_ARCHIVE: "c58f30108f718f92721af3b95e74349a",
    "data_batch_1": "c99cafc152244af753f735de768cd75f",
    "data_batch_2": "d4bba439e000b95fd0a9bffe97cbabec",
    "data_batch_3": "54ebc095f3ab1f0389bbae665268c751",
    "data_batch_4": "634d18415352ddfa80567beed471001a",
    "data_batch_5": "482c414d41f54cd18b22e5b47cb7c3cb",
    "test_batch": "40351d587109b95175f43aff81a1287e",
    "batches.meta": "5ff9c542aee3614f3951f8cda6e48888",
}
_CIFAR_SIDE = 32
_CIFAR_PIXELS = 3 * _CIFAR_SIDE * _CIFAR_SIDE  # a row of b"data": 1024 R, 1024 G, 1024 B
_CIFAR_REFETCH = (f"Fix: delete it and download {CIFAR10_ARCHIVE} again "
                  f"({MIRRORS[CIFAR10]}{CIFAR10_ARCHIVE}).")


def _cifar10_source(folder: Path, origin: str) -> Path | None:
    """The extracted member folder in ``folder`` if there is one, else the archive, else None."""
    if not _folder_exists(folder, origin):
        return None
    extracted, archive = folder / CIFAR10_FOLDER, folder / CIFAR10_ARCHIVE
    if extracted.is_dir():
        return extracted
    return archive if archive.is_file() else None


def _cifar10_explicit(root: Path, origin: str, unset_hint: str) -> Path:
    """The CIFAR-10 source under a root the user named; any shortfall is an error."""
    if not _folder_exists(root, origin):
        raise DataError(f"{origin}: folder {root} does not exist. Fix: {unset_hint}")
    folder = root / CIFAR10
    source = _cifar10_source(folder, origin)
    if source is not None:
        return source
    if _cifar10_source(root, origin) is not None:  # the archive sits in root itself: a slip
        unset_hint = (f"pass the folder above it, {root.parent}, holding {root.name}/."
                      if root.name == CIFAR10 else f"move it into {folder}/.")
    raise DataError(
        f"{origin}: {root} does not contain the {CIFAR10} data set: expected the archive "
        f"{folder / CIFAR10_ARCHIVE} or the folder {folder / CIFAR10_FOLDER} extracted from "
        f"it. Fix: {unset_hint}"
    )


def _cifar10_ways() -> str:
    ways = [
        f"download {MIRRORS[CIFAR10]}{CIFAR10_ARCHIVE} (the python version) into "
        f"ROOT/{CIFAR10}/ (as it is or extracted) and pass data_dir=ROOT or export "
        "PCDIAG_DATA=ROOT",
        f"export {MIRROR_ENV[CIFAR10]}=URL_PREFIX (http(s):// or file://) to download "
        f"{CIFAR10_ARCHIVE} from there into the cache",
    ]
    return "Ways to provide the data:\n" + "\n".join(f"  - {way}" for way in ways)


def _locate_cifar10(data_dir: str | os.PathLike | None, *, download: bool) -> Path:
    """locate() for CIFAR-10: the extracted member folder or the archive."""
    if data_dir is not None:
        root = Path(os.path.abspath(Path(data_dir).expanduser()))
        return _cifar10_explicit(root, f"data_dir={str(data_dir)!r}",
                                 f"pass the folder that holds {CIFAR10}/, or leave data_dir "
                                 "unset.")
    if env := _env("PCDIAG_DATA"):
        root = Path(os.path.abspath(Path(env).expanduser()))
        return _cifar10_explicit(root, f"environment variable PCDIAG_DATA={env!r}",
                                 f"point PCDIAG_DATA to the folder that holds {CIFAR10}/, or "
                                 "unset it.")
    looked = ["data_dir argument: not given", "PCDIAG_DATA: not set"]
    cache = Path(os.path.abspath(_cache_root() / CIFAR10))
    if (source := _cifar10_source(cache, "cache")) is not None:
        return source
    looked.append(f"cache {cache}: no {CIFAR10_ARCHIVE} or {CIFAR10_FOLDER}/")
    if not download:
        raise DataError(
            f"{CIFAR10} not found and download=False. Looked in:\n"
            + "\n".join(f"  - {place}" for place in looked) + "\n" + _cifar10_ways()
        )
    url = (_env(MIRROR_ENV[CIFAR10]) or MIRRORS[CIFAR10]).rstrip("/") + "/" + CIFAR10_ARCHIVE
    expected = CIFAR10_MD5[CIFAR10_ARCHIVE]
    try:
        return _fetch(url, cache, CIFAR10_ARCHIVE, f"md5:{expected}")
    except ValueError as err:  # pooch: the hash did not match; the temporary file is gone
        raise DataError(
            f"downloaded {url} but its MD5 is not {expected} ({err}), so nothing was "
            f"saved: it is corrupt or not the official {CIFAR10_ARCHIVE}. Fix: set "
            f"{MIRROR_ENV[CIFAR10]} to a mirror serving the official archive, or unset it."
        ) from None
    except OSError as err:
        looked.append(f"download from {url} into {cache}: failed ({err})")
        raise DataError(
            f"{CIFAR10} not found and could not be downloaded. Looked in:\n"
            + "\n".join(f"  - {place}" for place in looked) + "\n" + _cifar10_ways()
        ) from err


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
def _load_raw_cifar10(source: str, checksums: tuple[tuple[str, str], ...]):
    return read_cifar10(source, dict(checksums))


