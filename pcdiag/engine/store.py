"""A folder that keeps a sweep's finished units, shared by every process that works on it.

Layout of a store folder DIR::

    DIR/sweep.json                  what sweep this is: base config, axes, unit list (written once)
    DIR/unit-0003-<hash12>.npz      one per finished unit: its runs' records
    DIR/unit-0003-<hash12>.claim    a unit being run: by whom (host, pid, token) and since when
    DIR/events/<host>-<pid>.jsonl   what each process did: unit started, done (seconds), failed
    DIR/.lock                       flock held for the moment of taking over a stale claim
    DIR/.<name>.<pid>-<host>-<r>.tmp  a file being written (removed once its writer is gone)

A *unit* is one combination of the non-vectorised axes: one compiled program and its batch
of vmapped runs. `<hash12>` is the first 12 hex digits of the sha256 of the unit's axis values
as sorted JSON; `0003` its index in the sweep's order. A unit file holds exactly the arrays
`pcdiag.engine.loop.run` returned for it (runs first), plus `_combo` (its axis values as JSON) and
`_store_id` (the id in sweep.json), so a file copied from another store is refused.

Every file is written to a temporary name in DIR, fsynced and renamed over its final name
(then DIR is fsynced), so a reader (or a sweep resumed after SIGKILL) never sees half a file.

Several processes may use one store at once (two sweeps, or the workers of an executor: see
pcdiag.engine.executors): whoever runs a unit first claims it (pcdiag.engine.claims), so two
executors never run one unit, and a unit whose worker died is run again.

A store that cannot be used as asked raises :class:`StoreError` (bad input, never retried:
made by another sweep, a damaged or foreign file, a bad sweep.json); a file that cannot be
read or written just now raises :class:`StoreIOError` (transient: retried).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import threading
import time
import uuid
import warnings
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pcdiag._version import __version__
from pcdiag.config import Config, affects_results, field_names
from pcdiag.engine.claims import (
    HEARTBEAT_S,
    HOST,
    HOST_ID,
    LOCK,
    STALE_S,
    Claim,
    Claims,
    is_stale,
    process_alive,
    write_atomic,
)
from pcdiag.errors import BadInputError, TransientError
from pcdiag.records import SHARED, RunRecords

STORE_VERSION = 1
SPEC = "sweep.json"
EVENTS = "events"
_META = ("_combo", "_store_id")


class StoreError(BadInputError):
    """A sweep store that cannot be used as asked (never retried); the message names the
    problem and the fix."""


class StoreIOError(TransientError, OSError):
    """A store file that could not be read or written just now (I/O, a full disk): retried;
    the message names the file and the fix."""


def unit_name(index: int, combo: dict[str, Any]) -> str:
    """File name of a unit: its index and a hash of its axis values."""
    digest = hashlib.sha256(json.dumps(combo, sort_keys=True).encode()).hexdigest()[:12]
    return f"unit-{index:04d}-{digest}.npz"


def _spec(config: Config, axes: dict[str, list], program_axes: list[str],
          units: list[dict]) -> dict:
    return {
        "format": "pcdiag sweep store",
        "store_version": STORE_VERSION,
        "pcdiag_version": __version__,
        "store_id": uuid.uuid4().hex,
        "config": config.to_dict(),
        "axes": axes,
        "units": [{"index": i, "file": unit_name(i, c), "combo": c}
                  for i, c in enumerate(units)],
        "program_axes": program_axes,
    }


def _show(value: Any) -> str:
    return "(absent)" if value is _ABSENT else json.dumps(value)


_ABSENT = object()


def _same(a: Any, b: Any) -> bool:
    """Equal values of the same kind (True is not 1; 1 and 1.0 give the same run)."""
    return a == b and isinstance(a, bool) == isinstance(b, bool)


def differences(stored: dict, config: Config, axes: dict[str, list]) -> list[str]:
    """What differs between a store's spec and this sweep, one readable item per field."""
    found = []
    old, new = stored.get("config", {}), config.to_dict()
    defaults = Config().to_dict()
    for name in sorted(set(old) | set(new)):
        if name in field_names() and not affects_results(name):
            continue  # cannot change a result: a resumed sweep may differ in it
        a, b = old.get(name, _ABSENT), new.get(name, _ABSENT)
        if a is _ABSENT and b == defaults.get(name, _ABSENT):
            continue  # a field added to Config since the store was written, left at its default
        if not _same(a, b):
            found.append(f"{name}: store has {_show(a)}, this sweep has {_show(b)}")
    old_axes = stored.get("axes", {})
    if list(old_axes) != list(axes):
        found.append(f"swept axes: store has {list(old_axes)}, this sweep has {list(axes)}")
    for name in axes:
        a, b = old_axes.get(name, []), list(axes[name])
        if name in old_axes and not (len(a) == len(b) and all(map(_same, a, b))):
            found.append(f"axis {name}: store has {old_axes[name]}, this sweep has {axes[name]}")
    return found


