"""pcdiag.data on the real Fashion-MNIST / MNIST files and on broken copies of them."""

import dataclasses
import gzip
import hashlib
import os
import re
import shutil
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from pcdiag import data
from pcdiag.data import (
    DATASETS,
    FILES,
    NORMALISATION,
    SHA256,
    DataError,
    DownloadError,
    Split,
    load,
    locate,
    read_idx,
    registry,
)

REAL = Path(
    os.environ.get("PCDIAG_DATA") or Path(__file__).resolve().parents[2] / "shared" / "data"
).resolve()
MNIST_COUNTS = (
    [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949],
    [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009],
)
TEST_IMAGES, TEST_LABELS = "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """No test sees PCDIAG_DATA, the user's cache, a Debian install or the network."""
    monkeypatch.delenv("PCDIAG_DATA", raising=False)
    monkeypatch.setenv("PCDIAG_CACHE", str(tmp_path / "cache"))
    debian_at(monkeypatch, tmp_path / "no-debian")
    empty = tmp_path / "empty-mirror"
    empty.mkdir()
    for var in data.MIRROR_ENV.values():
        monkeypatch.setenv(var, empty.as_uri())
    return empty


def debian_at(monkeypatch, folder: Path) -> None:
    """The registry's Debian folder of fashion-mnist moved to ``folder``."""
    info = registry.DATASETS["fashion-mnist"]
    monkeypatch.setitem(registry.DATASETS, "fashion-mnist",
                        dataclasses.replace(info, debian_folder=str(folder)))


def same(a, b) -> bool:
    return Path(a).resolve() == Path(b).resolve()


def link_copy(dataset: str, folder: Path, names=tuple(FILES)) -> Path:
    """``folder`` holding symlinks to the real files ``names``."""
    folder.mkdir(parents=True)
    for name in names:
        (folder / name).symlink_to((REAL / dataset / name).resolve())
    return folder


@pytest.fixture
def mnist_copy(tmp_path) -> Path:
    """A data root with a writable byte copy of MNIST, to be broken by the test."""
    root = tmp_path / "copy"
    (root / "mnist").mkdir(parents=True)
    for name in FILES:
        shutil.copyfile(REAL / "mnist" / name, root / "mnist" / name)
    return root


def payload(path: Path) -> bytearray:
    return bytearray(gzip.decompress(path.read_bytes()))


def regzip(path: Path, raw: bytes) -> str:
    """Write ``raw`` gzipped to ``path``; return its sha256."""
    path.write_bytes(gzip.compress(bytes(raw), compresslevel=1))
    return hashlib.sha256(raw).hexdigest()


# --- locate ------------------------------------------------------------------------------------


@pytest.mark.parametrize("dataset", DATASETS)
def test_locate_data_dir_and_env(dataset, monkeypatch):
    assert same(locate(dataset, REAL), REAL / dataset)
    assert same(locate(dataset, str(REAL)), REAL / dataset)
    monkeypatch.setenv("PCDIAG_DATA", str(REAL))
    assert same(locate(dataset), REAL / dataset)


def test_data_dir_beats_env(tmp_path, monkeypatch):
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.setenv("PCDIAG_DATA", str(tmp_path / "elsewhere"))
    assert same(locate("mnist", REAL), REAL / "mnist")
    with pytest.raises(DataError, match="PCDIAG_DATA=.*does not contain the mnist data set"):
        locate("mnist")


def test_env_beats_cache_beats_debian(tmp_path, monkeypatch):
    cache = link_copy("fashion-mnist", tmp_path / "cache" / "fashion-mnist")
    debian = link_copy("fashion-mnist", tmp_path / "debian")
    debian_at(monkeypatch, debian)
    monkeypatch.setenv("PCDIAG_DATA", str(REAL))
    assert locate("fashion-mnist") == REAL / "fashion-mnist"
    monkeypatch.delenv("PCDIAG_DATA")
    assert locate("fashion-mnist") == cache
    shutil.rmtree(cache)
    assert locate("fashion-mnist", download=False) == debian


