"""Deprecated name of :mod:`pcdiag.speed` (the speed benchmark), kept for one release.

``pcdiag.bench`` and its modules (``pcdiag.bench.pcx``, ...) are the same module objects as
``pcdiag.speed``'s; import ``pcdiag.speed`` instead. ``pcdiag bench`` is ``pcdiag speed``.
"""

import importlib
import sys
import warnings

from pcdiag.speed import *  # noqa: F403 (the same public names)
from pcdiag.speed import __all__  # noqa: F401

warnings.warn("pcdiag.bench is now pcdiag.speed; the old name goes in pcdiag 0.2",
              DeprecationWarning, stacklevel=2)

#: Old module path -> new one, so that `from pcdiag.bench.pcx import ...` keeps working.
MODULES = {name: f"pcdiag.speed.{name}" for name in (
    "cli", "device", "flops", "log", "pcx", "programs", "reference", "report", "settings",
    "suite", "timing")}
for _old, _new in MODULES.items():
    sys.modules[f"{__name__}.{_old}"] = globals()[_old] = importlib.import_module(_new)
