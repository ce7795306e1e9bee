"""The `pcdiag` command: train | sweep | info | diagnose | figures | speed | table1.

    pcdiag train [--out run.nc] [--config FILE.toml] [--from RUN.nc] [--<field> VALUE ...]
    pcdiag sweep --gamma 0.001,0.01 --seed 0,1 [--store DIR] [--out sweep.nc] [--<field> ...]
    pcdiag info RUN.nc

Every config field is a flag (`weight_lr` -> `--weight-lr`). Precedence, lowest first:
Config defaults < `--from RUN.nc` (the config stored in a saved run) < `--config FILE.toml`
(a flat table of fields, or a `[config]` table) < explicit flags. In `sweep`, a flag with a
comma-separated list is a swept axis (dims in command-line order); a single value is fixed.

Bad input (flags, values, config files, data, non-pcdiag files) exits with status 2 and one
line on stderr: `pcdiag: error: <message>`; Ctrl-C exits with 130.
"""

# One concern a module: app (the parser, extension commands, main), fields (config fields as
# flags, TOML files, the merged config; the one place facts about fields are read), commands
# (train, sweep, info), summaries (what they print), cache (XLA's on-disk cache).
from pcdiag.cli.app import main

__all__ = ["main"]
