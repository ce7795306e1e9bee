"""`python -m pcdiag ...`, the same as the `pcdiag` command."""

from pcdiag.cli import main

raise SystemExit(main())
