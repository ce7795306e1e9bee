"""`local`: the units one after another in the sweep's own process (the default).

An ordinary executor on the shared driver (base.Executor.run) whose backend is a function
call: `submit` runs the unit at once. An exception in a unit propagates at once, as in any
Python call (the unit's claim is released and the failure logged in the store first). A
unit that another executor holds a live claim on is left to it; the driver waits for its
file, and runs it here should that executor give up on it.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from pcdiag.engine.executors.base import Executor, ExecutorError, Outcome, Task
from pcdiag.engine.store import Store


class LocalExecutor(Executor):
    """Run units in this process, in order."""

    name = "local"
    in_process = True

    def __init__(self, *, workers: int | None = None, max_attempts: int = 1):
        if workers not in (None, 1):
            raise ExecutorError(
                f"executor='local' runs the units one after another in this process, so "
                f"workers={workers!r} does not apply; for several worker processes use "
                "executor='processes'"
            )
        super().__init__(workers=workers, max_attempts=max_attempts)

    def prepare(self, *, store: str | os.PathLike | None, checkpoints: bool) -> None:
        """Nothing to refuse: this process keeps its checkpoints and needs no store."""

    def capacity(self) -> int:
        return 1

    def start(self, task_fn: Callable[[Task], Outcome], store: Store | None) -> None:
        self._task_fn, self._store, self._ended = task_fn, store, []

    def submit(self, tasks: list[Task]) -> None:
        for task in tasks:
            try:
                outcome = self._task_fn(task)
            except BaseException as error:
                if self._store is not None:
                    self._store.log("failed", task.unit, error=f"{type(error).__name__}: {error}",
                                    attempt=1, final=True, executor=self.name)
                raise
            self._ended.append((task, outcome))

    def wait(self, timeout: float) -> list[tuple[Task, Outcome]]:
        ended, self._ended = self._ended, []
        return ended