#: One writer at a time for this process's event log (sweeps in threads share it).
_EVENTS_LOCK = threading.Lock()


@dataclass
class UnitStatus:
    """Where one unit of a store stands (see Store.status)."""

    index: int
    combo: dict
    state: str  # finished | running | stale | failed | waiting
    holder: str | None = None  # host:pid of a claim
    since: float | None = None  # when the claim was made (time.time())
    seconds: float | None = None  # how long the finished unit took
    attempts: int = 0  # failed attempts recorded
    error: str | None = None  # the last failed attempt's error


class Store(Claims):
    """A sweep store folder; :func:`use_store` (a sweep) or :meth:`Store.attach` (a worker or
    a reader) opens one."""

    def __init__(self, root: Path, spec: dict):
        self.root = root
        self.spec = spec

    @classmethod
    def attach(cls, root: str | os.PathLike) -> Store:
        """The store at `root` as its sweep.json describes it (nothing is checked against a
        config: this is for workers of a sweep that opened it, and for readers)."""
        root = Path(root).expanduser()
        return cls(root, _read_spec(root))

    # -- units -----------------------------------------------------------------------------

    @property
    def units(self) -> list[dict]:
        """[{index, file, combo}] for every unit of the sweep, in order."""
        return self.spec["units"]

    def combo(self, index: int) -> dict[str, Any]:
        return self.units[index]["combo"]

    def path(self, index: int, combo: dict[str, Any] | None = None) -> Path:
        return self.root / unit_name(index, self.combo(index) if combo is None else combo)

    def claim_path(self, index: int) -> Path:
        return self.path(index).with_suffix(".claim")

    def finished(self, index: int) -> bool:
        return self.path(index).exists()

    def missing(self) -> list[int]:
        """The units without a unit file, in order."""
        return [u["index"] for u in self.units if not self.finished(u["index"])]

    def load(self, index: int, combo: dict[str, Any], runs: int,
             steps: int) -> RunRecords | None:
        """The unit's records if it is finished, else None; a damaged file is a StoreError,
        a file the system cannot read just now a StoreIOError."""
        path = self.path(index, combo)
        if not path.exists():
            return None
        fix = f"delete {path} and rerun the sweep to recompute that unit"
        try:
            with np.load(path, allow_pickle=False) as archive:
                records = {name: archive[name] for name in archive.files}
        except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile) as error:
            raise _store_error(error)(f"store file {path} is unreadable ({error}); {fix}") from None
        meta = {name: records.pop(name, None) for name in _META}
        if meta["_store_id"] is None or str(meta["_store_id"]) != self.spec["store_id"]:
            raise StoreError(
                f"store file {path} belongs to another store (store id "
                f"{_text(meta['_store_id'])}, this store's is {self.spec['store_id']}); "
                f"it was copied in from elsewhere: {fix}"
            )
        if meta["_combo"] is None or json.loads(str(meta["_combo"])) != combo:
            raise StoreError(
                f"store file {path} holds unit {_text(meta['_combo'])}, expected "
                f"{json.dumps(combo)}; {fix}"
            )
        problem = _shape_problem(records, runs, steps)
        if problem:
            raise StoreError(f"store file {path} is not what this sweep writes: {problem}; {fix}")
        return RunRecords.from_arrays(records)

    def save(self, index: int, combo: dict[str, Any], records: RunRecords, *,
             claim: Claim | None = None) -> Path:
        """Write a finished unit atomically (and log it done, with its time under `claim`)."""
        path = self.path(index, combo)
        arrays = records.arrays()
        arrays["_combo"] = np.array(json.dumps(combo, sort_keys=True))
        arrays["_store_id"] = np.array(self.spec["store_id"])
        try:
            write_atomic(path, lambda handle: np.savez(handle, **arrays))
        except OSError as error:
            raise StoreIOError(
                f"could not write {path} ({error.strerror or error}); the units finished "
                f"before it are kept in {self.root}. Fix: free space or permissions, then "
                "rerun the same sweep to resume"
            ) from error
        seconds = None if claim is None else round(time.time() - claim.started, 3)
        self.log("done", index, seconds=seconds)
        return path

    # -- events ----------------------------------------------------------------------------

    def log(self, event: str, index: int, **fields) -> None:
        """Append an event to this process's log in DIR/events (one writer per file)."""
        line = json.dumps({"event": event, "unit": index, "time": time.time(), "host": HOST,
                           "pid": os.getpid(), **fields}) + "\n"
        folder = self.root / EVENTS
        with _EVENTS_LOCK, contextlib.suppress(OSError):
            folder.mkdir(exist_ok=True)
            with open(folder / f"{HOST}-{os.getpid()}.jsonl", "a") as handle:
                handle.write(line)

    def events(self) -> list[dict]:
        """Every logged event of every process, oldest first (unreadable lines skipped)."""
        found = []
        for path in sorted((self.root / EVENTS).glob("*.jsonl")):
            with contextlib.suppress(OSError):
                for line in path.read_text().splitlines():
                    with contextlib.suppress(ValueError):
                        event = json.loads(line)
                        if isinstance(event, dict) and "unit" in event:
                            found.append(event)
        return sorted(found, key=lambda e: e.get("time", 0))

    def status(self) -> list[UnitStatus]:
        """Each unit's state: finished, running (a live claim), stale (a claim whose holder
        is gone: the next sweep on this store reruns it), failed (its last attempt failed and
        nobody runs it) or waiting."""
        states = [UnitStatus(u["index"], u["combo"], "waiting") for u in self.units]
        for event in self.events():
            if not 0 <= event["unit"] < len(states):
                continue
            unit = states[event["unit"]]
            if event["event"] == "done":
                unit.seconds = event.get("seconds")
            elif event["event"] == "failed":
                unit.attempts += 1
                unit.error = event.get("error")
                unit.state = "failed"
            elif event["event"] == "start":
                unit.state = "waiting"
        for unit in states:
            if self.finished(unit.index):
                unit.state = "finished"
                continue
            held = self.holder(unit.index)
            if held is not None:
                info, mtime = held
                unit.state = "stale" if is_stale(info, mtime) else "running"
                unit.holder = f"{info.get('host', '?')}:{info.get('pid', '?')}"
                unit.since = info.get("started", mtime)
        return states

    def clean(self) -> None:
        """Remove temporary files whose writers are gone (killed mid-write)."""
        for tmp in self.root.glob(".*.tmp"):
            writer = tmp.name[: -len(".tmp")].rpartition(".")[2]  # pid-host-random
            pid, _, host = writer.partition("-")
            host = host.partition("-")[0]
            try:
                ours_dead = (host in ("", HOST_ID) and pid.isdigit()
                             and not process_alive(int(pid), None))
                gone = ours_dead or time.time() - tmp.stat().st_mtime > STALE_S
                if gone:
                    tmp.unlink()
            except OSError:
                continue


