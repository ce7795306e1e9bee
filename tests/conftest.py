"""Test-wide settings: the CLI's on-disk XLA cache stays off unless a test turns it on (the
in-process CLI tests would otherwise fill the user's cache and set jax's global config)."""

import os

os.environ.setdefault("PCDIAG_XLA_CACHE", "off")
