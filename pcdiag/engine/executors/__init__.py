"""Executors: who runs a sweep's units. The store (pcdiag.engine.store) says which units are
missing; an executor runs them, and each unit is written to the store by whoever ran it.

- ``local``: in the sweep's own process, one after another (the default);
- ``processes``: N worker processes on this machine, one per GPU where there are several;
- ``ray``: one Ray task per unit, on a Ray cluster or a local runtime (``pip install
  'pcdiag[ray]'``);
- ``slurm``: a submitit job array over the missing units (``pip install 'pcdiag[slurm]'``).

Whichever runs them, a unit's records are the same arrays (the same code trains it), so the
sweep's Dataset is the same. `make(name, workers=, address=, **options)` builds one.
"""

from __future__ import annotations

from typing import Any

from pcdiag.engine.executors.base import (
    Executor,
    ExecutorError,
    Outcome,
    SweepError,
    Task,
    failure_message,
    keep_accelerators_free,
)
from pcdiag.engine.executors.local import LocalExecutor
from pcdiag.engine.executors.processes import ProcessesExecutor
from pcdiag.engine.executors.ray import RayExecutor
from pcdiag.engine.executors.slurm import SlurmExecutor

EXECUTORS: dict[str, type[Executor]] = {
    "local": LocalExecutor,
    "processes": ProcessesExecutor,
    "ray": RayExecutor,
    "slurm": SlurmExecutor,
}


def make(executor: str | Executor = "local", *, workers: int | None = None,
         address: str | None = None, **options: Any) -> Executor:
    """An executor from its name and settings (an Executor is returned as it is).

    `workers`: worker processes (processes), tasks in flight (ray), array tasks at once
    (slurm). `address`: the Ray cluster to join (ray only). `options`: the executor's own
    keyword arguments (e.g. num_gpus for ray; cluster, timeout_min, slurm_partition for slurm;
    max_attempts for all but local).
    """
    if isinstance(executor, Executor):
        if workers is not None or address is not None or options:
            raise ExecutorError("executor is an Executor object: set workers, address and "
                                "options when making it, not in the sweep call")
        return executor
    if executor not in EXECUTORS:
        raise ExecutorError(f"executor={executor!r} is invalid: must be one of "
                            f"{', '.join(EXECUTORS)}")
    if address is not None:
        if executor != "ray":
            raise ExecutorError(f"address={address!r} is for executor='ray' (the cluster to "
                                f"join); executor={executor!r} takes no address")
        options["address"] = address
    try:
        return EXECUTORS[executor](workers=workers, **options)
    except TypeError as error:
        raise ExecutorError(f"executor={executor!r}: {error}") from None


__all__ = ["EXECUTORS", "Executor", "ExecutorError", "LocalExecutor", "Outcome",
           "ProcessesExecutor", "RayExecutor", "SlurmExecutor", "SweepError", "Task",
           "failure_message", "keep_accelerators_free", "make"]