def _store_error(error: BaseException) -> type[StoreError] | type[StoreIOError]:
    """StoreIOError (retried) for a file the system could not read just now (an OSError
    other than a permission one); StoreError for a file whose contents are wrong."""
    passing = isinstance(error, OSError) and not isinstance(error, PermissionError)
    return StoreIOError if passing else StoreError


def _text(value) -> str:
    return "(none)" if value is None else str(value)


def _shape_problem(arrays: dict[str, np.ndarray], runs: int, steps: int) -> str | None:
    for name in (*SHARED, "train_loss", "diverged_at"):
        if name not in arrays:
            return f"array {name!r} missing"
    if "test_accuracy" not in arrays and "test_mse" not in arrays:  # the task's test score
        return "array 'test_accuracy' (or generation's 'test_mse') missing"
    records = RunRecords.from_arrays(arrays)
    if records.step.shape != (steps,):
        return f"{records.step.shape[0]} logged steps, expected {steps}"
    for name, value in records.values.items():
        if value.ndim < 1 or value.shape[0] != runs:
            return f"array {name!r} has shape {value.shape}, expected {runs} runs first"
    return None


def _own(name: str) -> bool:
    """Whether a file name is one a store holds (another sweep may be creating it now)."""
    return (name in (SPEC, LOCK, EVENTS, "slurm") or name.startswith("unit-")
            or (name.startswith(".") and name.endswith(".tmp")))


