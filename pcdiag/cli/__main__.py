"""`python -m pcdiag.cli ...`, the same as `pcdiag ...`."""

from pcdiag.cli import main

raise SystemExit(main())
