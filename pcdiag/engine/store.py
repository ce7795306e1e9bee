"""A folder that keeps a sweep's finished units, so an interrupted sweep resumes.

Layout of a store folder DIR::

    DIR/sweep.json                  what sweep this is: base config, axes, unit list (written once)
    DIR/unit-0003-<hash12>.npz      one per finished unit: its runs' records
    DIR/.lock                       held (flock) by the sweep using the store; pid inside
    DIR/.<name>.<pid>.tmp           a file being written (removed on the next open)

A *unit* is one combination of the non-vectorised axes: one compiled program and its batch
of vmapped runs. `<hash12>` is the first 12 hex digits of the sha256 of the unit's axis values
as sorted JSON; `0003` its index in the sweep's order. A unit file holds exactly the arrays
`pcdiag.engine.loop.run` returned for it (runs first), plus `_combo` (its axis values as JSON) and
`_store_id` (the id in sweep.json), so a file copied from another store is refused.

Every file is written to a temporary name in DIR, fsynced and renamed over its final name
(then DIR is fsynced), so a reader (or a sweep resumed after SIGKILL) never sees half a file.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import uuid
import warnings
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from pcdiag._version import __version__
from pcdiag.config import Config, ConfigError, affects_results, field_names

STORE_VERSION = 1
SPEC = "sweep.json"
LOCK = ".lock"
_META = ("_combo", "_store_id")


class StoreError(ConfigError):
    """A sweep store that cannot be used as asked; the message names the problem and the fix."""


def unit_name(index: int, combo: dict[str, Any]) -> str:
    """File name of a unit: its index and a hash of its axis values."""
    digest = hashlib.sha256(json.dumps(combo, sort_keys=True).encode()).hexdigest()[:12]
    return f"unit-{index:04d}-{digest}.npz"


def _write_atomic(path: Path, write) -> None:
    """Write via a temp file in the same folder, fsync it, rename it over `path`."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    _fsync_dir(path.parent)


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):  # not every file system lets a folder be fsynced
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


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


class Store:
    """An open, locked store for one sweep; use :func:`open_store`."""

    def __init__(self, root: Path, spec: dict, lock_fd: int):
        self.root = root
        self.spec = spec
        self._lock_fd = lock_fd
        self._runs = 0
        self._steps = 0

    # -- units -----------------------------------------------------------------------------

    def path(self, index: int, combo: dict[str, Any]) -> Path:
        return self.root / unit_name(index, combo)

    def load(self, index: int, combo: dict[str, Any], runs: int,
             steps: int) -> dict[str, np.ndarray] | None:
        """The unit's records if it is finished, else None; a damaged file is an error."""
        path = self.path(index, combo)
        if not path.exists():
            return None
        fix = f"delete {path} and rerun the sweep to recompute that unit"
        try:
            with np.load(path, allow_pickle=False) as archive:
                records = {name: archive[name] for name in archive.files}
        except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile) as error:
            raise StoreError(f"store file {path} is unreadable ({error}); {fix}") from None
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
        return records

    def save(self, index: int, combo: dict[str, Any], records: dict[str, np.ndarray]) -> Path:
        """Write a finished unit atomically."""
        path = self.path(index, combo)
        arrays = dict(records)
        arrays["_combo"] = np.array(json.dumps(combo, sort_keys=True))
        arrays["_store_id"] = np.array(self.spec["store_id"])
        try:
            _write_atomic(path, lambda handle: np.savez(handle, **arrays))
        except OSError as error:
            raise StoreError(
                f"could not write {path} ({error.strerror or error}); the units finished "
                f"before it are kept in {self.root}. Fix: free space or permissions, then "
                "rerun the same sweep to resume"
            ) from error
        return path

    def close(self) -> None:
        if self._lock_fd >= 0:
            with contextlib.suppress(OSError):
                os.close(self._lock_fd)  # closing the descriptor releases the flock
            self._lock_fd = -1


def _text(value) -> str:
    return "(none)" if value is None else str(value)


def _shape_problem(records: dict[str, np.ndarray], runs: int, steps: int) -> str | None:
    for name in ("step", "epoch_of_step", "train_loss", "diverged_at", "test_accuracy"):
        if name not in records:
            return f"array {name!r} missing"
    if records["step"].shape != (steps,):
        return f"{records['step'].shape[0]} logged steps, expected {steps}"
    for name, value in records.items():
        if name not in ("step", "epoch_of_step") and (value.ndim < 1 or value.shape[0] != runs):
            return f"array {name!r} has shape {value.shape}, expected {runs} runs first"
    return None


def _lock(root: Path) -> int:
    fd = os.open(root / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as error:
        holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
        os.close(fd)
        if error.errno in (errno.EAGAIN, errno.EACCES):
            raise StoreError(
                f"store {root} is in use by another sweep (pid {holder}); wait for it to "
                "finish, or give this sweep another store folder"
            ) from None
        raise
    os.ftruncate(fd, 0)
    os.pwrite(fd, str(os.getpid()).encode(), 0)
    return fd


@contextlib.contextmanager
def open_store(root: str | os.PathLike, config: Config, axes: dict[str, list],
               program_axes: list[str], units: list[dict]) -> Iterator[Store]:
    """Create or reopen the store at `root` for this sweep; refuse one written by another."""
    root = Path(root).expanduser()
    if root.exists() and not root.is_dir():
        raise StoreError(f"store {root} is a file, not a folder; give a folder path")
    try:
        root.mkdir(parents=True, exist_ok=True)
        lock_fd = _lock(root)
    except PermissionError as error:
        raise StoreError(
            f"store {root} is not writable ({error.strerror}); give a folder you can write to"
        ) from None
    store = None
    try:
        for stale in root.glob(".*.tmp"):  # left by a killed writer; we hold the lock
            with contextlib.suppress(OSError):
                stale.unlink()
        spec_path = root / SPEC
        if spec_path.exists():
            try:
                spec = json.loads(spec_path.read_text())
                if not isinstance(spec, dict) or "store_id" not in spec:
                    raise ValueError("no store_id")
            except (OSError, ValueError) as error:
                raise StoreError(
                    f"{spec_path} is not a pcdiag sweep store description ({error}); give "
                    "another store folder, or delete this one to start over"
                ) from None
            if spec.get("store_version") != STORE_VERSION:
                raise StoreError(
                    f"store {root} has store_version {spec.get('store_version')}, this pcdiag "
                    f"writes {STORE_VERSION}; use a new store folder"
                )
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
        else:
            others = [p.name for p in root.iterdir() if p.name != LOCK]
            if others:
                raise StoreError(
                    f"{root} is not empty and is not a sweep store (no {SPEC}; holds "
                    f"{', '.join(sorted(others)[:3])}{', ...' if len(others) > 3 else ''}); "
                    "give an empty or new folder"
                )
            spec = _spec(config, axes, program_axes, units)
            text = json.dumps(spec, indent=1) + "\n"
            _write_atomic(spec_path, lambda handle: handle.write(text.encode()))
        store = Store(root, spec, lock_fd)
        yield store
    finally:
        if store is not None:
            store.close()
        else:
            with contextlib.suppress(OSError):
                os.close(lock_fd)
