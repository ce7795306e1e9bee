"""Convolutional and residual PCNs through the network contract: shapes as PCX builds them,
the im2col convolution equals XLA's, and every algorithm trains them with full recording on
real Fashion-MNIST images (tiny widths: a CPU test)."""

import os
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from _tolerance import assert_runs_close

import pcdiag
from pcdiag.algorithms.base import Program
from pcdiag.engine import loop
from pcdiag.nets import build
from pcdiag.nets.conv import conv, max_pool

DATA = Path(os.environ.get("PCDIAG_DATA")
            or Path(__file__).resolve().parents[2] / "shared" / "data")
#: Each conv program compiles in 10-60 s on 2 cores, so conv training (VGG-5 with every
#: algorithm, ResNet-6, VGG-9) is the slow tier; the default tier checks the conv layers,
#: their gradients and the nets' shapes without training.
slow = pytest.mark.slow
SMALL = dict(data_dir=str(DATA), train_limit=256, test_limit=1000, batch_size=64, width=4,
             inference_steps=4, gamma=0.05, activation="gelu", log_every=1)


def test_vgg_node_shapes_follow_pcx():
    """28 x 28 images are padded to PCX's 32 x 32; VGG-7 keeps PCX's unpadded convs."""
    shapes = {d: build(pcdiag.Config(net="vgg", depth=d, width=8)).node_shapes
              for d in (5, 7, 9)}
    assert shapes[5] == ((16, 16, 8), (8, 8, 16), (4, 4, 32), (2, 2, 32), (10,))
    assert [s[:2] for s in shapes[7][:-1]] == [(16, 16), (16, 16), (8, 8), (6, 6), (3, 3),
                                               (1, 1)]  # PCX's VGG-7 vodes on CIFAR
    assert [s[2] for s in shapes[7][:-1]] == [8, 8, 16, 16, 32, 32]
    assert len(shapes[9]) == 9 and shapes[9][-2] == (2, 2, 32)


def test_resnet_has_one_node_per_block():
    net = build(pcdiag.Config(net="resnet", depth=10, width=4))  # ResNet-18: 2 blocks a stage
    assert net.node_shapes == ((32, 32, 4), (32, 32, 4), (32, 32, 4), (16, 16, 8), (16, 16, 8),
                               (8, 8, 16), (8, 8, 16), (4, 4, 32), (4, 4, 32), (10,))
    params = jax.eval_shape(net.init, jax.random.PRNGKey(0))
    assert "shortcut" in params[3] and "shortcut" not in params[2]  # projection where it strides
    assert params[3]["shortcut"]["w"].shape == (1, 1, 4, 8)


@pytest.mark.parametrize("net, depth, rule", [
    ("vgg", 6, r"depth=6 is invalid for net='vgg': must be 5, 7 or 4k \+ 1"),
    ("resnet", 7, r"depth=7 is invalid for net='resnet': must be 2 \+ 4 \* blocks per stage"),
])
def test_depths_a_family_lacks_are_refused(net, depth, rule):
    with pytest.raises(pcdiag.ConfigError, match=rule):
        pcdiag.Config(net=net, depth=depth)


@pytest.mark.parametrize("kernel, stride, padding", [(3, 1, "SAME"), (3, 2, "SAME"),
                                                     (3, 1, "VALID"), (1, 2, "SAME")])
def test_im2col_convolution_equals_xlas(kernel, stride, padding):
    """Same sums in another order: float32 rounding of a k*k*C = 288-term dot product."""
    x = jax.random.normal(jax.random.PRNGKey(0), (3, 9, 9, 32))
    w = jax.random.normal(jax.random.PRNGKey(1), (kernel, kernel, 32, 5)) / 10
    b = jnp.arange(5.0)
    ours = conv(x, w, b, stride=stride, padding=padding, im2col=True)
    xla = conv(x, w, b, stride=stride, padding=padding, im2col=False)
    assert ours.shape == xla.shape
    np.testing.assert_allclose(ours, xla, rtol=0, atol=288 * 1.2e-7 * float(jnp.abs(xla).max()))


@pytest.mark.parametrize("kernel, padding", [pytest.param(3, "SAME", marks=pytest.mark.slow),
                                             (3, "VALID"), (1, "SAME")])
def test_the_cpu_convolution_gradient_equals_xlas(kernel, padding):
    """The CPU's custom gradient (d/dx: a convolution with the flipped kernel; d/dW: im2col
    matmul) against autodiff of XLA's convolution: the same sums of at most 9 * 9 * 5 = 405
    products in another order, so float32 rounding of that many terms."""
    from pcdiag.nets.conv import conv_cpu

    x = jax.random.normal(jax.random.PRNGKey(0), (3, 9, 9, 4))
    w = jax.random.normal(jax.random.PRNGKey(1), (kernel, kernel, 4, 5)) / 10
    b = jnp.arange(5.0)
    side = (kernel - 1) // 2 if padding == "SAME" else 0
    cot = jax.random.normal(jax.random.PRNGKey(2), conv(x, w, b, padding=padding,
                                                        im2col=False).shape)
    ours = jax.vjp(lambda *a: conv_cpu(*a, side), x, w, b)
    xla = jax.vjp(lambda *a: conv(*a, padding=padding, im2col=False), x, w, b)
    for a, e in zip((ours[0], *ours[1](cot)), (xla[0], *xla[1](cot))):
        np.testing.assert_allclose(a, e, rtol=0, atol=405 * 1.2e-7 * float(jnp.abs(e).max()))


