"""`processes`: N worker processes on this machine, each running one unit at a time.

Each worker is a fresh Python (`python -m pcdiag.engine.executors.worker`) that loads the
data once and keeps its compiled programs; it reads tasks as JSON lines on stdin and answers
each with an Outcome line. Where the machine has several accelerators, worker i sees only
accelerator i mod G (CUDA_VISIBLE_DEVICES); where workers share one, JAX's preallocation of
75% of its memory is turned off (XLA_PYTHON_CLIENT_PREALLOCATE=false) so they fit side by
side. A worker that dies (killed, out of memory) is reported as a failed attempt and
replaced.
"""

from __future__ import annotations

import json
import os
import selectors
import subprocess
import sys
from collections.abc import Callable

from pcdiag.engine.executors.base import (
    MAX_ATTEMPTS,
    PREALLOCATE,
    Executor,
    Outcome,
    Task,
    accelerators,
    exit_text,
    preallocation_set_here,
    worker_settings,
)
from pcdiag.engine.store import Store

WORKER_MODULE = "pcdiag.engine.executors.worker"


class _Worker:
    """One worker process and the task it is running."""

    def __init__(self, slot: int, env: dict[str, str], task_ref: str):
        self.slot = slot
        self.proc = subprocess.Popen(
            [sys.executable, "-m", WORKER_MODULE, task_ref],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env,
        )
        self.task: Task | None = None
        self.buffer = b""

    def send(self, task: Task) -> None:
        self.task = task  # if the worker has died, wait() reports this task as failed
        try:
            self.proc.stdin.write((json.dumps(task.to_json()) + "\n").encode())
            self.proc.stdin.flush()
        except BrokenPipeError:
            pass

    def stop(self, *, now: bool) -> None:
        if now:
            self.proc.kill()
        else:
            try:
                self.proc.stdin.close()  # the worker's loop ends at the end of its input
                self.proc.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
        self.proc.wait()
        self.proc.stdout.close()


class ProcessesExecutor(Executor):
    """Run units in `workers` processes of this machine (default: one per GPU, else one per
    CPU core)."""

    name = "processes"

    def __init__(self, *, workers: int | None = None, max_attempts: int = MAX_ATTEMPTS):
        super().__init__(workers=workers, max_attempts=max_attempts)
        self.devices = accelerators()
        if self.workers is None:
            self.workers = len(self.devices) or os.cpu_count() or 1
        self._slots: list[_Worker | None] = []
        self._selector: selectors.BaseSelector | None = None

    def env_of(self, slot: int, base: dict[str, str]) -> dict[str, str]:
        """Worker `slot`'s environment: this process's, the driver's settings, its device."""
        env = dict(os.environ) | base
        if self.devices:
            env["CUDA_VISIBLE_DEVICES"] = self.devices[slot % len(self.devices)]
            if preallocation_set_here():
                env.pop(PREALLOCATE, None)  # the driver's setting, not the user's
            if self.workers > len(self.devices):  # workers share a GPU
                env.setdefault(PREALLOCATE, "false")
        return env

    def start(self, task_fn: Callable[[Task], Outcome], store: Store) -> None:
        self._task_ref = f"{task_fn.__module__}:{task_fn.__qualname__}"
        self._env = worker_settings()[0]
        self._slots = [None] * self.workers
        self._selector = selectors.DefaultSelector()

    def submit(self, tasks: list[Task]) -> None:
        for task in tasks:
            slot = next(i for i, w in enumerate(self._slots) if w is None or w.task is None)
            if self._slots[slot] is None:
                worker = _Worker(slot, self.env_of(slot, self._env), self._task_ref)
                self._slots[slot] = worker
                self._selector.register(worker.proc.stdout, selectors.EVENT_READ, worker)
            self._slots[slot].send(task)

    def wait(self, timeout: float) -> list[tuple[Task, Outcome]]:
        ended = []
        for key, _ in self._selector.select(timeout) if self._selector.get_map() else []:
            worker: _Worker = key.data
            data = os.read(key.fd, 1 << 16)
            if not data:
                ended += self._lost(worker)
                continue
            worker.buffer += data
            *lines, worker.buffer = worker.buffer.split(b"\n")
            for line in filter(None, lines):
                outcome = Outcome(**json.loads(line))
                task, worker.task = worker.task, None
                if task is not None:
                    ended.append((task, outcome))
        for worker in [w for w in self._slots if w is not None and w.proc.poll() is not None]:
            ended += self._lost(worker)
        return ended

    def _lost(self, worker: _Worker) -> list[tuple[Task, Outcome]]:
        """A worker process that ended: its task (if any) failed; its slot is free."""
        self._selector.unregister(worker.proc.stdout)
        self._slots[worker.slot] = None
        worker.stop(now=True)
        if worker.task is None:
            return []
        error = (f"worker process {worker.proc.pid} died ({exit_text(worker.proc.returncode)}) "
                 "while running the unit")
        return [(worker.task, Outcome(worker.task.unit, "error", error, retry=True))]

    def close(self) -> None:
        for worker in [w for w in self._slots if w is not None]:
            worker.stop(now=worker.task is not None)  # a busy one only if interrupted
        self._slots = []
        if self._selector is not None:
            self._selector.close()
            self._selector = None
