"""Generation (pcdiag.tasks): the image clamped at the output node, the latent x_0 inferred,
on real Fashion-MNIST. The physics of one step against values known in closed form, the
training's reconstruction against the mean image, and the config rules with their
messages."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import pcdiag
from pcdiag import Config, ConfigError
from pcdiag import data as data_module
from pcdiag.algorithms import Hyper, Program, algorithm_for, weight_optimizer
from pcdiag.algorithms.base import energies
from pcdiag.algorithms.infer import infer
from pcdiag.algorithms.reconstruct import infer_latent, reconstruct
from pcdiag.tasks import PCX_DECODER, TASKS
from tests._tiny import DATA

#: PCX's decoder recipe on a slice of the data (width 128, latent 64, T = 20).
RECIPE = Config(**{**PCX_DECODER, "data_dir": str(DATA), "train_limit": 12000,
                   "test_limit": 1000, "epochs": 3})
BATCH = 64


@pytest.fixture(scope="module")
def images():
    train, _ = data_module.load("fashion-mnist", str(DATA), 256, 1, "unit")
    return jnp.asarray(train.images[:BATCH])


@pytest.fixture(scope="module")
def trained():
    return pcdiag.train(RECIPE)


def _step(prog, images, record=True):
    hyper = Hyper.from_config(RECIPE)
    params = prog.net.init(jax.random.PRNGKey(0))
    x0, target = TASKS["generation"].batch(prog, images, jnp.zeros(len(images), jnp.int32))
    out = algorithm_for(prog).step(prog, hyper, params,
                                   weight_optimizer(prog, hyper).init(params), x0, target,
                                   record)
    return params, hyper, x0, target, out


def test_a_step_starts_from_zero_states_and_its_energies_are_the_closed_form(images):
    """Every free node starts at exactly 0 (the latent included), so at t = 0 the energies
    are known exactly: E_1 = 1/2 ||hard_tanh(b_1)||^2 (mu_1 from a zero latent),
    E_2 = 1/2 ||hard_tanh(b_2)||^2, E_3 = 1/2 ||image - b_3||^2 (mu_3 from x_2 = 0). Each is
    a float32 sum of n squares (n <= 784): relative error below n 2^-24 ~ 5e-5."""
    prog = Program.from_config(RECIPE)
    params, _, x0, target, (_, _, finite, rec) = _step(prog, images)
    assert bool(finite)
    assert np.all(np.asarray(x0) == 0) and x0.shape == (BATCH, 64)
    b = [np.asarray(p[1], np.float64) for p in params]
    image = np.asarray(target, np.float64)
    expected = [0.5 * np.sum(np.clip(b[0], -1, 1) ** 2), 0.5 * np.sum(np.clip(b[1], -1, 1) ** 2),
                np.mean(0.5 * np.sum((image - b[2]) ** 2, axis=1))]
    np.testing.assert_allclose(np.asarray(rec.energy[0], np.float64), expected, rtol=1e-4)


def test_inference_moves_the_latent_lowers_the_energy_and_never_moves_the_image(images):
    """The clamped image is not a free variable (z = x_0, x_1, x_2: latent 64, hidden 128,
    128), so no update can move it: E_3 at t = T, recomputed from the inferred states and
    the image itself, is the step's recorded E_3(T). The latent moves (its gradient is
    non-zero from t = 0: the zero latent mispredicts x_1's bias) and F falls over t."""
    prog = Program.from_config(RECIPE)
    params, hyper, x0, target, (_, _, _, rec) = _step(prog, images)
    algorithm = algorithm_for(prog)
    mu1 = prog.net.predict(params, 1, x0)
    z0 = algorithm.free.initial(algorithm.init(params, mu1, prog.net))
    assert [z.shape[1:] for z in z0] == [(64,), (128,), (128,)]

    def energy_fn(z):
        per_layer = energies(prog, params, None, z, target)
        return jnp.sum(per_layer), per_layer

    z, _, _ = infer(energy_fn, z0, hyper.gamma, prog, False, BATCH)
    mu3 = np.asarray(prog.net.predict(params, 3, z[2]), np.float64)
    e3 = np.mean(0.5 * np.sum((np.asarray(target, np.float64) - mu3) ** 2, axis=1))
    np.testing.assert_allclose(float(rec.energy[-1, 2]), e3, rtol=1e-4)
    assert float(jnp.max(jnp.abs(z[0]))) > 0  # the latent moved
    np.testing.assert_array_equal(np.asarray(infer_latent(prog, hyper, params, target)),
                                  np.asarray(z[0]))  # evaluation infers the same latent
    total = np.asarray(rec.energy, np.float64).sum(axis=1)
    # a small step (gamma 0.0119, momentum 0.45) on an energy bounded below: F falls at every
    # t, by far more than float32 rounding of F (~1e-5 relative)
    assert np.all(np.diff(total) < -1e-4 * total[0]), np.diff(total)
    assert np.isnan(np.asarray(rec.state_grad_norm)[:, 2]).all()  # the image is clamped
    assert np.all(np.asarray(rec.latent_grad_norm) > 0)


