"""Networks: the contract (`pcdiag.nets.base.Net`) and the registry of families.

`NETS` maps a `Config.net` name to a builder ``(config, input_shape, classes) -> Net``. A new
family is one module with a `Net` subclass and one line here (or, from a notebook,
``pcdiag.nets.register("mine", build)``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pcdiag.nets.base import (
    ACTIVATION_FNS,
    Net,
    Params,
    cosines,
    layer_norms,
    node_axes,
    sums_of_squares,
)
from pcdiag.nets.mlp import MLP

Builder = Callable[[Any, tuple[int, ...], int], Net]

NETS: dict[str, Builder] = {
    "mlp": MLP.from_config,
}

#: Per-sample input shape and number of classes of each data set.
DATA_SHAPES = {"fashion-mnist": ((28, 28, 1), 10), "mnist": ((28, 28, 1), 10)}


def register(name: str, build: Builder) -> None:
    """Make `build(config, input_shape, classes) -> Net` selectable as ``Config(net=name)``."""
    if name in NETS and NETS[name] is not build:
        raise ValueError(f"a network named {name!r} is already registered; pick another name")
    NETS[name] = build


def build(config) -> Net:
    """The network `config` describes, for its data set's input shape and classes."""
    input_shape, classes = DATA_SHAPES[config.dataset]
    return NETS[config.net](config, input_shape, classes)


__all__ = ["ACTIVATION_FNS", "MLP", "NETS", "DATA_SHAPES", "Net", "Params", "build", "cosines",
           "layer_norms", "node_axes", "register", "sums_of_squares"]
