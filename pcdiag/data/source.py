"""The source protocol: what a reader tells :func:`pcdiag.data.locate` about its files, and
the errors and places every reader shares.

A reader module (``pcdiag.data.<DatasetInfo.reader>``) has ``source(info) -> Source``
(where the data set's files are and how to fetch them) and ``read(info, path)`` (the
verified uint8 arrays). The search order itself is written once, in
:mod:`pcdiag.data.search`.
"""

from __future__ import annotations

import os
from pathlib import Path

from pcdiag.data.registry import DatasetInfo
from pcdiag.errors import BadInputError, TransientError


class DataError(BadInputError):
    """A data set is missing, unreadable or corrupt (never retried); the message says where,
    why and the fix."""


class DownloadError(TransientError, OSError):
    """A data set is not on disk and its download failed (retried: the network may come
    back); the message says where it was looked for and the ways to provide it."""


def env(name: str) -> str | None:
    """The environment variable `name`; an empty one counts as unset."""
    return os.environ.get(name) or None


def cache_root() -> Path:
    """``$PCDIAG_CACHE``, else ``$XDG_CACHE_HOME/pcdiag``, else ``~/.cache/pcdiag``."""
    if root := env("PCDIAG_CACHE"):
        return Path(root).expanduser()
    if xdg := env("XDG_CACHE_HOME"):
        return Path(xdg).expanduser() / "pcdiag"
    return Path.home() / ".cache" / "pcdiag"


def mirror(info: DatasetInfo) -> str:
    """The download prefix: ``$<info.mirror_env>``, else the official ``info.mirror``."""
    return env(info.mirror_env) or info.mirror


def folder_exists(folder: Path, origin: str) -> bool:
    """Whether ``folder`` exists; a file or an unreadable folder there: DataError."""
    if not folder.exists():
        return False
    if not folder.is_dir():
        raise DataError(f"{origin}: {folder} is not a folder. Fix: point it to a data folder.")
    if not os.access(folder, os.R_OK | os.X_OK):
        raise DataError(
            f"{origin}: folder {folder} is not readable (permission denied). "
            f"Fix: make it readable (chmod a+rx) or point to another copy."
        )
    return True


class Source:
    """How one data set's files sit in a folder and how they are fetched. A reader
    subclasses it; the folders its methods look into exist and are readable (search.py
    checks them first), but the one :meth:`download` fills may not exist yet."""

    def __init__(self, info: DatasetInfo):
        self.info = info
        self.name = info.name

    def find(self, folder: Path) -> Path | None:
        """What the reader reads (the folder or a file in it) if ``folder`` holds the whole
        set, else None."""
        raise NotImplementedError

    def missing(self, folder: Path) -> list[str]:
        """The files of the set that ``folder`` lacks, all of them where it holds none."""
        raise NotImplementedError

    def partial(self, folder: Path) -> bool:
        """Whether ``folder`` holds some files of the set but not all (then a named folder
        is incomplete rather than the wrong one)."""
        return False

    def describe(self, name: str) -> str:
        """One file of the set in words, for messages."""
        return name

    def expected(self, folder: Path) -> str:
        """What ``folder`` (a root's subfolder for the set) should hold, for messages."""
        raise NotImplementedError

    def misplaced_fix(self, root: Path, folder: Path) -> str:
        """The fix when ``root`` itself holds the set instead of its subfolder ``folder``."""
        return f"pass the folder above it, {root.parent}, holding {root.name}/."

    def cache_note(self, folder: Path, exists: bool) -> str:
        """Why the cache folder was not used, for the list of places looked in."""
        if not exists:
            return "no such folder"
        return f"missing {', '.join(self.missing(folder))}"

    def ways(self) -> list[str]:
        """The ways to provide the data, one line each."""
        raise NotImplementedError

    def url(self, base: str) -> str:
        """Where a download from the prefix ``base`` fetches from, for messages."""
        return base

    def download(self, folder: Path, base: str) -> Path:
        """Fetch the set (or the files ``folder`` lacks) from the prefix ``base`` into
        ``folder`` and return what the reader reads. A failed transfer raises OSError; a
        file that fails its checksum raises DataError, and nothing of it is saved."""
        raise NotImplementedError