def test_training_reconstructs_far_better_than_the_mean_image(trained):
    ds = pcdiag.validate(trained)
    mse = ds["test_mse"].values
    assert ds.attrs["task"] == "generation" and "test_accuracy" not in ds
    assert ds.sizes["layer"] == 3 and "latent_grad_norm" in ds
    assert np.all(np.diff(mse) < 0), mse  # reconstruction improves every epoch
    # the mean image's MSE on these 1,000 test images, recomputed here
    train, test = data_module.load("fashion-mnist", str(DATA), 12000, 1000, "unit")
    mean = train.images.astype(np.float64).mean(axis=0)
    trivial = np.mean((test.images.astype(np.float64) - mean) ** 2)
    assert float(ds["mean_image_mse"]) == pytest.approx(trivial, rel=1e-12)
    assert mse[-1] < 0.7 * trivial, (mse, trivial)
    assert int(ds["run_status"]) == 0


def test_the_recorded_test_mse_is_the_reconstruction_of_the_test_images(trained, tmp_path):
    """The loop's test_mse is the per-pixel MSE of `reconstruct` over the test images, within
    float32 rounding of 784,000 squared errors summed in chunks (relative 1e-4)."""
    config = RECIPE.replace(epochs=1)
    folder = tmp_path / "run"
    ds = pcdiag.train(config, checkpoint_dir=folder)
    params = pcdiag.load_params(folder).run(0)
    prog = Program.from_config(config)
    _, test = data_module.load("fashion-mnist", str(DATA), 12000, 1000, "unit")
    x = jnp.asarray(test.images)
    x_hat = np.asarray(reconstruct(prog, Hyper.from_config(config), params, x), np.float64)
    mse = np.mean((x_hat - test.images.reshape(len(x), -1)) ** 2)
    assert float(ds["test_mse"][-1]) == pytest.approx(mse, rel=1e-4)


@pytest.mark.slow
def test_bp_trains_the_autoencoder_on_the_same_decoder():
    config = RECIPE.replace(algorithm="bp", epochs=2, weight_lr=0.0002966954107001767,
                            weight_decay=2.4774328846774532e-05)
    ds = pcdiag.validate(pcdiag.train(config))
    assert ds.sizes["layer"] == 6  # the mirrored encoder's 3 layers, then the decoder's
    assert float(ds["test_mse"][-1]) < float(ds["test_mse"][0]) < float(ds["mean_image_mse"])


@pytest.mark.slow
def test_mcpc_noise_changes_inference_reproducibly():
    small = RECIPE.replace(train_limit=400, test_limit=200, epochs=1)
    plain = pcdiag.train(small)
    noisy = [pcdiag.train(small.replace(mcpc_noise=0.5)) for _ in range(2)]
    np.testing.assert_array_equal(noisy[0]["energy"].values, noisy[1]["energy"].values)
    assert not np.array_equal(noisy[0]["energy"].values, plain["energy"].values)
    assert np.isfinite(noisy[0]["test_mse"].values).all()


