"""Tasks: what a run learns to do (`Config.task`), one module each (pcdiag.tasks.base says
what a task decides), registered in `TASKS`; `build_net` builds and checks the network a
config describes for its task."""

from __future__ import annotations

from pcdiag import nets
from pcdiag.errors import ConfigError
from pcdiag.tasks.base import Score, Task
from pcdiag.tasks.classification import CLASSIFICATION
from pcdiag.tasks.generation import GENERATION, PCX_DECODER

TASKS: dict[str, Task] = {t.name: t for t in (CLASSIFICATION, GENERATION)}


def task_of(config) -> Task:
    """The Task of a Config or Program."""
    return TASKS[config.task]


def build_net(config):
    """The network `config` describes, built for its task and checked: its number of weight
    layers must be the task's (`Task.layers`: `depth`, or twice it for generation's bp
    autoencoder), its input and output nodes the task's shapes."""
    task = task_of(config)
    net = task.build(config, nets.NETS[config.net])  # read now: register() can add one
    problems = []
    layers = task.layers(config)
    if net.depth != layers:
        problems.append(f"has {net.depth} weight layers but depth={config.depth}; set "
                        f"depth={net.depth}" if layers == config.depth else
                        f"has {net.depth} weight layers but {config.task} with "
                        f"depth={config.depth} asks for {layers}")
    problems += task.check_net(config, net)
    if problems:
        raise ConfigError(f"net={config.net!r} " + "; it ".join(problems))
    return net


__all__ = ["PCX_DECODER", "Score", "TASKS", "Task", "build_net", "task_of"]
