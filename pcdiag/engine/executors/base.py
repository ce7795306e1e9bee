"""What every executor shares: the task a worker gets, the outcome it returns, the
environment it runs in, and the driver loop that hands out a store's missing units,
retries the attempts that die and reports the units that keep failing.

A worker runs exactly what the in-process sweep runs (`task_fn`, given by the sweep:
pcdiag.engine.units.run_stored_unit claims the unit in the store, trains its vmapped runs,
writes the unit file and releases the claim); the sweep then reads every unit from the store.
Retries are the driver's: a worker reports an error as an Outcome, and a worker that dies
(killed, out of memory, node lost) is reported by the backend; either way the attempt is
logged in the store (`failed` event) and the unit runs again, up to `max_attempts` attempts
in all, unless the error is bad input (pcdiag.errors.BadInputError: the same input fails
the same way), which fails the unit at once.
"""

from __future__ import annotations

import collections
import dataclasses
import importlib
import importlib.util
import os
import time
import traceback
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from pcdiag.engine.store import Store
from pcdiag.errors import BadInputError, ConfigError, TransientError, retryable

#: Seconds between looks at the backend and at units another executor runs.
POLL_S = 0.2
WAIT_S = 2.0
#: Attempts per unit before it is reported as failed.
MAX_ATTEMPTS = 3
#: jax.config options a worker takes from the driver: they change results ...
JAX_OPTIONS = ("jax_enable_x64", "jax_default_matmul_precision")
#: ... or keep compiled programs on disk (taken when the driver has a cache folder).
JAX_CACHE_OPTIONS = ("jax_compilation_cache_dir", "jax_persistent_cache_min_compile_time_secs")
PREALLOCATE = "XLA_PYTHON_CLIENT_PREALLOCATE"
#: Environment variables a worker takes from the driver (data and cache folders, platforms).
ENV_PREFIXES = ("PCDIAG_", "XLA_FLAGS", "JAX_PLATFORMS")


class ExecutorError(BadInputError):
    """An executor that cannot be used as asked (unknown, misconfigured, extra not installed):
    never retried."""


class SweepError(TransientError, RuntimeError):
    """Units of a sweep failed on every attempt; the finished ones are kept in the store, and
    running the same sweep again retries the failed ones (so: transient)."""

    def __init__(self, message: str, failed: dict[int, str]):
        super().__init__(message)
        self.failed = failed


@dataclass(frozen=True)
class Task:
    """One attempt at one unit: what a worker needs besides the store folder's contents."""

    store: str  # the store folder (on a file system the worker sees)
    unit: int
    token: str  # this attempt's claim token
    replaces: tuple[str, ...]  # tokens of earlier attempts that died: their claims are void
    config: str  # the sweep's base config as JSON (fields that change no result may differ)
    env: dict[str, str] = field(default_factory=dict)  # set in the worker before it runs
    jax: dict[str, Any] = field(default_factory=dict)  # jax.config options to set

    def to_json(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> Task:
        return cls(**{**data, "replaces": tuple(data["replaces"])})


@dataclass(frozen=True)
class Outcome:
    """How an attempt ended: done (the unit file is written), busy (another executor holds a
    live claim on the unit) or error (`error` says what; `retry` False for bad input)."""

    unit: int
    status: str
    error: str = ""
    retry: bool = True


def execute(task_fn: Callable[[Task], Outcome], task: Task) -> Outcome:
    """Run `task_fn(task)` in a worker: the driver's environment first, any exception an
    Outcome (a worker that dies returns nothing: the backend reports it)."""
    os.environ.update(task.env)
    try:
        import jax

        for name, value in task.jax.items():
            if getattr(jax.config, name) != value:
                jax.config.update(name, value)
        return task_fn(task)
    except Exception as error:  # noqa: BLE001 - reported to the driver, which retries
        return Outcome(task.unit, "error", _describe(error), retry=retryable(error))


def execute_all(task_fn: Callable[[Task], Outcome], tasks: list[Task]) -> list[Outcome]:
    """`execute` each of `tasks` in turn (a worker given several units: one process loads
    the data and starts JAX once for all of them)."""
    return [execute(task_fn, task) for task in tasks]


def _describe(error: BaseException) -> str:
    """The exception and the innermost frames of its traceback, short enough for a log."""
    lines = traceback.format_exception(type(error), error, error.__traceback__)
    text = "".join(lines[-4:]).strip()
    return text[-2000:]


def worker_settings() -> tuple[dict[str, str], dict[str, Any]]:
    """(environment, jax options) a worker needs to compute what this process would: the
    data and cache folders, XLA flags, x64 and matmul precision, the compilation cache, and
    this pcdiag on PYTHONPATH when it is a source checkout (not an installed package)."""
    env = {k: v for k, v in os.environ.items() if k.startswith(ENV_PREFIXES)}
    source = Path(__file__).resolve().parents[3]
    if not {"site-packages", "dist-packages"} & set(source.parts):
        paths = [str(source)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep)
                                 if p and p != str(source)]
        env["PYTHONPATH"] = os.pathsep.join(paths)
    import jax

    names = JAX_OPTIONS + (JAX_CACHE_OPTIONS if jax.config.jax_compilation_cache_dir else ())
    options = {name: getattr(jax.config, name) for name in names}
    return env, {k: v for k, v in options.items() if v is not None}


