"""CIFAR-10 (pcdiag.data) on a small archive written here in the official format, and the
on-device augmentation (pcdiag.engine.loop.augment, Config.augment).

The real archive cannot be downloaded where these tests run: `written` builds
cifar-10-python.tar.gz as the official one is built (one folder cifar-10-batches-py/ holding
pickled batches, protocol 2, bytes keys; b"data" uint8 (N, 3072) channel-major), only with
a few images per batch, and the tests pass its own MD5s where the official ones would apply.
"""

import gzip
import hashlib
import io
import os
import pickle
import re
import tarfile
from pathlib import Path
from types import SimpleNamespace

import jax
import numpy as np
import pytest

import pcdiag
from pcdiag import data
from pcdiag.config import Config, ConfigError
from pcdiag.data import (
    CIFAR10,
    CIFAR10_ARCHIVE,
    CIFAR10_FOLDER,
    CIFAR10_MD5,
    NORMALISATION,
    DataError,
    DownloadError,
    load,
    locate,
    read_cifar10,
)
from pcdiag.engine.loop import CROP_PADDING, augment
from pcdiag.nets import DATA_SHAPES

PER_BATCH, N_TEST = 6, 10  # images in each of the five training batches, in the test batch
#: Member order in the written archive: not 1..5, so the reader must order the batches itself.
ORDER = ("data_batch_4", "readme.html", "test_batch", "data_batch_3", "batches.meta",
         "data_batch_2", "data_batch_5", "data_batch_1")
TRAIN = tuple(f"data_batch_{i}" for i in range(1, 6))


def md5(raw: bytes) -> str:
    return hashlib.md5(raw).hexdigest()


def batch(rng, n: int, name: str, changes=None) -> tuple[bytes, np.ndarray, list[int]]:
    """A pickled batch as the official ones: its bytes, its b"data" and its b"labels"."""
    pixels = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
    labels = rng.integers(0, 10, n).tolist()
    obj = {b"batch_label": f"{name} of the written archive".encode(), b"labels": labels,
           b"data": pixels, b"filenames": [f"image_{i:05d}.png".encode() for i in range(n)]}
    obj.update(changes or {})
    return pickle.dumps(obj, protocol=2), pixels, labels


def tar_bytes(members: dict[str, bytes], order=ORDER) -> bytes:
    """An uncompressed tar of `members` under cifar-10-batches-py/, in `order`."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.GNU_FORMAT) as tar:
        folder = tarfile.TarInfo(CIFAR10_FOLDER)
        folder.type, folder.mode = tarfile.DIRTYPE, 0o755
        tar.addfile(folder)
        for name in order:
            if name in members:
                info = tarfile.TarInfo(f"{CIFAR10_FOLDER}/{name}")
                info.size, info.mode = len(members[name]), 0o644
                tar.addfile(info, io.BytesIO(members[name]))
    return out.getvalue()


def write_archive(path: Path, members: dict[str, bytes], order=ORDER) -> str:
    """Write the gzipped tar to `path`; return its MD5."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(tar_bytes(members, order), compresslevel=1, mtime=0))
    return md5(path.read_bytes())


def extract(members: dict[str, bytes], folder: Path) -> Path:
    folder.mkdir(parents=True)
    for name, raw in members.items():
        (folder / name).write_bytes(raw)
    return folder


def nhwc(pixels: np.ndarray) -> np.ndarray:
    """Channel-major rows to (N, 32, 32, 3), written apart from the reader's reshape."""
    planes = [pixels[:, c * 1024 : (c + 1) * 1024].reshape(-1, 32, 32) for c in range(3)]
    return np.stack(planes, axis=-1)


