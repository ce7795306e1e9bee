"""What every algorithm shares: the static Program, the traced Hyper, the TrainState, the
step contract, and the energies a step descends. An algorithm is composed of parts
(pcdiag.algorithms.compose.Algorithm).

Which Config fields are static (a shape or a code path: `Program`) and which are traced
scalars (`Hyper`: runs over them share one compiled program) comes from the fields'
metadata (`pcdiag.config.role`), not from a hand copy.

The step contract: an `Algorithm` has a pure, jit-compatible
``step(prog, hyper, params, opt_state, x0, y, record) -> (new_params, opt_state, finite,
StepRecord | None)``: one weight update on a batch (x0 inputs, y one-hot targets); `finite`
says every energy (or loss) it met was finite; with `record` it returns the step's record.
`Algorithm.step` sets the batch up (`compose.prepare`) and hands it to its weight rule.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from pcdiag import config as config_facts
from pcdiag.config import Config, parse_precision
from pcdiag.energy import layer_energies, output_loss
from pcdiag.nets import Net, Params
from pcdiag.tasks import build_net

#: The Program's settings besides `net` (which holds the built network, not its name).
SETTINGS = tuple(name for name in config_facts.program_fields() if name != "net")


@dataclass(frozen=True)
class _ProgramBase:
    """A compiled program's static settings: the built network (`net`) and every other
    "program" Config field."""

    net: Net

    @classmethod
    def from_config(cls, cfg: Config) -> Program:
        values = {name: getattr(cfg, name) for name in SETTINGS}
        if cfg.lr_schedule_steps is not None:  # None steps filled in from the run's length
            values["lr_warmup_steps"], values["lr_decay_steps"] = cfg.lr_schedule_steps
        return cls(build_net(cfg), **values)

    @property
    def precision(self) -> tuple[float, ...] | None:
        return parse_precision(self.layer_precision, self.net.depth)

    @property
    def input_free(self) -> bool:
        """Whether inference moves the input node x_0 too (generation's latent): then the
        free states are (x_0, x_1, ..., x_{L-1}), x_0 first."""
        return config_facts.INPUT_FREE[self.task] and self.algorithm != "bp"


Program = dataclasses.make_dataclass(
    "Program", [(name, Any) for name in SETTINGS],
    bases=(_ProgramBase,), frozen=True,
)
Program.__module__, Program.__doc__ = __name__, _ProgramBase.__doc__


class Hyper(NamedTuple("_Hyper", [(name, jax.Array) for name in config_facts.traced_fields()])):
    """The traced settings (every "traced" Config field: gamma, weight_lr, momentum,
    weight_decay) as float32 scalars, or arrays with a leading run axis."""

    __slots__ = ()

    @classmethod
    def from_config(cls, cfg: Config) -> Hyper:
        return cls(*(jnp.float32(getattr(cfg, name)) for name in cls._fields))

    @classmethod
    def of_runs(cls, configs: list[Config]) -> Hyper:
        """One leading run axis: the settings of each config in turn."""
        return cls(*(jnp.asarray([getattr(c, name) for c in configs], jnp.float32)
                     for name in cls._fields))


class TrainState(NamedTuple):
    params: Params
    opt_state: Any
    key: jax.Array
    step: jax.Array  # weight updates done so far
    diverged_at: jax.Array  # first step with a non-finite energy or loss; -1 if none


def energies(prog, params, x0, states, y, mu1=None) -> jax.Array:
    """Per-layer energies summed over the batch, shape (L,). Where the input node is free
    (`Program.input_free`), `states` starts with it and `x0` and `mu1` are not read."""
    if prog.input_free:
        x0, states, mu1 = states[0], states[1:], None
    return layer_energies(params, x0, states, y, prog.net, prog.output_energy, mu1=mu1,
                          precision=prog.precision, batch_sum=True)


def mean_energy(params, x0, states, y, prog):
    """Batch-mean F (what the weight step descends) and the per-layer batch sums."""
    per_layer = energies(prog, params, x0, states, y)
    return jnp.sum(per_layer) / x0.shape[0], per_layer


def output_loss_of(prog, params, x0, y) -> jax.Array:
    """Batch-mean output loss of the feedforward prediction (what bp minimises)."""
    return jnp.mean(output_loss(prog.net.forward(params, x0)[-1], y, prog.output_energy))
