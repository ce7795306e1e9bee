"""`ray`: one Ray task per unit, on an existing Ray cluster or a local one started for the sweep.

The sweep uses the Ray runtime this process already has (ray.init called before); else,
with `address` ("auto", "ray://head:10001", "head:6379"), it joins that cluster; else it
starts a local runtime (`workers` CPUs, no dashboard). What it connects or starts stays up
for the later sweeps of the process (pcdiag figures runs several), as after any ray.init;
ray.shutdown() ends it. Each task asks for
`num_cpus` CPUs (default 1) and `num_gpus` GPUs (default 1 where the cluster has GPUs, else 0;
a fraction shares a GPU, and then JAX's memory preallocation is turned off); `workers` caps
the tasks in flight. Ray's own retries are off: the driver retries a task whose worker died
(WorkerCrashedError and the like) and logs each attempt in the store. On a multi-machine
cluster the store must be on a file system every node sees, and pcdiag importable on each.
"""

from __future__ import annotations

from collections.abc import Callable

from pcdiag.engine.executors.base import (
    MAX_ATTEMPTS,
    PREALLOCATE,
    Executor,
    ExecutorError,
    Outcome,
    Task,
    execute,
    import_extra,
    preallocation_set_here,
    worker_settings,
)
from pcdiag.engine.store import Store


class RayExecutor(Executor):
    """One Ray task per unit."""

    name = "ray"
    remote_hosts = True

    def __init__(self, *, workers: int | None = None, address: str | None = None,
                 num_cpus: float = 1, num_gpus: float | None = None,
                 max_attempts: int = MAX_ATTEMPTS):
        super().__init__(workers=workers, max_attempts=max_attempts)
        import_extra("ray", "ray", self.name, check_only=True)
        if address is not None and not (isinstance(address, str) and address.strip()):
            raise ExecutorError(f"address={address!r} is invalid: give 'auto' or the cluster's "
                                "address, e.g. 'ray://head:10001'")
        self.address = address
        self.num_cpus = num_cpus
        self.num_gpus = num_gpus
        self._refs: dict = {}

    def start(self, task_fn: Callable[[Task], Outcome], store: Store) -> None:
        ray = import_extra("ray", "ray", self.name)
        if not ray.is_initialized():
            if self.address is not None:
                ray.init(address=self.address)
            else:
                ray.init(num_cpus=self.workers, include_dashboard=False)
        gpus = self.num_gpus
        if gpus is None:
            gpus = 1 if ray.cluster_resources().get("GPU", 0) > 0 else 0
        env = worker_settings()[0]
        if 0 < gpus < 1:  # tasks share a GPU
            env.setdefault(PREALLOCATE, "false")
        elif preallocation_set_here():  # the driver's setting, inherited by a local runtime
            env[PREALLOCATE] = "true"
        self._ray = ray
        self._task_fn = task_fn
        self._remote = ray.remote(execute).options(
            num_cpus=self.num_cpus, num_gpus=gpus, max_retries=0,
            runtime_env={"env_vars": env}, name="pcdiag-unit",
        )

    def submit(self, tasks: list[Task]) -> None:
        for task in tasks:
            self._refs[self._remote.remote(self._task_fn, task)] = task

    def wait(self, timeout: float) -> list[tuple[Task, Outcome]]:
        if not self._refs:
            return []
        ray = self._ray
        ready, rest = ray.wait(list(self._refs), num_returns=1, timeout=timeout)
        if ready and rest:
            more, _ = ray.wait(rest, num_returns=len(rest), timeout=0)
            ready += more
        ended = []
        for ref in ready:
            task = self._refs.pop(ref)
            try:
                outcome = ray.get(ref)
            except ray.exceptions.RayError as error:  # the worker died, or the task could not run
                first = str(error).strip().splitlines()[0] if str(error).strip() else ""
                outcome = Outcome(task.unit, "error", f"{type(error).__name__}: {first}")
            ended.append((task, outcome))
        return ended

    def close(self) -> None:
        ray = getattr(self, "_ray", None)
        if ray is None:
            return
        for ref in self._refs:  # only when interrupted: every task has ended otherwise
            try:
                ray.cancel(ref, force=True)
            except Exception:  # noqa: BLE001, S110 - best effort on the way out
                pass
        self._refs = {}