@pytest.fixture(scope="module")
def written(tmp_path_factory) -> SimpleNamespace:
    """A data root holding cifar-10/cifar-10-python.tar.gz, with its members and checksums."""
    rng = np.random.default_rng(11)
    members, pixels, labels = {}, {}, {}
    for name in (*TRAIN, "test_batch"):
        n = N_TEST if name == "test_batch" else PER_BATCH
        members[name], pixels[name], labels[name] = batch(rng, n, name)
    members["batches.meta"] = pickle.dumps(
        {b"num_cases_per_batch": PER_BATCH, b"num_vis": 3072,
         b"label_names": [b"airplane", b"automobile", b"bird", b"cat", b"deer", b"dog",
                          b"frog", b"horse", b"ship", b"truck"]}, protocol=2)
    members["readme.html"] = b"<html>not read</html>"
    root = tmp_path_factory.mktemp("cifar-root")
    archive = root / CIFAR10 / CIFAR10_ARCHIVE
    checksums = {name: md5(raw) for name, raw in members.items() if name != "readme.html"}
    checksums[CIFAR10_ARCHIVE] = write_archive(archive, members)
    return SimpleNamespace(
        root=root, archive=archive, members=members, checksums=checksums,
        train_x=nhwc(np.concatenate([pixels[name] for name in TRAIN])),
        train_y=np.concatenate([labels[name] for name in TRAIN]),
        test_x=nhwc(pixels["test_batch"]), test_y=np.asarray(labels["test_batch"]),
    )


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """No test sees PCDIAG_DATA, the user's cache or the network."""
    monkeypatch.delenv("PCDIAG_DATA", raising=False)
    monkeypatch.setenv("PCDIAG_CACHE", str(tmp_path / "cache"))
    empty = tmp_path / "empty-mirror"
    empty.mkdir()
    monkeypatch.setenv(data.MIRROR_ENV[CIFAR10], empty.as_uri())
    return empty


@pytest.fixture
def own_checksums(written, monkeypatch):
    """The official checksums replaced by the written archive's."""
    for name, value in written.checksums.items():
        monkeypatch.setitem(CIFAR10_MD5, name, value)


# --- reading -----------------------------------------------------------------------------------


def test_reads_the_written_archive(written):
    train_x, train_y, test_x, test_y = read_cifar10(written.archive, written.checksums)
    assert train_x.shape == (5 * PER_BATCH, 32, 32, 3) and test_x.shape == (N_TEST, 32, 32, 3)
    assert train_x.dtype == test_x.dtype == np.uint8
    assert train_y.shape == (5 * PER_BATCH,) and test_y.shape == (N_TEST,)
    np.testing.assert_array_equal(train_x, written.train_x)  # batches 1..5, not archive order
    np.testing.assert_array_equal(train_y, written.train_y)
    np.testing.assert_array_equal(test_x, written.test_x)
    np.testing.assert_array_equal(test_y, written.test_y)
    # one pixel by hand: image 7 (batch 2's second), row 5, column 30, green
    assert train_x[7, 5, 30, 1] == written.train_x[7, 5, 30, 1]
    raw = pickle.loads(written.members["data_batch_2"], encoding="bytes")[b"data"]
    assert train_x[7, 5, 30, 1] == raw[1, 1024 + 5 * 32 + 30]
    assert not any(a.flags.writeable for a in (train_x, train_y, test_x, test_y))


def test_extracted_folder_reads_the_same(written, tmp_path):
    folder = extract(written.members, tmp_path / CIFAR10_FOLDER)
    for a, b in zip(read_cifar10(folder, written.checksums),
                    read_cifar10(written.archive, written.checksums)):
        np.testing.assert_array_equal(a, b)


def test_load_standardises_per_channel_and_keeps_the_first_examples(written, own_checksums):
    train, test = load(CIFAR10, written.root)
    assert train.images.shape == (5 * PER_BATCH, 32, 32, 3)
    assert train.images.dtype == np.float32 and train.labels.dtype == np.int32
    mean, std = (np.asarray(v) for v in NORMALISATION[CIFAR10])
    np.testing.assert_allclose(train.images, (written.train_x / 255 - mean) / std, atol=1e-5)
    np.testing.assert_allclose(test.images, (written.test_x / 255 - mean) / std, atol=1e-5)
    np.testing.assert_array_equal(test.labels, written.test_y)
    small_train, small_test = load(CIFAR10, written.root, train_limit=7, test_limit=3)
    np.testing.assert_array_equal(small_train.images, train.images[:7])
    np.testing.assert_array_equal(small_test.labels, test.labels[:3])
    with pytest.raises(DataError, match=f"^test_limit=11: must be between 1 and {N_TEST}"):
        load(CIFAR10, written.root, test_limit=11)
    # what the crop pads with is a black pixel as load() standardises it
    black = (np.zeros(3, np.float32) / 255 - mean.astype(np.float32)) / std.astype(np.float32)
    assert data.black(CIFAR10) == tuple(black.tolist())


# --- checksums and broken archives ---------------------------------------------------------------