@pytest.mark.parametrize("changes, message", [
    (dict(output_energy="ce"), "output_energy='ce' is invalid: must be 'se' with "
                               "task='generation'"),
    (dict(nudging="positive"), "nudging='positive' is invalid: must be 'off'"),
    (dict(algorithm="bp", mcpc_noise=0.1), "mcpc_noise=0.1 is invalid: adds noise to "
                                           "inference, and bp runs none"),
    (dict(algorithm="bp", net="deconv"), "the autoencoder baseline mirrors an MLP decoder; "
                                         "use net='mlp'"),
])
def test_generation_config_rules_name_the_field_and_the_fix(changes, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        RECIPE.replace(**changes)


def test_generative_fields_are_refused_for_classification():
    with pytest.raises(ConfigError, match="latent_size=8 is invalid: applies to "
                                          "task='generation' only"):
        Config(latent_size=8)


def test_the_command_line_task_starts_from_pcx_s_decoder_recipe(tmp_path, capsys):
    from pcdiag.cli.app import main

    out = tmp_path / "g.nc"
    code = main(["train", "--task", "generation", "--train-limit", "400", "--test-limit",
                 "200", "--inference-steps", "4", "--data-dir", str(DATA), "--out", str(out)])
    assert code == 0
    config = pcdiag.dataset.config_of(pcdiag.open_dataset(out))
    given = {"train_limit": 400, "test_limit": 200, "inference_steps": 4, "data_dir": str(DATA)}
    for name, value in {**PCX_DECODER, **given}.items():
        assert getattr(config, name) == value, name
    assert "test_mse" in capsys.readouterr().out


def test_a_decoder_of_the_user_s_own_trains_through_the_network_contract():
    """The README's example: a decoder from plain functions, registered as a net, trained in
    generation mode (its builder gets (config, (latent_size,), image units))."""
    from pcdiag.nets import FunctionNet

    def init(key):
        k1, k2 = jax.random.split(key)
        return ({"w": jax.random.normal(k1, (16, 64)) / 4.0, "b": jnp.zeros(64)},
                {"w": jax.random.normal(k2, (64, 784)) / 8.0, "b": jnp.zeros(784)})

    def predict(params, layer, x_prev):
        out = x_prev @ params[layer - 1]["w"] + params[layer - 1]["b"]
        return jnp.tanh(out) if layer == 1 else out

    def build(config, input_shape, units):
        assert input_shape == (config.latent_size,) and units == 784
        return FunctionNet(init, predict, input_shape, [(64,), (784,)])

    pcdiag.register_net("tiny-decoder-test", build)
    config = RECIPE.replace(net="tiny-decoder-test", depth=2, latent_size=16,
                            train_limit=2000, test_limit=500, epochs=2)
    ds = pcdiag.validate(pcdiag.train(config))
    assert ds.sizes["layer"] == 2 and ds["latent_grad_norm"].notnull().all()
    assert float(ds["test_mse"][-1]) < float(ds["test_mse"][0])


@pytest.mark.slow
@pytest.mark.parametrize("algorithm", ["epc", "ipc"])
def test_epc_and_ipc_infer_the_latent_and_learn(algorithm):
    """ePC moves the latent and the errors (x_l = mu_l(x_{l-1}) + e_l from the free latent),
    iPC the latent and the states with a weight step at every t: both reconstruct better
    after training than before, with every record finite."""
    config = RECIPE.replace(algorithm=algorithm, train_limit=3000, test_limit=500, epochs=2,
                            weight_lr=5e-5 if algorithm == "ipc" else RECIPE.weight_lr)
    ds = pcdiag.validate(pcdiag.train(config))
    assert int(ds["diverged_at"]) == -1
    assert np.isfinite(ds["energy"].values).all() and (ds["latent_grad_norm"] > 0).all()
    assert float(ds["test_mse"][-1]) < float(ds["test_mse"][0])


@pytest.mark.slow
def test_the_hessian_probe_covers_the_latent():
    """hessian_lambda_max is the largest eigenvalue of the Hessian of a sample's F w.r.t. all
    its free nodes at t = 0, the latent included: at init it is at least the latent's own
    block's, lambda_max(J_1^T J_1) with J_1 = W_1 masked by hard_tanh' at b_1 (Cauchy
    interlacing: a principal block's largest eigenvalue never exceeds the whole's)."""
    config = RECIPE.replace(train_limit=400, test_limit=200, epochs=1, hessian_samples=2,
                            width=32, latent_size=8)
    ds = pcdiag.train(config)
    first = float(ds["hessian_lambda_max"].isel(step=0))
    prog = Program.from_config(config)
    w1, b1 = (np.asarray(a, np.float64) for a in prog.net.init(
        jax.random.split(jax.random.PRNGKey(config.seed))[0])[0])
    jacobian = w1 * (np.abs(b1) < 1)  # d mu_1 / d x_0 at x_0 = 0 (hard_tanh' = 1 inside)
    block = np.linalg.eigvalsh(jacobian @ jacobian.T).max()
    assert np.isfinite(first) and first >= block * (1 - 1e-4)


@pytest.mark.slow
def test_a_sweep_over_pc_and_bp_holds_the_autoencoder_s_layers():
    """bp's autoencoder has 6 weight layers to pc's 3: the sweep's layer axis is the widest,
    pc's runs NaN beyond its decoder's 3."""
    small = RECIPE.replace(train_limit=400, test_limit=200, epochs=1)
    sw = pcdiag.validate(pcdiag.sweep(small, algorithm=["pc", "bp"]))
    assert sw.sizes["layer"] == 6
    pc, bp = sw.sel(algorithm="pc"), sw.sel(algorithm="bp")
    assert np.isnan(pc["weight_norm"].sel(layer=[4, 5, 6])).all()
    assert np.isfinite(pc["weight_norm"].sel(layer=[1, 2, 3])).all()
    assert np.isfinite(bp["weight_norm"]).all()
    assert np.isfinite(sw["test_mse"]).all()
