"""Generation: PC as a generative model (PCX's autoencoder benchmark, Pinchetti et al. 2024,
section 4.2 and appendix C.1; github liukidar/pcx, tag v0.6.1,
examples/s4_2_generative_mode/autoencoders/linear/pc_decoder.py).

A decoder whose first node x_0 is a latent of `latent_size` units, free (inferred, with no
energy of its own: PCX's zero_energy), and whose last node x_L is clamped to the image; every
free node (the latent included) starts at 0 (PCX's "to_zero" init). The output energy is the
squared error. The evaluation infers the latent of each test image with the weights fixed
(T state steps from 0, as in training) and reports the per-pixel mean squared error of the
decoder's feedforward output from it (PCX's eval_on_batch). "Chance" is the mean training
image, predicted for every image (`mean_image_mse`).

bp is the autoencoder baseline (PCX's bp_decoder.py): an MLP encoder from the image to the
latent (pcdiag.nets.autoencoder.mirrored_encoder) and the same decoder, trained end to end on
the reconstruction's squared error; its layers are the encoder's, then the decoder's.
"""

from __future__ import annotations

import math

import jax.numpy as jnp

from pcdiag.data.registry import DATASETS
from pcdiag.errors import ConfigError
from pcdiag.tasks.base import Score, Task, image_units

MSE = Score("mse", "reconstruction MSE", higher_is_better=False, splits=("test",))

#: PCX's linear-decoder recipe on Fashion-MNIST (configs/pc_fashionmnist_adamw_hypertune.yaml,
#: its defaults): layer_dims [64, 128, 128, 784], hard_tanh, linear output, T = 20 state
#: steps of SGD (lr 0.0119, momentum 0.45) on the per-sample energy (scale_by_batch_size),
#: AdamW weights (lr 5.15e-4, wd 7.38e-5), batch 200, pixels x / 255 (should_normalize=False).
#: PCX trains 30 epochs; the command line keeps pcdiag's default (1) unless told.
PCX_DECODER = {
    "task": "generation", "net": "mlp", "depth": 3, "width": 128, "latent_size": 64,
    "activation": "hard_tanh", "output_energy": "se", "normalisation": "unit",
    "inference_steps": 20, "gamma": 0.011910178174048628, "gamma_convention": "per_sample",
    "state_optimizer": "momentum", "state_momentum": 0.45, "weight_optimizer": "adamw",
    "weight_lr": 0.0005149979608369072, "weight_decay": 7.382135878282121e-05,
    "batch_size": 200,
}


class Generation(Task):
    def shapes(self, cfg):
        if cfg.algorithm == "bp":  # the autoencoder reads the image
            return DATASETS[cfg.dataset].input_shape, image_units(cfg.dataset)
        return (cfg.latent_size,), image_units(cfg.dataset)

    def check_net(self, cfg, net):
        problems, units = [], image_units(cfg.dataset)
        shape_in = self.shapes(cfg)[0]
        if tuple(net.input_shape) != tuple(shape_in):
            what = "the image" if cfg.algorithm == "bp" else f"latent_size={cfg.latent_size}"
            problems.append(f"takes inputs of shape {tuple(net.input_shape)} but {what} "
                            f"gives {tuple(shape_in)}; build it for that shape")
        out = 1
        for n in net.node_shapes[-1]:
            out *= n
        if out != units:
            problems.append(f"has an output node of shape {tuple(net.node_shapes[-1])} "
                            f"({out} units) but a {cfg.dataset} image has {units}; end it "
                            f"with the image's {units} units")
        return problems

    def batch(self, prog, images, labels):
        size = images.shape[0]
        target = images.reshape(size, *prog.net.node_shapes[-1])
        if not prog.input_free:  # bp's autoencoder: the image in, the image out
            return images, target
        return jnp.zeros((size, *prog.net.input_shape), images.dtype), target

    def build(self, cfg, builder):
        """The decoder; for bp, the autoencoder: PCX's mirrored MLP encoder, then it."""
        if cfg.algorithm != "bp":
            return super().build(cfg, builder)
        from pcdiag.nets.autoencoder import Autoencoder, mirrored_encoder

        if cfg.net != "mlp":
            raise ConfigError(f"net={cfg.net!r} with algorithm='bp' and task='generation': the "
                              "autoencoder baseline mirrors an MLP decoder; use net='mlp'")
        decoder = builder(cfg, (cfg.latent_size,), image_units(cfg.dataset))
        return Autoencoder(mirrored_encoder(decoder.sizes, cfg.activation,
                                            DATASETS[cfg.dataset].input_shape), decoder)

    def per_example(self, net):
        return math.prod(net.node_shapes[-1])

    def layers(self, cfg):
        return 2 * cfg.depth if cfg.algorithm == "bp" else cfg.depth


GENERATION = Generation(
    "generation",
    "image clamped at the output node, a free latent x_0 inferred (PCX's decoder); "
    "reconstruction MSE of the inferred latent's feedforward output",
    MSE,
    defaults=PCX_DECODER,
)
