"""PCX (PyPI `pcx` 0.6.3) side of the pcdiag-vs-PCX VGG-5 benchmark; the protocol of pcx_mlp.py.

Runs ONLY inside the pcx virtual environment (pcx 0.6.3 needs jax < 0.5); see README.md.

    "$PCDIAG_PCX_VENV"/bin/python pcx_vgg.py '{"channels": [32, 64, 128, 128], "n_classes": 10, "batch_size": 128,
        "T": 7, "gamma": 0.1, "weight_lr": 1e-3, "epochs": 3, "data": "fmnist.npz"}'

Spec keys: those of pcx_mlp.py, with `channels` (the four conv layers' output channels; PCX's VGG-5: 128, 256,
512, 512), `n_classes` and `side` (default 32) instead of `sizes`. The npz's x_train / x_test are images
(N, H, W, C) (pcdiag's layout) or (N, H*W) single-channel; they are moved to PCX's per-sample (C, H, W) and
zero-padded symmetrically to side x side (Fashion-MNIST 28 -> 32, as pcdiag's VGG pads in its layer 1).

Model: PCX's VGG-5 (liukidar/pcx tag v0.6.1, examples/s4_1_discriminative_mode/VGG5/cifar10/PC_SE.py): four
blocks `Vode()(MaxPool2d(2, 2)(act(Conv2d(c_in, c, 3, stride 1, padding 1)(x))))`, then
`Linear(c_4 * 2 * 2, n_classes)` into the output Vode. As in pcx_mlp.py (and the pcdiag side of the speed benchmark) the
output Vode is `ce_energy`, frozen and clamped to one-hot(y) (PC_SE.py's is se_energy), and act = hard_tanh.

init_weights npz: conv l as `W{l}` (c_out, c_in, 3, 3) and `b{l}` (c_out,) (equinox's OIHW, the bias is
reshaped to (c_out, 1, 1)); the linear layer as `W5` (n_classes, c_4 * 2 * 2) over the (C, H, W)-flattened last
node and `b5`. pcdiag.speed.pcx.save_pcx_vgg_weights writes this from pcdiag's HWIO kernels and (H, W, C) flattening.
"""
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
import pcx as px
import pcx.nn as pxnn
import pcx.predictive_coding as pxc

from pcx_mlp import _read_spec, run


class PCVGG(pxc.EnergyModule):
    def __init__(self, in_channels, channels, n_classes, act_fn: Callable[[jax.Array], jax.Array], side=32):
        super().__init__()
        self.act_fn = px.static(act_fn)
        self.nm_classes = px.static(n_classes)
        c_in, convs = in_channels, []
        for c in channels:
            convs.append(pxnn.Conv2d(c_in, c, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1)))
            c_in = c
        self.pools = [pxnn.MaxPool2d(kernel_size=2, stride=2) for _ in channels]
        last = side // 2 ** len(channels)
        self.layers = convs + [pxnn.Linear(c_in * last * last, n_classes)]
        self.vodes = [pxc.Vode() for _ in channels] + [pxc.Vode(pxc.ce_energy)]
        self.vodes[-1].h.frozen = True

    def __call__(self, x, y=None):
        for conv, pool, v in zip(self.layers[:-1], self.pools, self.vodes[:-1]):
            x = v(pool(self.act_fn(conv(x))))
        self.vodes[-1](self.layers[-1](x.flatten()))
        if y is not None:
            self.vodes[-1].set("h", y)
        return self.vodes[-1].get("u")


def _load_weights(model, path):
    w = np.load(path)
    for i, layer in enumerate(model.layers, start=1):
        W = np.asarray(w[f"W{i}"], dtype=np.float32)
        b = np.asarray(w[f"b{i}"], dtype=np.float32)
        weight, bias = layer.nn.weight, layer.nn.bias
        if W.shape != weight.get().shape:
            raise ValueError(f"W{i} has shape {W.shape}, PCX's layer wants {weight.get().shape}")
        weight.set(jnp.asarray(W))
        bias.set(jnp.asarray(b.reshape(bias.get().shape)))


def main():
    spec = _read_spec()
    channels = [int(c) for c in spec["channels"]]
    n_classes = int(spec["n_classes"])
    side = int(spec.get("side", 32))

    def prepare(x):  # -> (N, C, side, side), zero-padded symmetrically
        x = np.asarray(x, dtype=np.float32)
        if x.ndim == 2:
            s = int(round(x.shape[1] ** 0.5))
            x = x.reshape(-1, s, s, 1)
        x = x.transpose(0, 3, 1, 2)
        eh, ew = side - x.shape[2], side - x.shape[3]
        pad = ((0, 0), (0, 0), (eh // 2, eh - eh // 2), (ew // 2, ew - ew // 2))
        return np.ascontiguousarray(np.pad(x, pad))

    data = np.load(spec["data"])
    in_channels = 1 if data["x_train"].ndim == 2 else data["x_train"].shape[-1]
    px.RKG.seed(int(spec.get("seed", 0)))
    model = PCVGG(in_channels, channels, n_classes, jax.nn.hard_tanh, side)
    run(spec, model, prepare, _load_weights, n_classes,
        {"model": "vgg5", "channels": channels, "n_classes": n_classes, "side": side})


if __name__ == "__main__":
    main()
