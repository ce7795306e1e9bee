"""Generation's networks through the network contract: the transposed-conv decoder (PCX's
deconv family) computes PCX's layer to float32 rounding and ends in the image's shape; the
autoencoder is its encoder then its decoder, exactly; the mirrored encoder is PCX's.

Rounding bound used throughout: a float32 sum of n products, in any order, is within
n * eps * (sum of the products' magnitudes) of the exact sum (Higham's gamma_n, eps = 2**-23;
bias included as one more term). References are computed in float64 by numpy, whose own
error is 2**29 times smaller. hard_tanh is 1-Lipschitz, so the bound survives it.
"""

import json
from functools import partial
from types import SimpleNamespace

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import pcdiag
from pcdiag.nets import NETS
from pcdiag.nets.autoencoder import Autoencoder, mirrored_encoder
from pcdiag.nets.conv import forward_mode_autodiff
from pcdiag.nets.deconv import Deconv, channel_rule, conv_transpose
from pcdiag.nets.mlp import MLP

EPS = 2.0 ** -23
PCX_DIMS = [64, 128, 128, 784]  # PCX's linear decoder (configs/*_fashionmnist_*.yaml)


def normal(seed, *shapes):
    """Standard normal float32 arrays from numpy (jax's draws compile for seconds)."""
    rng = np.random.default_rng(seed)
    return [jnp.asarray(rng.standard_normal(shape), jnp.float32) for shape in shapes]


def uniform(seed, shape):
    return jnp.asarray(np.random.default_rng(seed).uniform(size=shape), jnp.float32)


def cfg(depth, width=8, dataset="fashion-mnist", activation="hard_tanh"):
    return SimpleNamespace(dataset=dataset, depth=depth, width=width, activation=activation)


def reference(x, w, b, s):
    """Transposed conv in float64, two ways that must agree: equinox's ConvTranspose (PCX's
    layer: x dilated by s, padded k - 1 - p a side, correlated with w unflipped) and the
    scatter-add definition y[s i + c - p] += x[i] w[k-1-c]. Returns (y, sum of |terms|)."""
    x, w, b = (np.asarray(a, np.float64) for a in (x, w, b))
    batch, h, wd, _ = x.shape
    k, p = w.shape[0], (w.shape[0] - s) // 2
    dil = np.zeros((batch, (h - 1) * s + 1, (wd - 1) * s + 1, x.shape[3]))
    dil[:, ::s, ::s] = x
    e = k - 1 - p
    dil = np.pad(dil, ((0, 0), (e, e), (e, e), (0, 0)))
    out_h, out_w = s * h, s * wd
    eqx = np.zeros((batch, out_h, out_w, w.shape[3]))
    mag = np.zeros_like(eqx)
    for i in range(k):
        for j in range(k):
            view = dil[:, i:i + out_h, j:j + out_w]
            eqx += view @ w[i, j]
            mag += np.abs(view) @ np.abs(w[i, j])
    scatter = np.zeros((batch, out_h + 2 * k, out_w + 2 * k, w.shape[3]))  # margin of k
    for i in range(h):
        for j in range(wd):
            for c in range(k):
                for d in range(k):
                    scatter[:, k + s * i + c - p, k + s * j + d - p] += (
                        x[:, i, j] @ w[k - 1 - c, k - 1 - d])
    scatter = scatter[:, k:k + out_h, k:k + out_w]
    np.testing.assert_allclose(eqx, scatter, rtol=0, atol=1e-12)
    return eqx + b, mag + np.abs(b)


@pytest.mark.parametrize("depth, dataset, shapes", [
    (2, "fashion-mnist", ((14, 14, 8), (28, 28, 1))),
    (3, "fashion-mnist", ((7, 7, 8), (14, 14, 4), (28, 28, 1))),
    (4, "mnist", ((7, 7, 8), (7, 7, 5), (14, 14, 2), (28, 28, 1))),
    (5, "mnist", ((7, 7, 8), (7, 7, 6), (7, 7, 4), (14, 14, 2), (28, 28, 1))),
    (3, "cifar-10", ((8, 8, 8), (16, 16, 5), (32, 32, 3))),
])
def test_deconv_nodes_grow_to_the_image(depth, dataset, shapes):
    """Channels by PCX's rule (8 -> 1: steps of (1 - 8) // (L - 1)); the last node is the
    data set's image; the forward pass of real parameters has those shapes."""
    image = pcdiag.data.registry.DATASETS[dataset].input_shape
    net = NETS["deconv"](cfg(depth, dataset=dataset), (64,), int(np.prod(image)))
    assert (net.depth, net.input_shape, net.node_shapes) == (depth, (64,), shapes)
    assert net.node_shapes[-1] == image
    params = jax.eval_shape(net.init, jax.random.PRNGKey(0))
    nodes = jax.eval_shape(net.forward, params, jax.ShapeDtypeStruct((3, 64), jnp.float32))
    assert [n.shape[1:] for n in nodes] == list(shapes)
    # one node-sized buffer per transposed conv beside the latent and the nodes
    units = [64] + [int(np.prod(s)) for s in shapes]
    assert net.working_units == sum(units) + sum(units[2:])


