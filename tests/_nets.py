"""MLP shorthands for tests that build parameters by hand: `mlp("tanh")` is a predict-only
MLP (sizes read from the parameters), and `predict` / `forward` take one like the old
functional calls did."""

import dataclasses

from pcdiag.nets.mlp import MLP


def mlp(activation="hard_tanh", parameterization="sp", skip=False) -> MLP:
    if isinstance(activation, MLP):
        return activation
    return MLP(activation=activation, parameterization=parameterization, skip=skip)


def predict(params, layer, x_prev, arch):
    return mlp(arch).predict(params, layer, x_prev)


def forward(params, x0, arch):
    return mlp(arch).forward(params, x0)


def with_sizes(prog, sizes):
    """`prog` with its MLP resized to node sizes `sizes` (n_0, ..., n_L)."""
    return dataclasses.replace(prog, net=dataclasses.replace(prog.net, sizes=tuple(sizes)))