def accelerators() -> list[str]:
    """Ids of this machine's NVIDIA GPUs (as CUDA_VISIBLE_DEVICES names them), found without
    starting JAX's GPU backend here (which would claim most of every GPU's memory)."""
    if os.environ.get("JAX_PLATFORMS", "").strip().lower() == "cpu":
        return []
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return [d.strip() for d in visible.split(",") if d.strip() and d.strip() != "-1"]
    found = [p.name[len("nvidia"):] for p in Path("/dev").glob("nvidia[0-9]*")]
    return sorted((d for d in found if d.isdigit()), key=int)


#: Whether this process turned JAX's preallocation off (keep_accelerators_free).
_PREALLOCATION_OFF_HERE = False


def keep_accelerators_free() -> None:
    """For a sweep that hands its units to workers: turn off JAX's preallocation of 75% of
    every GPU's memory in this process, should JAX start the GPU here (tracing a program to
    size the records asks for the default backend), so the workers find their GPUs free.
    Does nothing where the user set XLA_PYTHON_CLIENT_PREALLOCATE, and nothing once JAX has
    started (it reads the variable then)."""
    global _PREALLOCATION_OFF_HERE
    if PREALLOCATE not in os.environ and accelerators():
        os.environ[PREALLOCATE] = "false"
        _PREALLOCATION_OFF_HERE = True


def preallocation_set_here() -> bool:
    """Whether XLA_PYTHON_CLIENT_PREALLOCATE in os.environ is keep_accelerators_free's, not
    the user's (a worker with a GPU of its own leaves it out)."""
    return _PREALLOCATION_OFF_HERE


def new_token() -> str:
    return uuid.uuid4().hex