def test_channel_rule_is_pcxs():
    """PCX's PCDeconvDecoder without out_channels_per_layer, written as PCX writes it."""
    for c_in, c_out, n in [(8, 3, 3), (64, 1, 2), (32, 1, 5)]:
        step = (c_out - c_in) // n
        pcx = [(c_in + i * step) if i < n else c_out for i in range(1, n + 1)]
        assert channel_rule(c_in, c_out, n) == pcx


@pytest.mark.parametrize("kernel, stride, phases", [(4, 2, True), (4, 2, False),
                                                    (3, 1, True), (3, 1, False)])
def test_conv_transpose_is_pcxs_layer(kernel, stride, phases):
    """Both forms (stride phases, jax.lax.conv_transpose) equal the float64 reference within
    gamma_n, n = k * k * C_in + 1 terms per output (the bound's slack is ~n: a 145-term sum
    rounds by ~sqrt(n) eps of its magnitudes in practice)."""
    x, w, b = normal(3, (2, 3, 4, 9), (kernel, kernel, 9, 5), (5,))
    y = conv_transpose(x, w, b, stride, phases=phases)
    want, mag = reference(x, w, b, stride)
    assert y.shape == want.shape == (2, 3 * stride, 4 * stride, 5)
    n = kernel * kernel * 9 + 1
    assert np.all(np.abs(np.asarray(y, np.float64) - want) <= n * EPS * mag)
    assert np.abs(want).max() > 1.0  # a non-trivial comparison


def test_phase_form_has_xlas_gradients():
    """The phase form's VJP and JVP (the trainers' and the Hessian probe's) equal those of
    jax.lax.conv_transpose / the reference to float32 rounding. Each gradient is a bilinear
    sum of products, so its magnitude sum is the same VJP of |x|, |w|, |g|; dx sums
    k k C_out = 64 products, dw B H W = 50 (phases: each w entry has one place in the phase
    kernel), so both forms lie within 65 eps of that from the exact value."""
    x, w, g = normal(4, (2, 5, 5, 6), (4, 4, 6, 4), (2, 10, 10, 4))
    b = jnp.zeros(4)

    @partial(jax.jit, static_argnums=3)
    def vjp(x, w, g, phases):
        return jax.grad(lambda x, w: jnp.sum(g * conv_transpose(x, w, b, 2, phases)),
                        argnums=(0, 1))(x, w)

    mags = vjp(jnp.abs(x), jnp.abs(w), jnp.abs(g), False)
    for got, want, mag in zip(vjp(x, w, g, True), vjp(x, w, g, False), mags):
        assert float(jnp.abs(want).max()) > 1.0
        assert np.all(np.abs(np.asarray(got - want)) <= 2 * 65 * EPS * np.asarray(mag))
    tangent_in = g[:, ::2, ::2, :].repeat(2, axis=-1)[..., :6]  # any (2, 5, 5, 6) tangent
    with forward_mode_autodiff():
        _, tangent = jax.jvp(lambda x: conv_transpose(x, w, b, 2, True), (x,), (tangent_in,))
    want, mag = reference(tangent_in, w, b, 2)
    assert np.all(np.abs(np.asarray(tangent, np.float64) - want) <= 97 * EPS * mag)


def test_deconv_predict_is_pcxs_decoder():
    """Layer 1: f(x_0 W + b) as the first map; hidden transposed convs with f; the last
    transposed conv linear (PCX's output_act_fn None: values beyond hard_tanh's +-1)."""
    net = Deconv.make(5, (28, 28, 1), depth=3, width=4)
    params = net.init(jax.random.PRNGKey(0))
    params = (params[0], params[1], {"w": params[2]["w"] * 40, "b": params[2]["b"]})
    x0 = normal(1, (2, 5))[0] * 3
    x1, x2, x3 = net.forward(params, x0)
    pre = np.asarray(x0, np.float64) @ np.asarray(params[0]["w"], np.float64) + params[0]["b"]
    mag = np.abs(np.asarray(x0, np.float64)) @ np.abs(params[0]["w"]) + np.abs(params[0]["b"])
    err = np.abs(np.asarray(x1, np.float64) - np.clip(pre, -1, 1).reshape(2, 7, 7, 4))
    assert np.all(err <= 6 * EPS * mag.reshape(2, 7, 7, 4))  # 5 products and the bias
    for node, below, layer, act in [(x2, x1, 2, True), (x3, x2, 3, False)]:
        want, mag = reference(below, params[layer - 1]["w"], params[layer - 1]["b"], 2)
        if act:
            want = np.clip(want, -1, 1)
        n = 16 * below.shape[-1] + 1
        assert np.all(np.abs(np.asarray(node, np.float64) - want) <= n * EPS * mag)
    assert float(jnp.abs(x3).max()) > 1.0  # not clipped: the output layer is linear


def test_deconv_init_is_pcxs_bound():
    """U(-1/sqrt(k k C_in), +) per layer (equinox's ConvTranspose, PCX's): the largest of
    4 * 4 * 8 * 4 draws lies within 3% of the bound."""
    net = Deconv.make(16, (28, 28, 1), depth=3, width=8)
    params = net.init(jax.random.PRNGKey(2))
    w = params[1]["w"]
    assert w.shape == (4, 4, 8, 4)
    bound = 1 / np.sqrt(4 * 4 * 8)
    assert bound * 0.97 < float(jnp.abs(w).max()) <= bound


