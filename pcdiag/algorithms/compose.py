"""An `Algorithm` composed of parts, and what every step sets up once (`prepare`).

The parts:

- ``init`` (a state initialisation, pcdiag.algorithms.initialise): where the states start,
  e.g. `forward_init`; None for an algorithm without states (bp);
- ``free`` (a `FreeVariables`, pcdiag.algorithms.free): what inference moves, the states
  (`STATES`) or the errors (`ERRORS`); None for an algorithm that runs no inference;
- ``learn`` (a `WeightRule`): how the weights move and around what inference: pc's local
  gradient after inference (pcdiag.algorithms.pc), epc's local / local_scaled / chain
  (pcdiag.algorithms.epc, chosen by `epc_weight_update` with `ChosenBy`), ipc's update at
  every inference step (pcdiag.algorithms.ipc), bp's backprop (pcdiag.algorithms.bp).

pc = (forward_init, STATES, LOCAL); epc = (forward_init, ERRORS, one of LOCAL, LOCAL_SCALED,
CHAIN); ipc = (forward_init, STATES, INCREMENTAL); bp = (None, None, BACKPROP). A new
variant is a new part: another initialiser, another `FreeVariables`, or another weight rule
(e.g. one that also steps a second set of weights).

A weight rule is a callable ``rule(algorithm, prog, hyper, params, opt_state, batch,
record) -> (new_params, opt_state, finite, StepRecord | None)`` (the step contract of
pcdiag.algorithms.base, with the step's `Batch` set up); it reads the other parts from
`algorithm`, scales and applies its gradient with `optimizers.weight_update` (the one
place weight gradients are scaled) and builds its record with pcdiag.algorithms.record.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

import jax

from pcdiag.algorithms import nudging
from pcdiag.algorithms.free import FreeVariables, with_input
from pcdiag.algorithms.initialise import StateInit, Variables, zero_init


class Batch(NamedTuple):
    """A step's batch and what its inference starts from, set up once (`prepare`); for an
    algorithm without states (bp) only x0, y and target (= y) are set."""

    x0: jax.Array  # inputs
    y: jax.Array  # one-hot targets
    target: jax.Array  # what the output node is clamped to: y, or nudged (nudging.target)
    mu1: jax.Array | None = None  # node 1's prediction from x0
    states0: Variables | None = None  # the states as `init` sets them
    u0: jax.Array | None = None  # the output's prediction from states0 (the record's loss)
    record_t: bool = False  # whether this step records per-t energies
    record_norms: bool = True  # whether a recorded step records its norms (norms_every)
    key: jax.Array | None = None  # the step's random key where inference is noisy (mcpc)


class WeightRule(Protocol):
    """How the weights move (see the module docstring)."""

    def __call__(self, algorithm: Algorithm, prog, hyper, params, opt_state, batch: Batch,
                 record: bool) -> tuple[Any, ...]: ...


@dataclass(frozen=True)
class Algorithm:
    """A registered training algorithm: a name, its parts (see the module docstring) and a
    description. Its `step` is the pure step of pcdiag.algorithms.base's contract."""

    name: str
    learn: WeightRule
    description: str
    free: FreeVariables | None = None
    init: StateInit | None = None

    @property
    def infers(self) -> bool:
        """Runs inference, so it records per-t energies (bp does not)."""
        return self.free is not None

    def step(self, prog, hyper, params, opt_state, x0, y, record: bool,
             key: jax.Array | None = None, norms: bool = True) -> tuple[Any, ...]:
        """One step; with `record`, its record (norms NaN where `norms` is False)."""
        batch = prepare(self, prog, hyper, params, x0, y, record)._replace(
            key=key, record_norms=norms)
        return self.learn(self, prog, hyper, params, opt_state, batch, record)

    @functools.cached_property
    def with_free_input(self) -> Algorithm:
        """This algorithm with the input node x_0 free (generation): x_0 joins the free
        variables, first (`free.with_input`), and every free node starts at 0 (`zero_init`,
        PCX's decoders). An algorithm without inference is returned as it is."""
        if not self.infers:
            return self
        return dataclasses.replace(self, free=with_input(self.free), init=zero_init)


def prepare(algorithm: Algorithm, prog, hyper, params, x0, y, record: bool) -> Batch:
    """The step's set-up: node 1's prediction, the initial states (`algorithm.init`), the
    output's prediction from them, and the output target (nudged when nudging is on: the
    output clamped to y + (1 - beta)(u0 - y) for the batch)."""
    if algorithm.init is None:
        return Batch(x0, y, y)
    mu1 = prog.net.predict(params, 1, x0)
    states0 = algorithm.init(params, mu1, prog.net)
    u0 = prog.net.predict(params, prog.net.depth, states0[-1]) if states0 else mu1
    target = nudging.target(prog, hyper, u0, y)
    return Batch(x0, y, target, mu1, states0, u0, record and prog.record_inference)


@dataclass(frozen=True)
class ChosenBy:
    """A weight rule picked by a Program field's value (epc's `epc_weight_update`) from
    `rules`, each a rule with a `name`."""

    field: str
    rules: tuple[Any, ...]

    def __call__(self, algorithm, prog, *args):
        return self.of(prog)(algorithm, prog, *args)

    def of(self, prog):
        """The rule `prog` chooses."""
        return {rule.name: rule for rule in self.rules}[getattr(prog, self.field)]
