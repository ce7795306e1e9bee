"""`python -m pcdiag.speed ...`, the same as `pcdiag speed ...`."""

import sys

from pcdiag.speed.cli import main

sys.exit(main())