@pytest.mark.parametrize("depth, rule", [
    (1, r"depth=1 is invalid for net='deconv': must be 2, 3 or more"),
    (0, r"depth=0 is invalid for net='deconv'"),
])
def test_a_depth_deconv_lacks_is_refused(depth, rule):
    with pytest.raises(pcdiag.ConfigError, match=rule):
        Deconv.from_config(cfg(depth), (64,), 784)


def test_deconv_refuses_an_output_that_is_not_the_image():
    with pytest.raises(pcdiag.ConfigError, match=r"decodes fashion-mnist images \(28, 28, 1\) "
                                                 r"\(784 units\), not 10 outputs"):
        Deconv.from_config(cfg(3), (64,), 10)


def test_mirrored_encoder_is_pcxs():
    """PCX's BPDecoder: Linear layers over layer_dims[::-1] + layer_dims[1:], no activation
    anywhere. The default mirrored encoder + a linear decoder is that affine map: it equals
    the float64 chain of the six affine layers."""
    enc = mirrored_encoder(PCX_DIMS)
    ae = Autoencoder(enc, MLP(tuple(PCX_DIMS), "linear"))
    assert enc.sizes == (784, 128, 128, 64) and ae.depth == 6
    assert ae.describe() == str(PCX_DIMS[::-1] + PCX_DIMS[1:])
    params = ae.init(jax.random.PRNGKey(0))
    x = uniform(1, (4, 784))
    out = ae.forward(params, x)[-1]
    want = np.asarray(x, np.float64)
    mag, err = want, 0.0  # sums of |terms|; the error bound carried through the layers
    for weight, bias in params:
        w, b = np.asarray(weight, np.float64), np.asarray(bias, np.float64)
        want, mag = want @ w + b, mag @ np.abs(w) + np.abs(b)
        err = err @ np.abs(w) + (w.shape[0] + 1) * EPS * mag if np.ndim(err) else (
            (w.shape[0] + 1) * EPS * mag)
    assert np.all(np.abs(np.asarray(out, np.float64) - want) <= err)


def test_nonlinear_mirrored_encoder_leaves_the_bottleneck_linear():
    """With an activation, hidden encoder layers get it and the bottleneck does not
    (pcdiag's MLP convention; PCX applies none)."""
    enc = mirrored_encoder(PCX_DIMS, "hard_tanh")
    params = enc.init(jax.random.PRNGKey(0))
    params = params[:2] + ((params[2][0] * 30, params[2][1]),)
    x = uniform(1, (4, 784)) * 5
    h1, h2, z = enc.forward(params, x)
    assert float(jnp.abs(h1).max()) == 1.0 and float(jnp.abs(h2).max()) <= 1.0
    assert float(jnp.abs(z).max()) > 1.0
    np.testing.assert_array_equal(z, h2 @ params[2][0] + params[2][1])


@pytest.mark.parametrize("decoder", [MLP(tuple(PCX_DIMS), "hard_tanh"),
                                     Deconv.make(64, (28, 28, 1), depth=3, width=4)])
def test_autoencoder_is_its_encoder_then_its_decoder(decoder):
    """Same operations in the same order: equal bit for bit, with keys split once."""
    enc = mirrored_encoder(PCX_DIMS, "hard_tanh", input_shape=(28, 28, 1))
    ae = Autoencoder(enc, decoder)
    assert ae.input_shape == (28, 28, 1)
    assert ae.node_shapes == enc.node_shapes + decoder.node_shapes
    # the input and every node (the latent once), and Deconv's unshuffled conv outputs
    extra = sum(np.prod(s) for s in decoder.node_shapes[1:]) if isinstance(decoder, Deconv) else 0
    assert ae.working_units == sum(json.loads(ae.describe())) + extra
    key = jax.random.PRNGKey(7)
    params = ae.init(key)
    k_enc, k_dec = jax.random.split(key)
    for got, want in zip(jax.tree_util.tree_leaves(params),
                         jax.tree_util.tree_leaves(enc.init(k_enc) + decoder.init(k_dec))):
        np.testing.assert_array_equal(got, want)
    x = uniform(8, (3, 28, 28, 1))
    enc_nodes = enc.forward(params[:3], x)
    want = enc_nodes + decoder.forward(params[3:], enc_nodes[-1])
    got = ae.forward(params, x)
    assert len(got) == len(want) == ae.depth
    for a, b in zip(got, want):
        np.testing.assert_array_equal(a, b)
    assert hash(ae) == hash(Autoencoder(enc, decoder))  # frozen values: one program per net


def test_autoencoder_refuses_halves_that_do_not_meet():
    with pytest.raises(pcdiag.ConfigError, match=r"encoder's output \(32,\) does not fit the "
                                                 r"decoder's input \(64,\)"):
        Autoencoder(MLP((784, 32)), MLP((64, 784), input_shape=(64,)))
