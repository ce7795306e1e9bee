"""What a task is: which nodes are clamped and which are free, what the targets are, how the
states start, what is evaluated after each epoch and what "chance" means (pcdiag.status).

A task is one module with a `Task` subclass and one line in `pcdiag.tasks.TASKS` (its name
also in `pcdiag.config.TASKS`, a test keeps the two equal). A third task (a conditional
generator, masked-image completion) is one more module: it says what x_0 and the output
node are for a batch (`batch`), the network's input and output shapes (`shapes`), whether
x_0 is inferred (`pcdiag.config.INPUT_FREE`) and what its evaluation measures (`Score`; the
evaluation itself is one line in pcdiag.engine.evaluate.EVALUATIONS).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import jax

from pcdiag.data.registry import DATASETS


@dataclass(frozen=True)
class Score:
    """The end-of-epoch evaluation: Dataset variables ``{split}_{name}`` (split train,
    validation, test), what they are, and whether higher is better."""

    name: str  # "accuracy" | "mse"
    long_name: str
    higher_is_better: bool
    splits: tuple[str, ...] = ("train", "test")  # validation too where validation_size > 0


@dataclass(frozen=True)
class Task:
    """Base class (see the module docstring)."""

    name: str
    description: str
    score: Score
    #: Config fields a run of this task starts from on the command line (`--task NAME`)
    #: before the user's own; empty for the default task.
    defaults: dict[str, Any] = field(default_factory=dict, hash=False)

    def shapes(self, cfg) -> tuple[tuple[int, ...], int]:
        """(x_0's per-sample shape, units of the output node) the network is built for."""
        raise NotImplementedError

    def build(self, cfg, builder):
        """The network `cfg` describes: `builder(cfg, input_shape, output_units)` (a
        pcdiag.nets.NETS entry) for this task's shapes."""
        return builder(cfg, *self.shapes(cfg))

    def check_net(self, cfg, net) -> list[str]:
        """What is wrong with `net` for this task (empty: nothing), each a phrase that
        follows "it"."""
        raise NotImplementedError

    def batch(self, prog, images: jax.Array, labels: jax.Array) -> tuple[jax.Array, jax.Array]:
        """(x0, target) of a training batch, inside the compiled step."""
        raise NotImplementedError

    def per_example(self, net) -> int:
        """What one example contributes to its evaluation's sums (pcdiag.engine.evaluate:
        1 for a count, its pixels for a squared error): the host divides by examples x
        this."""
        return 1

    def layers(self, cfg) -> int:
        """Weight layers of the network `cfg` builds (the Dataset's layer axis)."""
        return cfg.depth


def image_units(dataset: str) -> int:
    """Numbers in one image of `dataset`."""
    return math.prod(DATASETS[dataset].input_shape)