def test_debian_folder_is_for_fashion_mnist_only(monkeypatch):
    debian_at(monkeypatch, REAL / "fashion-mnist")
    assert locate("fashion-mnist", download=False) == REAL / "fashion-mnist"
    with pytest.raises(DataError, match="mnist not found and download=False") as err:
        locate("mnist", download=False)
    assert "Debian" not in str(err.value)


def test_cache_folder_from_xdg_then_home(tmp_path, monkeypatch):
    monkeypatch.delenv("PCDIAG_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    xdg = link_copy("mnist", tmp_path / "xdg" / "pcdiag" / "mnist")
    assert locate("mnist", download=False) == xdg
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    home = link_copy("mnist", tmp_path / "home" / ".cache" / "pcdiag" / "mnist")
    assert locate("mnist", download=False) == home


def test_explicit_data_dir_lacking_dataset(tmp_path):
    mine = tmp_path / "mine"
    link_copy("mnist", mine / "mnist")
    assert locate("mnist", mine) == mine / "mnist"
    rule = f"data_dir='{re.escape(str(mine))}': .* does not contain the fashion-mnist data set"
    with pytest.raises(DataError, match=rule):
        locate("fashion-mnist", mine)
    with pytest.raises(DataError, match="data_dir=.*nowhere': folder .*nowhere does not exist"):
        locate("mnist", tmp_path / "nowhere")
    with pytest.raises(DataError, match=f"Fix: pass the folder above it, {re.escape(str(mine))}"):
        locate("mnist", mine / "mnist")  # the dataset folder itself instead of its parent


def test_env_lacking_dataset(tmp_path, monkeypatch):
    monkeypatch.setenv("PCDIAG_DATA", str(tmp_path))
    with pytest.raises(DataError, match="environment variable PCDIAG_DATA=.*does not contain"):
        locate("fashion-mnist")


def test_missing_label_file(tmp_path):
    link_copy("mnist", tmp_path / "root" / "mnist", names=list(FILES)[:3])
    with pytest.raises(DataError, match=f"missing test label file {TEST_LABELS}"):
        load("mnist", tmp_path / "root")
    link_copy("mnist", tmp_path / "root2" / "mnist", names=list(FILES)[2:])
    with pytest.raises(DataError, match="missing training image file .*missing training label"):
        locate("mnist", tmp_path / "root2")


def test_unreadable_folder(tmp_path, monkeypatch):
    folder = link_copy("mnist", tmp_path / "root" / "mnist")
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: Path(p) != folder and real_access(p, mode))
    with pytest.raises(DataError, match=f"{re.escape(str(folder))} is not readable"):
        load("mnist", tmp_path / "root")


def test_folder_that_is_a_file(tmp_path):
    (tmp_path / "root").mkdir()
    (tmp_path / "root" / "mnist").write_text("not a folder")
    with pytest.raises(DataError, match="mnist is not a folder"):
        locate("mnist", tmp_path / "root")


def test_unknown_dataset():
    with pytest.raises(DataError, match="unknown dataset 'cifar10'.*fashion-mnist, mnist"):
        locate("cifar10")


# --- load: shapes and values -------------------------------------------------------------------


