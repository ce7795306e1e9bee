"""Classification: the image clamped at x_0, the one-hot label at the output node (x_L),
states forward-initialised; evaluated by the feedforward prediction's accuracy; chance is
1 / classes."""

from __future__ import annotations

import jax

from pcdiag.data.registry import DATASETS
from pcdiag.tasks.base import Score, Task

ACCURACY = Score("accuracy", "accuracy", higher_is_better=True)


class Classification(Task):
    def shapes(self, cfg):
        facts = DATASETS[cfg.dataset]
        return facts.input_shape, facts.classes

    def check_net(self, cfg, net):
        facts, problems = DATASETS[cfg.dataset], []
        if tuple(net.input_shape) != tuple(facts.input_shape):
            problems.append(f"takes inputs of shape {tuple(net.input_shape)} but {cfg.dataset} "
                            f"images are {tuple(facts.input_shape)}; build it for that shape")
        if tuple(net.node_shapes[-1]) != (facts.classes,):
            problems.append(f"has an output node of shape {tuple(net.node_shapes[-1])} but "
                            f"{cfg.dataset} has {facts.classes} classes; end it with "
                            f"({facts.classes},)")
        return problems

    def batch(self, prog, images, labels):
        return images, jax.nn.one_hot(labels, prog.net.classes, dtype=images.dtype)


CLASSIFICATION = Classification(
    "classification",
    "image clamped at x_0, one-hot label at the output node; accuracy of the feedforward "
    "prediction",
    ACCURACY,
)