def _read_spec(root: Path) -> dict:
    spec_path = root / SPEC
    if not spec_path.exists():
        raise StoreError(f"{root} is not a sweep store (no {SPEC}); give the folder a sweep "
                         "was run with (`pcdiag sweep --store DIR`, pcdiag.sweep(store=DIR))")
    try:
        spec = json.loads(spec_path.read_text())
        if not isinstance(spec, dict) or "store_id" not in spec:
            raise ValueError("no store_id")
    except (OSError, ValueError) as error:
        raise _store_error(error)(
            f"{spec_path} is not a pcdiag sweep store description ({error}); give "
            "another store folder, or delete this one to start over"
        ) from None
    if spec.get("store_version") != STORE_VERSION:
        raise StoreError(
            f"store {root} has store_version {spec.get('store_version')}, this pcdiag "
            f"writes {STORE_VERSION}; use a new store folder"
        )
    return spec


@contextlib.contextmanager
def use_store(root: str | os.PathLike, config: Config, axes: dict[str, list],
              program_axes: list[str], units: list[dict]) -> Iterator[Store]:
    """Create or reopen the store at `root` for this sweep; refuse one written by another.

    Other sweeps of the same spec may use it at the same time: units are claimed one by one.
    """
    root = Path(root).expanduser()
    if root.exists() and not root.is_dir():
        raise StoreError(f"store {root} is a file, not a folder; give a folder path")
    try:
        root.mkdir(parents=True, exist_ok=True)
        os.close(os.open(root / LOCK, os.O_RDWR | os.O_CREAT, 0o644))
    except PermissionError as error:
        raise StoreError(
            f"store {root} is not writable ({error.strerror}); give a folder you can write to"
        ) from None
    spec_path = root / SPEC
    if not spec_path.exists():
        others = [p.name for p in root.iterdir() if not _own(p.name)]
        if others:
            raise StoreError(
                f"{root} is not empty and is not a sweep store (no {SPEC}; holds "
                f"{', '.join(sorted(others)[:3])}{', ...' if len(others) > 3 else ''}); "
                "give an empty or new folder"
            )
        text = json.dumps(_spec(config, axes, program_axes, units), indent=1) + "\n"
        with contextlib.suppress(FileExistsError):  # another sweep made it first: check it
            write_atomic(spec_path, lambda handle: handle.write(text.encode()), exclusive=True)
    spec = _read_spec(root)
    diff = differences(spec, config, axes)
    if diff:
        raise StoreError(
            f"store {root} was written by a different sweep; differing: "
            + "; ".join(diff)
            + f". Fix: give this sweep a new store folder, or rerun the sweep in "
            f"{spec_path} to resume it"
        )
    if spec.get("pcdiag_version") != __version__:
        warnings.warn(
            f"store {root} was written by pcdiag {spec.get('pcdiag_version')}, this is "
            f"{__version__}; resuming with its finished units",
            stacklevel=3,
        )
    store = Store(root, spec)
    store.clean()
    yield store


__all__ = ["EVENTS", "HEARTBEAT_S", "HOST", "LOCK", "SPEC", "STALE_S", "STORE_VERSION", "Claim",
           "Store", "StoreError", "StoreIOError", "UnitStatus", "differences", "unit_name",
           "use_store", "write_atomic"]
