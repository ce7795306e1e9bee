"""An autoencoder as one network: an encoder Net, then a decoder Net (generation's BP
baseline, as PCX's liukidar/pcx v0.6.1 examples/s4_2_generative_mode/autoencoders/linear/
bp_decoder.py).

Layers 1..e are the encoder's, e+1..e+d the decoder's; node x_e (the encoder's output, the
decoder's input) is the latent bottleneck.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import jax

from pcdiag.errors import ConfigError
from pcdiag.nets.base import Net, Params
from pcdiag.nets.mlp import MLP


@dataclass(frozen=True)
class Autoencoder(Net):
    """`encoder` then `decoder`, of depth encoder.depth + decoder.depth."""

    encoder: Net
    decoder: Net

    def __post_init__(self):
        latent, wanted = self.encoder.node_shapes[-1], tuple(self.decoder.input_shape)
        if wanted and math.prod(latent) != math.prod(wanted):  # (): an MLP made from sizes
            raise ConfigError(f"Autoencoder: the encoder's output {tuple(latent)} does not fit "
                              f"the decoder's input {tuple(self.decoder.input_shape)}; make "
                              "their units equal")

    @property
    def depth(self) -> int:
        return self.encoder.depth + self.decoder.depth

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.encoder.input_shape)

    @property
    def node_shapes(self) -> tuple[tuple[int, ...], ...]:
        return tuple(self.encoder.node_shapes) + tuple(self.decoder.node_shapes)

    @property
    def working_units(self) -> int:
        """The input and every node, plus each half's larger intermediates."""
        return super().working_units + sum(net.working_units - Net.working_units.fget(net)
                                           for net in (self.encoder, self.decoder))

    def init(self, key: jax.Array) -> Params:
        k_enc, k_dec = jax.random.split(key)
        return tuple(self.encoder.init(k_enc)) + tuple(self.decoder.init(k_dec))

    def predict(self, params: Params, layer: int, x_prev: jax.Array) -> jax.Array:
        e = self.encoder.depth
        if layer <= e:
            return self.encoder.predict(params[:e], layer, x_prev)
        wanted = tuple(self.decoder.input_shape)
        if layer == e + 1 and wanted and x_prev.shape[1:] != wanted:  # the latent, reshaped
            x_prev = x_prev.reshape(x_prev.shape[0], *wanted)
        return self.decoder.predict(params[e:], layer - e, x_prev)


def mirrored_encoder(decoder_sizes: Sequence[int], activation: str = "linear",
                     input_shape: tuple[int, ...] | None = None) -> MLP:
    """The MLP encoder that mirrors a decoder of node sizes `decoder_sizes` = [latent, ...,
    image]: sizes reversed ([64, 128, 128, 784] -> [784, 128, 128, 64]); `input_shape` (by
    default (image units,)) is how the image arrives.

    PCX's BPDecoder builds Linear layers over ``layer_dims[::-1] + layer_dims[1:]`` and its
    ``__call__`` applies no activation anywhere (act_fn is stored, never called): its
    autoencoder is affine, bottleneck included. The default `activation` "linear" is that.
    Another activation follows pcdiag's MLP convention instead: on encoder layers 1..e-1,
    none at the bottleneck (layer e)."""
    sizes = tuple(reversed(tuple(decoder_sizes)))
    return MLP(sizes, activation, input_shape=tuple(input_shape or (sizes[0],)))