class Executor:
    """Runs a store's units somewhere: each executor implements start / submit / wait / close
    for its backend (LocalExecutor: this process), and `run`, the driver, is theirs alike."""

    name: ClassVar[str] = "?"
    #: True for the executor that runs units in the sweep's own process: they share its data,
    #: progress bar and checkpoints, and the sweep keeps their records without reading them
    #: back from the store.
    in_process: ClassVar[bool] = False
    #: True where workers may run on other machines (the store must be on a shared disk).
    remote_hosts: ClassVar[bool] = False

    def __init__(self, *, workers: int | None = None, max_attempts: int = MAX_ATTEMPTS):
        if workers is not None and (not isinstance(workers, int) or workers < 1):
            raise ExecutorError(f"workers={workers!r} is invalid: give a whole number >= 1")
        if not isinstance(max_attempts, int) or max_attempts < 1:
            raise ExecutorError(f"max_attempts={max_attempts!r} is invalid: give a whole "
                                "number >= 1")
        self.workers = workers
        self.max_attempts = max_attempts

    def __repr__(self) -> str:
        return f"{type(self).__name__}(workers={self.workers})"

    def prepare(self, *, store: str | os.PathLike | None, checkpoints: bool) -> None:
        """Before anything is loaded or compiled: refuse what this executor cannot do (units
        in other processes cannot take checkpoints yet; other hosts need `store`), then keep
        the accelerators free for the workers."""
        if checkpoints:
            raise ConfigError(f"checkpoints=True runs with executor='local' (not {self.name!r}): "
                              "a worker's checkpoints are not handed to the retried attempt yet")
        if store is None and self.remote_hosts:
            raise ExecutorError(
                f"executor={self.name!r} runs units in other processes, which write them to the "
                "sweep's store: give store=DIR (`--store DIR`), a folder every worker can reach"
            )
        keep_accelerators_free()  # before anything can start JAX's GPU backend here

    # -- the backend ---------------------------------------------------------------------------

    def start(self, task_fn: Callable[[Task], Outcome], store: Store | None) -> None:
        """Get ready to run tasks (start workers, connect to the cluster)."""

    def capacity(self) -> int | None:
        """How many attempts may be in flight at once (None: as many as there are units)."""
        return self.workers

    def submit(self, tasks: list[Task]) -> None:
        raise NotImplementedError

    def wait(self, timeout: float) -> list[tuple[Task, Outcome]]:
        """The attempts that ended within `timeout` seconds (a dead worker's as an error)."""
        raise NotImplementedError

    def close(self) -> None:
        """Stop what start() started."""

    # -- the driver ----------------------------------------------------------------------------

    def run(self, store: Store | None, units: Iterable[int], task_fn: Callable[[Task], Outcome],
            config_json: str, progress=None) -> dict[int, str]:
        """Run `units` of `store` until each is finished or has failed (`max_attempts` times,
        or once with bad input); returns {unit: last error} for the failed ones. `progress` (a
        tqdm bar) counts units. `store` is None only for an in-process sweep without one."""
        env, options = worker_settings()
        root = "" if store is None else str(store.root)
        pending = collections.deque(units)
        attempts: dict[int, int] = collections.Counter()
        dead: dict[int, list[str]] = collections.defaultdict(list)
        inflight: dict[str, Task] = {}
        waiting: dict[int, float] = {}  # units another executor runs: when to look again
        failed: dict[int, str] = {}

        def finished(unit: int) -> None:
            if progress is not None:
                progress.update(1)

        self.start(task_fn, store)
        try:
            while pending or inflight or waiting:
                batch = []
                room = self.capacity()
                while pending and (room is None or len(inflight) + len(batch) < room):
                    unit = pending.popleft()
                    if store is not None and store.finished(unit):
                        finished(unit)
                        continue
                    batch.append(Task(root, unit, new_token(), tuple(dead[unit]),
                                      config_json, env, options))
                if batch:
                    self.submit(batch)
                    inflight.update({task.token: task for task in batch})
                for task, outcome in self.wait(POLL_S if inflight else 0):
                    inflight.pop(task.token, None)
                    if outcome.status == "done":
                        finished(task.unit)
                    elif outcome.status == "busy":
                        waiting[task.unit] = time.monotonic() + WAIT_S
                    else:
                        attempts[task.unit] += 1
                        dead[task.unit].append(task.token)
                        final = attempts[task.unit] >= self.max_attempts or not outcome.retry
                        if store is not None:
                            store.log("failed", task.unit, error=outcome.error,
                                      attempt=attempts[task.unit], final=final,
                                      executor=self.name)
                        if final:
                            failed[task.unit] = outcome.error
                        else:
                            pending.append(task.unit)
                now = time.monotonic()
                for unit, when in list(waiting.items()):
                    if when > now:
                        continue
                    if store.finished(unit):
                        del waiting[unit]
                        finished(unit)
                    elif store.running(unit):
                        waiting[unit] = now + WAIT_S
                    else:  # its holder gave up or died: ours again
                        del waiting[unit]
                        pending.append(unit)
                if waiting and not inflight and not pending:
                    time.sleep(POLL_S)
        finally:
            self.close()
        return failed


def failure_message(store: Store, failed: dict[int, str], executor: Executor) -> str:
    """The SweepError text: which units failed, each one's last error, what to do."""
    parts = []
    for unit, error in sorted(failed.items()):
        last = error.strip().splitlines()[-1] if error.strip() else "no error text"
        parts.append(f"unit {unit} {store.combo(unit)}: {last}")
    return (f"{len(failed)} unit(s) of the sweep in {store.root} failed with executor "
            f"{executor.name!r} ({executor.max_attempts} attempt(s) each): " + "; ".join(parts)
            + f". The finished units are kept: pcdiag.open_store({str(store.root)!r}) reads "
            f"them, `pcdiag sweep --status {store.root}` shows each unit's errors, and "
            "rerunning the same sweep retries the failed ones")


def import_extra(module: str, extra: str, executor: str, *, check_only: bool = False):
    """Import an optional dependency (with `check_only`: only see that it is installed), or
    say which extra installs it."""
    try:
        if check_only:
            if importlib.util.find_spec(module) is None:
                raise ImportError(f"no module named {module!r}")
            return None
        return importlib.import_module(module)
    except (ImportError, ValueError) as error:
        raise ExecutorError(
            f"executor={executor!r} needs the {module!r} package, which is not installed "
            f"({error}); install it with: pip install 'pcdiag[{extra}]'"
        ) from None


def exit_text(code: int | None) -> str:
    """'exit code 3' or 'killed by SIGKILL' for a process's return code."""
    if code is None:
        return "still running"
    if code < 0:
        import signal

        with_name = {s.value: s.name for s in signal.Signals}
        return f"killed by {with_name.get(-code, f'signal {-code}')}"
    return f"exit code {code}"


__all__ = ["Executor", "ExecutorError", "Outcome", "SweepError", "Task", "execute", "execute_all",
           "failure_message", "import_extra", "worker_settings"]
