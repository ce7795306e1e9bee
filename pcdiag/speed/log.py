"""The speed benchmark's progress lines, on stderr with the time of day."""

from __future__ import annotations

import sys
import time


def say(message: str) -> None:
    print(f"[speed {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)
