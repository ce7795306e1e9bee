"""Convert the Fashion-MNIST IDX .gz files into the .npz consumed by pcx_mlp.py.

Pure numpy + gzip (runs in any Python, including the pcx venv).

    python make_fmnist_npz.py "$PCDIAG_DATA"/fashion-mnist fmnist.npz

The npz holds
    x_train float32 (60000, 784), y_train int32 (60000,)
    x_test  float32 (10000, 784), y_test  int32 (10000,)
with images scaled to [0, 1] (/255) and then standardised as (x - 0.286) / 0.353.
"""
import gzip
import os
import sys

import numpy as np

MEAN, STD = 0.286, 0.353


def read_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    magic = int.from_bytes(data[0:4], "big")
    dtype_code, ndim = (magic >> 8) & 0xFF, magic & 0xFF
    if dtype_code != 0x08:
        raise ValueError(f"{path}: expected unsigned-byte IDX data, got type 0x{dtype_code:02x}")
    shape = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    arr = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    return arr.reshape(shape)


def load_split(root, prefix):
    x = read_idx(os.path.join(root, f"{prefix}-images-idx3-ubyte.gz"))
    y = read_idx(os.path.join(root, f"{prefix}-labels-idx1-ubyte.gz"))
    x = x.reshape(x.shape[0], -1).astype(np.float32) / 255.0
    x = ((x - MEAN) / STD).astype(np.float32)
    return x, y.astype(np.int32)


def main():
    default_root = os.path.join(os.environ.get("PCDIAG_DATA", "../shared/data"), "fashion-mnist")
    root = sys.argv[1] if len(sys.argv) > 1 else default_root
    out = sys.argv[2] if len(sys.argv) > 2 else "fmnist.npz"
    x_train, y_train = load_split(root, "train")
    x_test, y_test = load_split(root, "t10k")
    np.savez(out, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    print(f"wrote {out}: x_train {x_train.shape}, x_test {x_test.shape}, "
          f"train mean {x_train.mean():.4f} std {x_train.std():.4f}")


if __name__ == "__main__":
    main()
