"""One file downloaded through pooch: into a temporary file, hash-checked, moved into place."""

from __future__ import annotations

import shutil
import urllib.request
from pathlib import Path


def file_download(url: str, output_file, pooch_instance=None) -> None:
    """A pooch downloader for file:// URLs (pooch has none): a plain copy through urllib."""
    with urllib.request.urlopen(url, timeout=60) as response:
        if hasattr(output_file, "write"):
            shutil.copyfileobj(response, output_file)
        else:
            with open(output_file, "wb") as out:
                shutil.copyfileobj(response, out)


def fetch(url: str, folder: Path, name: str, known_hash: str | None) -> Path:
    """``folder / name`` downloaded from ``url`` through pooch: into a temporary file, checked
    against ``known_hash`` (``"md5:..."``; None: the caller checks), then moved into place.

    A failed transfer raises OSError (requests' errors are OSErrors); a hash mismatch
    raises ValueError, and nothing is saved."""
    import pooch  # only a download needs it

    if url.startswith("file:"):
        downloader = file_download
    elif url.startswith(("http:", "https:")):
        downloader = pooch.HTTPDownloader(timeout=60)
    else:
        downloader = pooch.choose_downloader(url)
    logger = pooch.get_logger()
    level = logger.level
    if known_hash is None:  # pooch would suggest pinning the file's hash: we check the payload
        logger.setLevel("WARNING")
    try:
        return Path(pooch.retrieve(url, known_hash, fname=name, path=folder,
                                   downloader=downloader))
    finally:
        logger.setLevel(level)