@pytest.mark.slow  # jvp through every convolution backend (~6 s)
def test_forward_mode_differentiates_a_convolution_on_every_backend():
    # a custom_vjp has no jvp: hessian.py traces convolutions inside forward_mode_autodiff
    from pcdiag.nets.conv import forward_mode_autodiff

    x = jax.random.normal(jax.random.PRNGKey(0), (1, 4, 4, 2))
    w = jax.random.normal(jax.random.PRNGKey(1), (3, 3, 2, 2))

    def f(v):
        return jnp.sum(jnp.tanh(conv(v.reshape(x.shape), w, jnp.zeros(2))) ** 2)

    with forward_mode_autodiff():
        hess = jax.hessian(f)(x.ravel())
    np.testing.assert_allclose(hess, hess.T, atol=1e-5)
    assert hess.shape == (32, 32) and float(jnp.abs(hess).max()) > 0


def test_max_pool_takes_each_windows_maximum_and_drops_an_odd_edge():
    x = jnp.arange(2 * 5 * 5 * 1, dtype=jnp.float32).reshape(2, 5, 5, 1)
    np.testing.assert_array_equal(max_pool(x)[0, :, :, 0], [[6, 8], [16, 18]])


@pytest.mark.parametrize("algorithm", [pytest.param("pc", marks=slow),
                                       pytest.param("epc", marks=slow),
                                       pytest.param("ipc", marks=slow),
                                       pytest.param("bp", marks=slow)])
def test_vgg5_trains_with_every_algorithm_and_full_recording(algorithm):
    cfg = pcdiag.Config(net="vgg", depth=5, algorithm=algorithm, bp_alignment=True,
                        hessian_samples=1 if algorithm == "pc" else 0, **SMALL)
    ds = pcdiag.validate(pcdiag.train(cfg))
    assert ds["layer"].values.tolist() == [1, 2, 3, 4, 5]
    assert np.all(np.isfinite(ds.weight_norm)) and np.all(ds.weight_grad_norm > 0)
    assert 0 <= float(ds.test_accuracy[-1]) <= 1  # a 4-channel net after 4 steps: near chance
    if algorithm == "bp":
        return
    energy = ds.energy.values
    assert np.all(energy >= 0)
    if algorithm != "ipc":
        assert np.all(energy[:, 0, :-1] == 0.0)  # forward initialisation
    # t = 1: the output error has reached node 4 (one layer per step for pc), and its
    # weights' PC gradient then points like backprop's
    assert np.all(energy[:, -1, 3] > 0)
    assert np.all(np.isfinite(ds.bp_cosine.sel(layer=5)))
    assert float(ds.bp_cosine.sel(layer=5).median()) > 0.5
    if algorithm == "pc":  # 4 x 8 x 8 x ... free units: the Hessian by Lanczos
        assert np.all(np.isfinite(ds.hessian_condition)) and np.all(ds.hessian_condition >= 1)


@pytest.mark.parametrize("net, depth", [pytest.param("resnet", 6, marks=slow),
                                        pytest.param("vgg", 9, marks=slow)])
def test_resnet_and_vgg9_complete_with_full_recording(net, depth):
    cfg = pcdiag.Config(net=net, depth=depth, bp_alignment=True, **(SMALL | {"train_limit": 128}))
    ds = pcdiag.validate(pcdiag.train(cfg))
    assert ds.sizes["layer"] == depth
    assert np.all(np.isfinite(ds.energy)) and np.all(ds.energy >= 0)
    reached = ds.energy.isel(t=-1) > 0  # layers the error has reached by t = T
    cos = ds.bp_cosine.where(reached.all("step"))
    assert np.all(np.isfinite(cos.sel(layer=depth)))
    assert np.all(np.isfinite(ds.state_grad_norm.sel(layer=slice(1, depth - 1))))


@slow
def test_a_conv_sweep_runs_its_seeds_one_after_another_each_as_if_alone():
    """On a CPU a conv net's runs are mapped (lax.map), not vmapped: a vmapped convolution's
    kernel has a run axis, which XLA:CPU runs as a slow grouped convolution. Each mapped run
    is the single run's computation (bit-equal to it on the development machine); what may
    differ on another CPU is held to tests/_tolerance.py's bound."""
    cfg = pcdiag.Config(net="vgg", depth=5, state_optimizer="momentum", **(SMALL | {
        "train_limit": 64, "test_limit": 100, "batch_size": 16}))
    assert not build(cfg).vmap_runs and loop.compiled(Program.from_config(cfg)).sequential
    assert build(cfg.replace(net="mlp", depth=3)).vmap_runs
    sweep = pcdiag.sweep(cfg, seed=[0, 1])
    for seed in (0, 1):
        alone = pcdiag.train(cfg.replace(seed=seed))
        assert_runs_close(sweep.sel(seed=seed), alone)
    assert not np.array_equal(sweep.energy.sel(seed=0), sweep.energy.sel(seed=1))


def test_memory_estimate_counts_conv_activations():
    """Six float32 copies of every node and pre-pool conv output per sample (resources'
    working set): a 32 x 32 x W conv output before the first pooling, W x 16 x 16 after."""
    from pcdiag.engine.resources import estimate
    cfg = pcdiag.Config(net="vgg", depth=5, width=32, batch_size=64)
    net = build(cfg)
    pre_pool = 32 * 32 * 32 + 16 * 16 * 64 + 8 * 8 * 128 + 4 * 4 * 128
    assert net.working_units == 784 + sum(np.prod(s) for s in net.node_shapes) + pre_pool
    assert estimate([(cfg, 1)]).state >= 4 * 6 * 64 * net.working_units
