"""`python -m pcdiag.bench ...`, the same as `pcdiag bench ...`."""

import sys

from pcdiag.bench.cli import main

sys.exit(main())
