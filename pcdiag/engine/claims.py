"""Claims: how several processes share a store's units without running one twice.

Whoever runs a unit first *claims* it, by creating its `.claim` file (atomically, failing if
it exists), writes the unit file, then removes the claim. A claim is *live* while its holder
touches it (every HEARTBEAT_S seconds); it is *stale*, and may be taken over, when its
process is gone (same host: the pid has exited) or when it has not been touched for STALE_S
seconds (another host). The files of a store are written with `write_atomic`: to a
temporary name, fsynced, then renamed, so a reader never sees half a file.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

LOCK = ".lock"
#: A claim's holder touches it this often (seconds) ...
HEARTBEAT_S = 20.0
#: ... and a claim untouched for this long is stale (its holder hung or its host is gone).
STALE_S = 300.0
HOST = socket.gethostname()
HOST_ID = hashlib.sha256(HOST.encode()).hexdigest()[:8]


def write_atomic(path: Path, write, *, exclusive: bool = False) -> None:
    """Write via a temp file in the same folder, fsync it, rename it over `path` (with
    `exclusive`: link it to `path`, raising FileExistsError when `path` exists)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}-{HOST_ID}-{uuid.uuid4().hex[:8]}.tmp")
    try:
        with open(tmp, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        if exclusive:
            os.link(tmp, path)
        else:
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


def _process_start(pid: int) -> str | None:
    """When process `pid` started (clock ticks since boot, from /proc), or None if unknown."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text.rpartition(")")[2].split()
    return fields[19] if len(fields) > 19 else None  # field 22 of stat; 3..22 after the name


def process_alive(pid: int, started: str | None) -> bool:
    """Whether process `pid` of this host still runs (a zombie or a reused pid does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, another user's
    with contextlib.suppress(OSError):
        stat = Path(f"/proc/{pid}/stat").read_text()
        if stat.rpartition(")")[2].split()[0] == "Z":
            return False
    now = _process_start(pid)
    return started is None or now is None or now == started


@dataclass(frozen=True)
class Claim:
    """A unit this process holds: nobody else runs it while the claim is live."""

    index: int
    path: Path
    token: str
    started: float


class Claims:
    """Claiming the units of a store folder `root`: the part of pcdiag.engine.store.Store
    that says who runs what (Store gives `claim_path(index)` and `log(event, index)`)."""

    root: Path

    def claim(self, index: int, token: str | None = None,
              replaces: tuple[str, ...] = ()) -> Claim | None:
        """Claim unit `index` for this process, or None when someone else holds a live claim.

        A stale claim (see the module docstring), or one whose token is in `replaces` (an
        attempt the caller knows is dead), is taken over.
        """
        token = token or uuid.uuid4().hex
        path = self.claim_path(index)
        started = time.time()
        text = json.dumps({"token": token, "host": HOST, "pid": os.getpid(),
                           "pid_start": _process_start(os.getpid()), "started": started}).encode()

        def gone(held: tuple[dict, float]) -> bool:
            return held[0].get("token") in replaces or is_stale(*held)

        for _ in range(3):
            try:
                write_atomic(path, lambda handle: handle.write(text), exclusive=True)
            except FileExistsError:
                held = self._held(path)
                if held is None:
                    continue  # released meanwhile: try again
                if not gone(held):
                    return None
                with self._lock():  # one taker at a time; look again under the lock
                    again = self._held(path)
                    if again is not None and again[0] == held[0] and gone(again):
                        with contextlib.suppress(FileNotFoundError):
                            path.unlink()
                continue
            self.log("start", index, token=token)
            return Claim(index, path, token, started)
        return None

    def release(self, claim: Claim) -> None:
        """Remove the claim if it is still ours (a taken-over claim is left to its taker)."""
        held = self._held(claim.path)
        if held is not None and held[0].get("token") == claim.token:
            with contextlib.suppress(FileNotFoundError):
                claim.path.unlink()

    @contextlib.contextmanager
    def holding(self, claim: Claim) -> Iterator[Claim]:
        """Keep `claim` live (touch it every HEARTBEAT_S s) until the block ends; then release."""
        stop = threading.Event()

        def beat():
            while not stop.wait(HEARTBEAT_S):
                with contextlib.suppress(OSError):
                    os.utime(claim.path)

        thread = threading.Thread(target=beat, name=f"pcdiag-claim-{claim.index}", daemon=True)
        thread.start()
        try:
            yield claim
        finally:
            stop.set()
            thread.join()
            self.release(claim)

    def holder(self, index: int) -> tuple[dict, float] | None:
        """The claim on unit `index` (its JSON and last-touched time), or None."""
        return self._held(self.claim_path(index))

    def running(self, index: int) -> bool:
        """Whether someone holds a live claim on the unit."""
        held = self.holder(index)
        return held is not None and not is_stale(*held)

    def _held(self, path: Path) -> tuple[dict, float] | None:
        try:
            mtime = path.stat().st_mtime
            info = json.loads(path.read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            return {}, mtime  # unreadable: live until untouched for STALE_S
        return (info if isinstance(info, dict) else {}), mtime

    @contextlib.contextmanager
    def _lock(self) -> Iterator[None]:
        fd = os.open(self.root / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # releases the flock


def is_stale(info: dict, mtime: float) -> bool:
    """A claim whose holder is gone: a dead process of this host, or untouched for STALE_S."""
    if time.time() - mtime > STALE_S:
        return True
    pid = info.get("pid")
    return info.get("host") == HOST and isinstance(pid, int) and not process_alive(
        pid, info.get("pid_start"))
