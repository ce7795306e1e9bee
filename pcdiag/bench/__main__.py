"""`python -m pcdiag.bench ...`: the deprecated name of `python -m pcdiag.speed ...`."""

import sys

from pcdiag.speed.cli import main

sys.exit(main(prog="pcdiag bench"))