@pytest.mark.parametrize(
    "dataset, counts", [("fashion-mnist", ([6000] * 10, [1000] * 10)), ("mnist", MNIST_COUNTS)]
)
def test_load_real_values(dataset, counts):
    train, test = load(dataset, REAL)
    assert isinstance(train, Split)
    # images keep their shape (N, H, W, C) until a network flattens them
    assert train.images.shape == (60000, 28, 28, 1) and test.images.shape == (10000, 28, 28, 1)
    assert train.images.dtype == test.images.dtype == np.float32
    assert train.labels.shape == (60000,) and test.labels.shape == (10000,)
    assert train.labels.dtype == test.labels.dtype == np.int32
    assert np.bincount(train.labels).tolist() == counts[0]
    assert np.bincount(test.labels).tolist() == counts[1]
    assert abs(train.images.mean()) < 0.01 and abs(train.images.std() - 1) < 0.01
    # the values against a decoding written independently of read_idx
    raw = np.frombuffer(
        gzip.decompress((REAL / dataset / TEST_IMAGES).read_bytes()), np.uint8, offset=16
    ).reshape(10000, 28, 28, 1)
    mean, std = NORMALISATION[dataset]
    np.testing.assert_allclose(test.images, (raw / 255 - mean) / std, atol=1e-5)
    labels = np.frombuffer(
        gzip.decompress((REAL / dataset / TEST_LABELS).read_bytes()), np.uint8, offset=8
    )
    np.testing.assert_array_equal(test.labels, labels)


def test_limits_keep_the_first_examples_and_results_are_copies():
    full_train, full_test = load("mnist", REAL)
    hits = data.load_raw.cache_info().hits
    train, test = load("mnist", REAL, train_limit=123, test_limit=45)
    assert data.load_raw.cache_info().hits == hits + 1  # decoded once, not again
    np.testing.assert_array_equal(train.images, full_train.images[:123])
    np.testing.assert_array_equal(train.labels, full_train.labels[:123])
    np.testing.assert_array_equal(test.images, full_test.images[:45])
    np.testing.assert_array_equal(test.labels, full_test.labels[:45])
    train.images[:] = 7.0
    assert not np.any(load("mnist", REAL, train_limit=123)[0].images == 7.0)


@pytest.mark.parametrize(
    "field, value",
    [
        ("train_limit", 0),
        ("train_limit", 60001),
        ("train_limit", 2.5),
        ("train_limit", True),
        ("test_limit", -3),
        ("test_limit", 10001),
    ],
)
def test_bad_limits(field, value):
    with pytest.raises(DataError, match=f"^{field}="):
        load("mnist", REAL, **{field: value})


# --- broken files ------------------------------------------------------------------------------


def test_truncated_gz(mnist_copy):
    path = mnist_copy / "mnist" / TEST_IMAGES
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(DataError, match=f"{TEST_IMAGES}: truncated or corrupt gzip.*delete it"):
        read_idx(path, SHA256["mnist"][TEST_IMAGES])
    with pytest.raises(DataError, match=f"{TEST_IMAGES}: truncated or corrupt gzip"):
        load("mnist", mnist_copy)


def test_wrong_checksum(mnist_copy):
    path = mnist_copy / "mnist" / TEST_IMAGES
    raw = payload(path)
    raw[1000] ^= 0xFF
    regzip(path, raw)
    assert read_idx(path, None).shape == (10000, 28, 28)  # parses fine: only the checksum says
    expected = SHA256["mnist"][TEST_IMAGES]
    with pytest.raises(DataError, match=f"checksum mismatch.*expected {expected}.*delete it"):
        read_idx(path, expected)
    with pytest.raises(DataError, match=f"{TEST_IMAGES}: checksum mismatch"):
        load("mnist", mnist_copy)


def test_bad_magic(mnist_copy):
    path = mnist_copy / "mnist" / TEST_IMAGES
    raw = payload(path)
    raw[:4] = b"\x12\x34\x08\x03"
    regzip(path, raw)
    with pytest.raises(DataError, match="bad IDX magic number 0x12340803, expected 0x00000801"):
        read_idx(path, None)
    with pytest.raises(DataError, match=f"{TEST_IMAGES}: checksum mismatch"):
        load("mnist", mnist_copy)


def test_bad_dtype_code(mnist_copy):
    path = mnist_copy / "mnist" / TEST_LABELS
    raw = payload(path)
    raw[2] = 0x0D  # float
    regzip(path, raw)
    with pytest.raises(DataError, match=r"dtype code 0x0d, expected 0x08 \(unsigned byte\)"):
        read_idx(path, None)


