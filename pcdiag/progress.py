"""Progress bars (tqdm) for long runs: steps/s and the latest energy and accuracy."""

from __future__ import annotations

import contextlib
import sys

from tqdm.auto import tqdm


@contextlib.contextmanager
def progress_bar(total: int, description: str, *, enabled: bool = True, unit: str = "step"):
    """A tqdm bar over `total` steps, or None when disabled (callers check for None)."""
    if not enabled:
        yield None
        return
    bar = tqdm(total=total, desc=description, unit=unit, file=sys.stderr, dynamic_ncols=True,
               smoothing=0.1)
    try:
        yield bar
    finally:
        bar.close()
