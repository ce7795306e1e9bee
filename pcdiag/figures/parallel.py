"""Sweeps of a figure run, several at once: each in a process of its own, into the store.

On a CPU, XLA compiles a program on one core while a 2-core machine has a second; a profile
of many small programs (the default's ~80) spends much of its time compiling. `prefetch` runs
the sweeps that the selected figures need in `jobs` worker processes (longest predicted
first), each writing its finished units to the store; the figures then read them from there
as a resumed sweep does. The programs are the ones a single process compiles, so the
Datasets are the same (the store's contract: the same Dataset whichever process ran it).
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Iterable
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from pathlib import Path

from pcdiag.figures.errors import FigureError
from pcdiag.figures.experiments import SweepSpec
from pcdiag.progress import progress_bar

#: Environment variable that sets the default number of jobs (e.g. 1 to run every sweep in
#: the calling process, as the test suite does: its patches of pcdiag.sweep stay in-process).
JOBS_VARIABLE = "PCDIAG_FIGURE_JOBS"


def default_jobs() -> int:
    """Worker processes for `pcdiag figures`: $PCDIAG_FIGURE_JOBS if set, else 2 where jax
    runs on a CPU of 2 or more cores (XLA's compiler runs on one), else 1 (an accelerator's
    memory is held by one process)."""
    import jax

    setting = os.environ.get(JOBS_VARIABLE, "").strip()
    if setting:
        if not setting.isdigit() or int(setting) < 1:
            raise FigureError(f"{JOBS_VARIABLE}={setting!r}: must be a whole number >= 1 "
                             "(1 runs the sweeps one after another in this process)")
        return int(setting)
    if jax.default_backend() != "cpu":
        return 1
    return 2 if (os.cpu_count() or 1) >= 2 else 1


def storable(spec: SweepSpec) -> bool:
    """Whether `spec` keeps its result in the store (a spec with a run of its own, such as
    the generative reconstructions', does not, and runs in the figure's own process)."""
    return type(spec).run is SweepSpec.run


def _start_worker() -> None:
    from pcdiag.cli.cache import use_compilation_cache

    use_compilation_cache()


def _run(spec: SweepSpec, store: Path) -> str:
    spec.run(progress=False, store=store)
    return spec.name


def prefetch(specs: Iterable[SweepSpec], store: Path, jobs: int, *,
             progress: bool = True) -> bool:
    """Run the storable `specs` into `store` in `jobs` processes, longest predicted first
    (SweepSpec.seconds); False (nothing run) with fewer than 2 jobs or sweeps. An error in
    one is raised here after the others finish; what they stored is kept, so a rerun
    resumes."""
    todo = sorted({s for s in specs if storable(s)}, key=lambda s: -s.seconds)
    if jobs < 2 or len(todo) < 2:
        return False
    context = multiprocessing.get_context("spawn")  # jax's threads do not survive a fork
    error: BaseException | None = None
    with progress_bar(len(todo), f"sweeps ({jobs} processes)", enabled=progress,
                      unit="sweep") as bar, ProcessPoolExecutor(
            jobs, mp_context=context, initializer=_start_worker) as pool:
        pending = {pool.submit(_run, spec, store) for spec in todo}
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                failure = future.exception()
                error = error or failure  # the first error; a later one is not re-raised
                if bar is not None:
                    if failure is None:
                        bar.set_postfix_str(future.result(), refresh=False)
                    bar.update(1)
    if error is not None:
        raise error
    return True
