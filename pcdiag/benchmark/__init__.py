"""Deprecated name of :mod:`pcdiag.table1` (PCX's Table 1 runner), kept for one release.

``pcdiag.benchmark`` and its modules (``pcdiag.benchmark.runner``, ...) are the same module
objects as ``pcdiag.table1``'s (``pcdiag.benchmark.recipes`` is ``pcdiag.table1.recipe``);
import ``pcdiag.table1`` instead. ``pcdiag benchmark`` is ``pcdiag table1``.
"""

import importlib
import sys
import warnings

from pcdiag.table1 import *  # noqa: F403 (the same public names)
from pcdiag.table1 import __all__  # noqa: F401

warnings.warn("pcdiag.benchmark is now pcdiag.table1; the old name goes in pcdiag 0.2",
              DeprecationWarning, stacklevel=2)

#: Old module path -> new one, so that `from pcdiag.benchmark.runner import ...` keeps working.
MODULES = {"cli": "pcdiag.table1.cli", "recipes": "pcdiag.table1.recipe",
           "runner": "pcdiag.table1.runner", "stats": "pcdiag.table1.stats",
           "table": "pcdiag.table1.table"}
for _old, _new in MODULES.items():
    sys.modules[f"{__name__}.{_old}"] = globals()[_old] = importlib.import_module(_new)
