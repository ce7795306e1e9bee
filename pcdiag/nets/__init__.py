"""Networks: the contract (`pcdiag.nets.base.Net`) and the registry of families.

`NETS` maps a `Config.net` name to a builder ``(config, input_shape, classes) -> Net``. A new
family is one module with a `Net` subclass and one line here (or, from a notebook,
``pcdiag.nets.register("mine", build)``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pcdiag.data.registry import DATASETS
from pcdiag.errors import ConfigError
from pcdiag.nets.base import (
    ACTIVATION_FNS,
    FunctionNet,
    Net,
    Params,
    cosines,
    layer_norms,
    node_axes,
    sums_of_squares,
)
from pcdiag.nets.deconv import Deconv
from pcdiag.nets.mlp import MLP
from pcdiag.nets.resnet import ResNet
from pcdiag.nets.vgg import VGG

Builder = Callable[[Any, tuple[int, ...], int], Net]

NETS: dict[str, Builder] = {
    "mlp": MLP.from_config,
    "vgg": VGG.from_config,
    "resnet": ResNet.from_config,
    "deconv": Deconv.from_config,
}

#: Per-sample input shape and number of classes of each data set (from the data registry).
DATA_SHAPES = {name: (d.input_shape, d.classes) for name, d in DATASETS.items()}


def register(name: str, build: Builder) -> None:
    """Make `build(config, input_shape, classes) -> Net` selectable as ``Config(net=name)``."""
    if name in NETS and NETS[name] is not build:
        raise ValueError(f"a network named {name!r} is already registered; pick another name")
    NETS[name] = build


def build(config) -> Net:
    """The network `config` describes, for its data set's input shape and classes.

    Its number of weight layers must be `config.depth` (the Dataset's layer axis is 1..depth),
    its input shape the data set's and its output node one score per class."""
    facts = DATASETS[config.dataset]
    input_shape, classes = facts.input_shape, facts.classes
    net = NETS[config.net](config, input_shape, classes)
    problems = []
    if net.depth != config.depth:
        problems.append(f"has {net.depth} weight layers but depth={config.depth}; set "
                        f"depth={net.depth}")
    if tuple(net.input_shape) != tuple(input_shape):
        problems.append(f"takes inputs of shape {tuple(net.input_shape)} but {config.dataset} "
                        f"images are {tuple(input_shape)}; build it for that shape")
    if tuple(net.node_shapes[-1]) != (classes,):
        problems.append(f"has an output node of shape {tuple(net.node_shapes[-1])} but "
                        f"{config.dataset} has {classes} classes; end it with ({classes},)")
    if problems:
        raise ConfigError(f"net={config.net!r} " + "; it ".join(problems))
    return net


__all__ = ["ACTIVATION_FNS", "DATA_SHAPES", "Deconv", "FunctionNet", "MLP", "NETS", "Net", "Params",
           "ResNet", "VGG", "build", "cosines", "layer_norms", "node_axes", "register",
           "sums_of_squares"]
