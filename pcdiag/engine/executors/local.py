"""`local`: the units one after another in the sweep's own process (the default).

An exception in a unit propagates at once, as in any Python call (the unit's claim is
released and the failure logged in the store first). A unit that another executor holds a
live claim on is left to it; the sweep waits for its file, and runs it itself should that
executor give up on it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from pcdiag.engine.executors.base import WAIT_S, Executor, ExecutorError, Outcome, Task, new_token
from pcdiag.engine.store import Store


class LocalExecutor(Executor):
    """Run units in this process, in order."""

    name = "local"
    inline = True

    def __init__(self, *, workers: int | None = None, max_attempts: int = 1):
        if workers not in (None, 1):
            raise ExecutorError(
                f"executor='local' runs the units one after another in this process, so "
                f"workers={workers!r} does not apply; for several worker processes use "
                "executor='processes'"
            )
        super().__init__(workers=workers, max_attempts=max_attempts)

    def run(self, store: Store | None, units: Iterable[int],
            task_fn: Callable[[Task], Outcome], config_json: str,
            progress=None) -> dict[int, str]:
        root = "" if store is None else str(store.root)

        def attempt(unit: int) -> str:
            return task_fn(Task(root, unit, new_token(), (), config_json)).status

        waiting = [unit for unit in units
                   if (store is None or not store.finished(unit)) and attempt(unit) == "busy"]
        while waiting:  # units another executor runs: wait for them, or take them back
            time.sleep(WAIT_S)
            for unit in list(waiting):
                if store.finished(unit) or (not store.running(unit)
                                            and attempt(unit) != "busy"):
                    waiting.remove(unit)
        return {}