def test_wrong_image_shape(mnist_copy):
    path = mnist_copy / "mnist" / TEST_IMAGES
    raw = payload(path)
    raw[8:16] = np.array([56, 14], ">u4").tobytes()  # same byte count, wrong geometry
    regzip(path, raw)
    with pytest.raises(DataError, match="images are 56x14, expected 28x28"):
        read_idx(path, None)


def test_header_and_payload_disagree(mnist_copy):
    path = mnist_copy / "mnist" / TEST_IMAGES
    raw = payload(path)
    raw[4:8] = np.array([10001], ">u4").tobytes()
    regzip(path, raw)
    with pytest.raises(
        DataError,
        match=r"header says shape \(10001, 28, 28\) \(7840784 bytes\) "
        r"but the payload holds 7840000 bytes",
    ):
        read_idx(path, None)


def test_images_and_labels_count_mismatch(mnist_copy, monkeypatch):
    path = mnist_copy / "mnist" / TEST_LABELS
    raw = payload(path)[:-1]
    raw[4:8] = np.array([9999], ">u4").tobytes()
    monkeypatch.setitem(SHA256["mnist"], TEST_LABELS, regzip(path, raw))  # checksum passes
    with pytest.raises(DataError, match=f"10000 images but {TEST_LABELS} has 9999 labels"):
        load("mnist", mnist_copy)


def test_label_out_of_range(mnist_copy, monkeypatch):
    path = mnist_copy / "mnist" / TEST_LABELS
    raw = payload(path)
    raw[8 + 5] = 12
    monkeypatch.setitem(SHA256["mnist"], TEST_LABELS, regzip(path, raw))
    with pytest.raises(DataError, match=r"label 12 at index 5, expected 0\.\.9"):
        load("mnist", mnist_copy)


def test_labels_where_images_belong(mnist_copy, monkeypatch):
    labels = payload(mnist_copy / "mnist" / TEST_LABELS)
    sha = regzip(mnist_copy / "mnist" / TEST_IMAGES, labels)
    monkeypatch.setitem(SHA256["mnist"], TEST_IMAGES, sha)
    with pytest.raises(DataError, match=f"{TEST_IMAGES}: holds 1-D data, expected images"):
        load("mnist", mnist_copy)


def test_unreadable_file(monkeypatch):
    path = REAL / "mnist" / TEST_LABELS
    real_read = Path.read_bytes

    def read_bytes(self):
        if self == path:
            raise PermissionError(13, "Permission denied", str(self))
        return real_read(self)

    monkeypatch.setattr(Path, "read_bytes", read_bytes)
    with pytest.raises(DataError, match=f"{TEST_LABELS}: not readable \\(permission denied\\)"):
        read_idx(path, None)


# --- download ----------------------------------------------------------------------------------


@pytest.fixture
def urlopen_calls(monkeypatch) -> list:
    calls = []
    real = urllib.request.urlopen

    def spy(url, *args, **kwargs):
        calls.append(url)
        return real(url, *args, **kwargs)

    monkeypatch.setattr(urllib.request, "urlopen", spy)
    return calls


def test_download_from_file_mirror(tmp_path, monkeypatch, urlopen_calls, isolated):
    monkeypatch.setenv("PCDIAG_MIRROR_MNIST", (REAL / "mnist").resolve().as_uri() + "/")
    cache = tmp_path / "cache" / "mnist"
    assert locate("mnist") == cache
    assert len(urlopen_calls) == 4
    assert sorted(p.name for p in cache.iterdir()) == sorted(FILES)  # no temp files left
    for name in FILES:
        read_idx(cache / name, SHA256["mnist"][name])
    stamps = {p.name: p.stat().st_mtime_ns for p in cache.iterdir()}
    monkeypatch.setenv("PCDIAG_MIRROR_MNIST", isolated.as_uri())  # a re-download would fail
    assert locate("mnist") == cache
    assert len(urlopen_calls) == 4
    assert stamps == {p.name: p.stat().st_mtime_ns for p in cache.iterdir()}