def test_official_checksums_reject_the_written_archive(written):
    first = ORDER[0]  # the first member the archive holds
    found = written.checksums[first]
    with pytest.raises(
        DataError,
        match=f"{CIFAR10_ARCHIVE}: member {first}: checksum mismatch: MD5 is {found}, "
        f"expected {CIFAR10_MD5[first]}; .*not the official one. Fix: delete it and download",
    ):
        read_cifar10(written.archive)


def test_corrupt_extracted_member_is_named(written, tmp_path):
    folder = extract(written.members, tmp_path / CIFAR10_FOLDER)
    raw = bytearray(written.members["data_batch_2"])
    raw[-100] ^= 0xFF
    (folder / "data_batch_2").write_bytes(raw)
    path = re.escape(str(folder / "data_batch_2"))
    with pytest.raises(DataError, match=f"{path}: checksum mismatch: MD5 is {md5(raw)}"):
        read_cifar10(folder, written.checksums)


def test_truncated_member_is_named(written, tmp_path):
    tar = tar_bytes(written.members)
    info = tarfile.open(fileobj=io.BytesIO(tar)).getmember(f"{CIFAR10_FOLDER}/data_batch_3")
    archive = tmp_path / CIFAR10_ARCHIVE
    archive.write_bytes(gzip.compress(tar[: info.offset_data + info.size // 2]))
    with pytest.raises(DataError, match=f"{CIFAR10_ARCHIVE}: member {CIFAR10_FOLDER}/"
                                        "data_batch_3 is truncated or corrupt"):
        read_cifar10(archive, written.checksums)
    # cut inside the padding after the member: the members not read are named
    archive.write_bytes(gzip.compress(tar[: info.offset_data + info.size]))
    with pytest.raises(DataError, match="truncated or corrupt archive after member data_batch_3"
                                        r" \(not read: batches.meta, data_batch_1, data_batch_2,"
                                        r" data_batch_5\)"):
        read_cifar10(archive, written.checksums)
    # cut at a block boundary after it: a shorter archive, whose missing members are named
    archive.write_bytes(gzip.compress(tar[: info.offset_data + -(-info.size // 512) * 512]))
    with pytest.raises(DataError, match=f"the archive lacks {CIFAR10_FOLDER}/batches.meta, "
                                        ".*data_batch_1, .*data_batch_2, .*data_batch_5; "
                                        "it is truncated"):
        read_cifar10(archive, written.checksums)


def test_truncated_gzip_stream_is_named(written, tmp_path):
    archive = tmp_path / CIFAR10_ARCHIVE
    archive.write_bytes(written.archive.read_bytes()[: written.archive.stat().st_size // 2])
    with pytest.raises(DataError, match=f"{CIFAR10_ARCHIVE}: (member .* is truncated or corrupt"
                                        "|truncated or corrupt archive after member )"):
        read_cifar10(archive, written.checksums)


def test_not_an_archive(tmp_path, written):
    archive = tmp_path / CIFAR10_ARCHIVE
    archive.write_bytes(b"<html>a login page, not the data</html>")
    with pytest.raises(DataError, match="truncated or corrupt archive after its start"):
        read_cifar10(archive, written.checksums)


def test_incomplete_extracted_folder(written, tmp_path):
    folder = extract(written.members, tmp_path / CIFAR10_FOLDER)
    (folder / "test_batch").unlink()
    with pytest.raises(DataError, match="incomplete extracted cifar-10 folder: missing "
                                        "test_batch. Fix: extract"):
        read_cifar10(folder, written.checksums)


class _Exploit:
    def __reduce__(self):
        return (os.system, ("echo this must never run",))


@pytest.mark.parametrize(
    "changes, message",
    [
        ({b"data": np.zeros((6, 1024), np.uint8)},
         r"b'data' is uint8 \(6, 1024\), expected uint8 \(N, 3072\)"),
        ({b"labels": [1, 2, 3]}, r"6 images but b'labels' is int64 \(3,\), expected 6 integer"),
        ({b"labels": [0, 1, 12, 3, 4, 5]}, r"label 12 at index 2, expected 0\.\.9"),
        ({b"extra": _Exploit()}, r"not a readable CIFAR-10 batch \(it refers to \w+\.system"),
    ],
    ids=["shape", "count", "label", "foreign object"],
)
def test_bad_batch_content_is_named(written, tmp_path, changes, message):
    """A member whose checksum matches (the test's own) but whose content is wrong."""
    members = dict(written.members)
    members["data_batch_5"] = batch(np.random.default_rng(0), 6, "data_batch_5", changes)[0]
    folder = extract(members, tmp_path / CIFAR10_FOLDER)
    checksums = {**written.checksums, "data_batch_5": md5(members["data_batch_5"])}
    with pytest.raises(DataError, match=re.escape(str(folder / "data_batch_5")) + ": " + message):
        read_cifar10(folder, checksums)


# --- where it is looked for ----------------------------------------------------------------------


def test_search_order_data_dir_env_cache(written, tmp_path, monkeypatch):
    cache = tmp_path / "cache" / CIFAR10
    write_archive(cache / CIFAR10_ARCHIVE, written.members)
    assert locate(CIFAR10, download=False) == cache / CIFAR10_ARCHIVE
    monkeypatch.setenv("PCDIAG_DATA", str(written.root))
    assert locate(CIFAR10) == written.archive
    elsewhere = tmp_path / "elsewhere"
    extract(written.members, elsewhere / CIFAR10 / CIFAR10_FOLDER)
    assert locate(CIFAR10, elsewhere) == elsewhere / CIFAR10 / CIFAR10_FOLDER
    # the extracted folder is preferred to the archive beside it
    write_archive(elsewhere / CIFAR10 / CIFAR10_ARCHIVE, written.members)
    assert locate(CIFAR10, str(elsewhere)) == elsewhere / CIFAR10 / CIFAR10_FOLDER


def test_roots_without_the_data_set(written, tmp_path, monkeypatch):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match=r"data_dir=.*empty': .*empty does not contain the "
                                        r"cifar-10 data set: expected the archive .*empty/"
                                        r"cifar-10/cifar-10-python\.tar\.gz or the folder"):
        locate(CIFAR10, tmp_path / "empty")
    with pytest.raises(DataError, match="Fix: pass the folder above it, "
                                        + re.escape(str(written.root))):
        locate(CIFAR10, written.root / CIFAR10)  # the data set's folder instead of its root
    flat = tmp_path / "flat"
    write_archive(flat / CIFAR10_ARCHIVE, written.members)
    with pytest.raises(DataError, match=f"Fix: move it into {re.escape(str(flat / CIFAR10))}/"):
        locate(CIFAR10, flat)
    monkeypatch.setenv("PCDIAG_DATA", str(tmp_path / "empty"))
    with pytest.raises(DataError, match="environment variable PCDIAG_DATA=.*does not contain"):
        locate(CIFAR10)
    with pytest.raises(DataError, match="nowhere': folder .*nowhere does not exist"):
        locate(CIFAR10, tmp_path / "nowhere")


def test_download_into_the_cache(written, tmp_path, monkeypatch, own_checksums, isolated):
    mirror = written.archive.parent
    monkeypatch.setenv(data.MIRROR_ENV[CIFAR10], mirror.as_uri())
    cache = tmp_path / "cache" / CIFAR10
    assert locate(CIFAR10) == cache / CIFAR10_ARCHIVE
    assert [p.name for p in cache.iterdir()] == [CIFAR10_ARCHIVE]  # no temporary file left
    assert md5((cache / CIFAR10_ARCHIVE).read_bytes()) == written.checksums[CIFAR10_ARCHIVE]
    monkeypatch.setenv(data.MIRROR_ENV[CIFAR10], isolated.as_uri())  # a re-download would fail
    train, _ = load(CIFAR10)
    np.testing.assert_array_equal(train.labels, written.train_y)


def test_download_with_the_wrong_md5_saves_nothing(written, tmp_path, monkeypatch):
    monkeypatch.setenv(data.MIRROR_ENV[CIFAR10], written.archive.parent.as_uri())
    with pytest.raises(DataError, match=f"downloaded file://.*{CIFAR10_ARCHIVE} but its MD5 is "
                                        f"not {CIFAR10_MD5[CIFAR10_ARCHIVE]}.*nothing was saved"):
        locate(CIFAR10)
    assert list((tmp_path / "cache" / CIFAR10).iterdir()) == []


def test_not_found_says_where_it_looked_and_how_to_get_it(tmp_path):
    with pytest.raises(DataError, match="cifar-10 not found and download=False") as err:
        locate(CIFAR10, download=False)
    assert "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz" in str(err.value)
    with pytest.raises(DownloadError, match="cifar-10 not found and could not be downloaded"
                       ) as err:
        locate(CIFAR10)
    for place in ["PCDIAG_DATA: not set",
                  f"cache {tmp_path / 'cache' / CIFAR10}: no {CIFAR10_ARCHIVE}",
                  f"download from {(tmp_path / 'empty-mirror').as_uri()}/{CIFAR10_ARCHIVE}",
                  "export PCDIAG_DATA=ROOT", "export PCDIAG_MIRROR_CIFAR_10="]:
        assert place in str(err.value)


# --- config ------------------------------------------------------------------------------------


def test_config_knows_cifar10():
    assert DATA_SHAPES[CIFAR10] == ((32, 32, 3), 10)
    assert Config(dataset=CIFAR10).n_train == 50000
    with pytest.raises(ConfigError, match="train_limit=50001 is invalid: cifar-10 has only 50000"):
        Config(dataset=CIFAR10, train_limit=50001)
    with pytest.raises(ConfigError, match="test_limit=10001 is invalid: cifar-10 has only 10000"):
        Config(dataset=CIFAR10, test_limit=10001)
    with pytest.raises(ConfigError, match="augment='yes' is invalid: must be true or false"):
        Config(augment="yes")


# --- augmentation ------------------------------------------------------------------------------


def test_augment_flips_and_shifts_each_image():
    rng = np.random.default_rng(3)
    x = rng.uniform(0, 1, (32, 32, 32, 3)).astype(np.float32)
    fill = (-1.0, -2.0, -3.0)  # unlike any pixel: the border shows where the image moved
    jitted = jax.jit(augment)  # one compile, not one per operation
    out = np.asarray(jitted(jax.random.PRNGKey(5), x, fill))
    assert out.shape == x.shape
    pad = CROP_PADDING
    seen = []
    for image, result in zip(x, out):
        matches = []
        for flip in (False, True):
            source = image[:, ::-1] if flip else image
            padded = np.concatenate([np.broadcast_to(np.float32(f), (32 + 2 * pad,) * 2 + (1,))
                                     for f in fill], axis=-1).copy()
            padded[pad : pad + 32, pad : pad + 32] = source
            matches += [(flip, dy - pad, dx - pad)
                        for dy in range(2 * pad + 1) for dx in range(2 * pad + 1)
                        if np.array_equal(padded[dy : dy + 32, dx : dx + 32], result)]
        assert len(matches) == 1, matches  # each image is exactly one flip and shift of itself
        seen.append(matches[0])
    flips = sum(flip for flip, _, _ in seen)
    assert 4 <= flips <= 28  # p = 1/2 of 32 images
    assert len({shift[1:] for shift in seen}) > 10  # offsets vary image to image
    assert not np.array_equal(out, x)
    np.testing.assert_array_equal(jitted(jax.random.PRNGKey(5), x, fill), out)  # keyed
    assert not np.array_equal(jitted(jax.random.PRNGKey(6), x, fill), out)
    assert jax.eval_shape(augment, jax.random.PRNGKey(0), x[:4, :28, :28, :1]).shape == (
        4, 28, 28, 1)  # any image size and channel count; a scalar fill


@pytest.mark.slow  # a 32x32x3 program; the reader tests are default
def test_training_with_augmentation_on_the_written_archive(written, own_checksums):
    cfg = Config(dataset=CIFAR10, data_dir=str(written.root), train_limit=24, batch_size=8,
                 depth=2, width=16, inference_steps=2, record_inference=False)
    plain = pcdiag.train(cfg)
    assert plain.attrs["input_normalisation"] == (
        "(x / 255 - mean) / std per channel (R, G, B), mean (0.4914, 0.4822, 0.4465), "
        "std (0.2023, 0.1994, 0.201)")
    assert plain.sizes["step"] == 3
    augmented = pcdiag.train(cfg.replace(augment=True))
    pcdiag.validate(augmented)
    assert np.isfinite(augmented["train_loss"]).all()
    assert 0 <= augmented["test_accuracy"].item() <= 1
    # same seed: same initial weights and batch order, so the first step's loss of the
    # feedforward prediction differs only because the batch it sees does
    assert plain["train_loss"][0].item() != augmented["train_loss"][0].item()
