"""`python -m pcdiag.figures ...`: the same options as `pcdiag figures`."""

import sys

from pcdiag.figures.cli import main

if __name__ == "__main__":
    sys.exit(main())
