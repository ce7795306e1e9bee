"""`slurm`: a submitit job array over the missing units, one array task per unit (or per
`units_per_task` units, run one after another by one process: fewer, longer jobs where units
take seconds, so a job's start, JAX's import and the data loading are paid once for them).

The store must be on a file system the compute nodes share with the submitting machine (as
the home and project folders of a SLURM cluster are); job scripts and logs go to
DIR/slurm/<job id>/. Options are submitit's (AutoExecutor.update_parameters), e.g.
``timeout_min`` (default 60), ``slurm_partition``, ``gpus_per_node``, ``cpus_per_task``,
``mem_gb``, ``slurm_account``; ``workers`` caps the array tasks running at once
(``--array=0-N%workers``). ``cluster="local"`` runs the same jobs as local processes
(submitit's LocalExecutor, without SLURM: how the tests run it), and ``cluster="debug"`` in
this process.

A job that fails (node lost, time limit, killed) is a failed attempt: the driver resubmits it,
up to `max_attempts` attempts in all. If the driver itself stops, the submitted jobs go on
writing the store; running the same sweep again picks up their results.
"""

from __future__ import annotations

import shlex
import shutil
import time
from collections.abc import Callable
from pathlib import Path

from pcdiag.engine.executors.base import (
    MAX_ATTEMPTS,
    Executor,
    ExecutorError,
    Outcome,
    Task,
    execute_all,
    import_extra,
    worker_settings,
)
from pcdiag.engine.store import Store

CLUSTERS = ("slurm", "local", "debug")


class SlurmExecutor(Executor):
    """One SLURM array task per unit, submitted with submitit."""

    name = "slurm"
    remote_hosts = True

    def __init__(self, *, workers: int | None = None, cluster: str = "slurm",
                 folder: str | None = None, units_per_task: int = 1,
                 max_attempts: int = MAX_ATTEMPTS, **parameters):
        super().__init__(workers=workers, max_attempts=max_attempts)
        if cluster not in CLUSTERS:
            raise ExecutorError(f"cluster={cluster!r} is invalid: must be one of "
                                f"{', '.join(CLUSTERS)}")
        if not isinstance(units_per_task, int) or units_per_task < 1:
            raise ExecutorError(f"units_per_task={units_per_task!r} is invalid: give a whole "
                                "number >= 1")
        import_extra("submitit", "slurm", self.name, check_only=True)
        if cluster == "slurm" and shutil.which("sbatch") is None:
            raise ExecutorError(
                "executor='slurm' submits with SLURM's sbatch, which is not on this machine's "
                "PATH; run the sweep on a SLURM login node (or, to try it without SLURM, give "
                "the executor option cluster=local)"
            )
        self.cluster = cluster
        self.units_per_task = units_per_task
        self.folder = folder
        self.parameters = {"timeout_min": 60, "name": "pcdiag-unit"} | parameters
        self._jobs: dict = {}

    def start(self, task_fn: Callable[[Task], Outcome], store: Store) -> None:
        submitit = import_extra("submitit", "slurm", self.name)
        folder = Path(self.folder) if self.folder else store.root / "slurm"
        executor = submitit.AutoExecutor(folder=folder / "%j", cluster=self.cluster)
        env = worker_settings()[0]
        setup = [f"export {name}={shlex.quote(value)}" for name, value in env.items()]
        parameters = dict(self.parameters)
        if self.cluster != "debug":
            parameters[f"{self.cluster}_setup"] = setup + list(
                parameters.pop(f"{self.cluster}_setup", []))
        if self.cluster == "slurm" and self.workers is not None:
            parameters["slurm_array_parallelism"] = self.workers
        try:
            executor.update_parameters(**parameters)
        except (ValueError, TypeError, NameError) as error:
            raise ExecutorError(f"executor='slurm': {error}") from None
        self._executor = executor
        self._task_fn = task_fn
        self._store = store

    def capacity(self) -> int | None:
        # SLURM queues the whole array (and throttles it); without SLURM the driver does
        if self.cluster == "slurm" or self.workers is None:
            return None
        return self.workers * self.units_per_task

    def submit(self, tasks: list[Task]) -> None:
        n = self.units_per_task
        groups = [tasks[i:i + n] for i in range(0, len(tasks), n)]
        jobs = self._executor.map_array(execute_all, [self._task_fn] * len(groups), groups)
        self._jobs.update(zip(jobs, groups))

    def wait(self, timeout: float) -> list[tuple[Task, Outcome]]:
        deadline = time.monotonic() + timeout
        while True:
            ended = []
            for job in [j for j in self._jobs if j.done()]:
                tasks = self._jobs.pop(job)
                try:
                    outcomes = job.result()
                except Exception as error:  # noqa: BLE001 - the job failed: a failed attempt
                    text = str(error).strip().splitlines()
                    why = (f"job {job.job_id} ({job.state}): "
                           f"{text[0] if text else type(error).__name__}")
                    # the units it finished before it failed are written: those are done
                    outcomes = [Outcome(t.unit, "done") if self._store.finished(t.unit)
                                else Outcome(t.unit, "error", why) for t in tasks]
                ended += list(zip(tasks, outcomes))
            if ended or time.monotonic() >= deadline:
                return ended
            time.sleep(min(0.2, max(0.0, deadline - time.monotonic())))

    def close(self) -> None:
        self._jobs = {}  # jobs still queued keep running and writing the store
