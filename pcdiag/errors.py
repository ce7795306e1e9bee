"""Every error pcdiag raises on purpose, in two kinds that say whether to try again.

- :class:`BadInputError`: the input is wrong (a config value, a data file, a Dataset, a
  store made by another sweep). Retrying gives the same error, so executors never retry
  it. Its message names the field or file, the rule and the fix.
- :class:`TransientError`: the input is fine but something passing got in the way (a
  store file being written by another worker, a full disk, a lost worker). Executors
  retry it.

Both derive from :class:`PcdiagError`, so ``except pcdiag.PcdiagError`` catches all of
them. BadInputError is also a ValueError (what callers of a wrong argument expect).
This module imports nothing from pcdiag: any module may raise these without a cycle.
"""

from __future__ import annotations


class PcdiagError(Exception):
    """The root of pcdiag's errors."""


class BadInputError(PcdiagError, ValueError):
    """Wrong input: never retried. The message names the field or file, the rule and the
    fix."""


class TransientError(PcdiagError):
    """A passing problem (I/O, a lock, a lost worker): retried by the executors."""


class ConfigError(BadInputError):
    """An invalid configuration value; the message names the field, the rule and the fix."""


def retryable(error: BaseException) -> bool:
    """Whether an executor should run a unit again after `error`: not for bad input; yes
    for a TransientError or an OSError (disk, network); yes for anything unexpected (a
    crashed worker), which the executor's retry limit bounds."""
    return not isinstance(error, BadInputError)