def test_download_fetches_only_missing_files(tmp_path, monkeypatch, urlopen_calls):
    monkeypatch.setenv("PCDIAG_MIRROR_MNIST", (REAL / "mnist").resolve().as_uri())
    link_copy("mnist", tmp_path / "cache" / "mnist", names=list(FILES)[:2])
    with pytest.raises(DataError, match=f"cache .*mnist: missing {TEST_IMAGES}, {TEST_LABELS}"):
        locate("mnist", download=False)
    assert locate("mnist") == tmp_path / "cache" / "mnist"
    assert [url.rsplit("/", 1)[1] for url in urlopen_calls] == list(FILES)[2:]


def test_download_of_wrong_data_is_rejected(tmp_path, monkeypatch):
    monkeypatch.setenv("PCDIAG_MIRROR_MNIST", (REAL / "fashion-mnist").resolve().as_uri())
    with pytest.raises(DataError, match="failed verification, so nothing was saved.*checksum"):
        locate("mnist")
    assert list((tmp_path / "cache" / "mnist").iterdir()) == []


def test_download_failure_says_where_it_looked(tmp_path):
    with pytest.raises(DownloadError, match="fashion-mnist not found and could not be downloaded"
                       ) as e:
        locate("fashion-mnist")
    message = str(e.value)
    for place in [
        "data_dir argument: not given",
        "PCDIAG_DATA: not set",
        f"cache {tmp_path / 'cache' / 'fashion-mnist'}: no such folder",
        f"Debian package folder {tmp_path / 'no-debian'}: not installed",
        f"download from {(tmp_path / 'empty-mirror').as_uri()}",
        "data_dir=ROOT",
        "export PCDIAG_DATA=ROOT",
        "apt-get install dataset-fashion-mnist",
        "export PCDIAG_MIRROR_FASHION_MNIST=",
    ]:
        assert place in message


def test_default_mirror_offline(monkeypatch):
    import pooch
    import requests

    monkeypatch.delenv("PCDIAG_MIRROR_MNIST")

    def offline(self, url, *args, **kwargs):
        raise requests.exceptions.ConnectionError("no network")

    monkeypatch.setattr(pooch.HTTPDownloader, "__call__", offline)  # http(s) goes through pooch
    with pytest.raises(DownloadError, match=re.escape(data.MIRRORS["mnist"]) + ".*no network"):
        locate("mnist")


def test_error_kinds_say_whether_to_retry():
    """A missing or corrupt file is bad input (never retried); a failed download is
    transient (retried) and an OSError."""
    from pcdiag.errors import BadInputError, TransientError, retryable

    assert issubclass(DataError, BadInputError) and not retryable(DataError("x"))
    assert issubclass(DownloadError, TransientError) and issubclass(DownloadError, OSError)
    assert retryable(DownloadError("x"))


def test_a_new_data_set_is_one_registry_line(tmp_path, monkeypatch):
    """A data set read by an existing reader needs nothing but its line in the registry."""
    mnist = registry.DATASETS["mnist"]
    monkeypatch.setitem(registry.DATASETS, "digits", dataclasses.replace(
        mnist, name="digits", mean=0.5, std=0.25, mirror_env="PCDIAG_MIRROR_DIGITS"))
    link_copy("mnist", tmp_path / "digits")
    assert locate("digits", tmp_path) == tmp_path / "digits"
    train, test = load("digits", tmp_path, train_limit=5, test_limit=3)
    reference, _ = load("mnist", REAL, train_limit=5, test_limit=3)
    assert train.images.shape == (5, 28, 28, 1) and test.labels.shape == (3,)
    np.testing.assert_array_equal(train.labels, reference.labels)
    mean, std = NORMALISATION["mnist"]
    np.testing.assert_allclose(train.images, (reference.images * std + mean - 0.5) / 0.25,
                               atol=1e-5)
    with pytest.raises(DataError, match="digits not found and download=False"):
        locate("digits", download=False)
