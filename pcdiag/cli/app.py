"""The `pcdiag` parser and entry point: the built-in commands, the extension commands
(figures, speed, table1: modules with configure_parser(parser) and run_cli(args)), the old
command names (bench, benchmark) and main()."""

from __future__ import annotations

import argparse
import importlib
import inspect
import sys
from collections.abc import Sequence
from typing import Any

import pcdiag
from pcdiag.cli.cache import use_compilation_cache
from pcdiag.cli.commands import cmd_diagnose, cmd_info, cmd_sweep, cmd_train
from pcdiag.cli.executor_flags import add_executor_flags
from pcdiag.cli.fields import (
    UsageError,
    add_config_flags,
    add_sources,
    join_negative_values,
    semicolon_fields,
)
from pcdiag.config import ConfigError
from pcdiag.data import DataError
from pcdiag.dataset import SchemaError
from pcdiag.engine.executors import SweepError
from pcdiag.errors import BadInputError

PROG = "pcdiag"
BUILTIN = ("train", "sweep", "info", "diagnose")
#: Commands that a module adds through configure_parser(parser) and run_cli(args): the figures,
#: the speed benchmark (against plain JAX and PCX) and PCX's Table 1 over seeds.
EXTENSIONS = {"figures": "pcdiag.figures", "speed": "pcdiag.speed", "table1": "pcdiag.table1"}
#: Old command names, kept as aliases for one release (until pcdiag 0.2): old -> new.
RENAMED = {"bench": "speed", "benchmark": "table1"}
#: commands whose compiled programs are kept on disk (not speed: it measures compilation)
CACHED_COMMANDS = ("train", "sweep", "figures", "table1")
INPUT_ERRORS = (BadInputError, ConfigError, DataError, SchemaError, FileNotFoundError)


class Parser(argparse.ArgumentParser):
    """An ArgumentParser that raises instead of printing usage and exiting."""

    def error(self, message: str):  # noqa: D102 (argparse API)
        raise UsageError(message)


# ---------------------------------------------------------------------------------------------
# entry point


def main(argv: Sequence[str] | None = None) -> int:
    """Run the `pcdiag` command; returns the exit status (0 ok, 2 bad input, 130 Ctrl-C)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        parser = build_parser(_extensions_for(argv))
        args = parser.parse_args(join_negative_values(argv))
        if args.command in RENAMED:
            print(f"{PROG}: note: '{PROG} {args.command}' is now '{PROG} "
                  f"{RENAMED[args.command]}'; the old name goes in pcdiag 0.2", file=sys.stderr)
        if RENAMED.get(args.command, args.command) in CACHED_COMMANDS:
            use_compilation_cache()
        return int(args.handler(args) or 0)
    except SystemExit as done:  # --help, --version
        return done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
    except KeyboardInterrupt:
        _error("interrupted")
        return 130
    except (UsageError, *INPUT_ERRORS) as error:
        _error(str(error))
        return 2
    except SweepError as error:  # units failed on every attempt; the rest are in the store
        _error(str(error))
        return 1
    except OSError as error:  # e.g. --out not writable
        _error(str(error))
        return 1


def _error(message: str) -> None:
    one_line = " ".join(message.split())
    print(f"{PROG}: error: {one_line}", file=sys.stderr)


# ---------------------------------------------------------------------------------------------
# the parser


def build_parser(extensions: dict[str, Any] | None = None) -> Parser:
    """The full parser; `extensions` maps subcommand name -> module with the two hooks."""
    parser = Parser(
        prog=PROG,
        description="Train predictive coding networks and see where the energy goes.",
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {pcdiag.__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    train = commands.add_parser(
        "train", help="train one network and save its Dataset",
        description="Train one network; save its Dataset as netCDF; print a summary. "
        + _PRECEDENCE,
    )
    train.add_argument("--out", default="run.nc", metavar="RUN.nc",
                       help="where to save the Dataset (default: run.nc)")
    add_sources(train)
    add_config_flags(train, sweep=False)
    train.set_defaults(handler=cmd_train)

    sweep = commands.add_parser(
        "sweep", help="train a grid of networks (comma lists = swept axes)",
        description="Train every combination of the swept values; save one Dataset with a "
        "dim per swept field. A flag with a comma-separated list (e.g. --gamma 0.01,0.1; "
        "a trailing comma makes a one-value axis: --seed 0,) is a swept axis; dims follow "
        "the command-line order. A single value fixes the field. Fields whose values hold "
        f"commas ({', '.join(semicolon_fields())}) separate their list with ';'. "
        + _PRECEDENCE,
    )
    sweep.add_argument("--out", default="sweep.nc", metavar="SWEEP.nc",
                       help="where to save the Dataset (default: sweep.nc)")
    sweep.add_argument("--store", metavar="DIR", default=None,
                       help="save each finished part of the sweep in DIR; rerunning the same "
                       "sweep with the same DIR skips the parts already there")
    sweep.add_argument("--status", metavar="DIR", default=None,
                       help="print the state of the sweep in store DIR (finished, running, "
                       "failed units, time left) and exit; nothing is trained")
    add_executor_flags(sweep)
    add_sources(sweep)
    add_config_flags(sweep, sweep=True)
    sweep.set_defaults(handler=cmd_sweep)

    info = commands.add_parser(
        "info", help="summarise a saved run or sweep",
        description="Print a saved run's or sweep's config, sweep axes, accuracies, the "
        "per-layer energies at t = T of the last logged step, divergence and schema version.",
    )
    info.add_argument("path", metavar="RUN.nc", help="a netCDF file pcdiag wrote")
    info.set_defaults(handler=cmd_info)

    diagnose = commands.add_parser(
        "diagnose", help="what is wrong with a saved run or sweep, and what to try",
        description="For each run of a saved Dataset: status, accuracy against chance (and "
        "BP where known), where the energy is at T, which layers inference reaches and which "
        "learn, profiles, relaxation, conditioning; then suggestions, each tied to the "
        "finding that triggers it and to pcdiag's figures. Rules: pcdiag.measures.",
    )
    diagnose.add_argument("path", metavar="RUN.nc", help="a netCDF file pcdiag wrote")
    diagnose.add_argument("--png", metavar="SHEET.png", default=None,
                          help="also write the one-page diagnostic sheet of the run")
    diagnose.add_argument("--run", metavar="DIM=VALUE,...", default=None,
                          help="in a sweep, the run to report and draw (default: every run "
                          "in the text, the first in the sheet)")
    diagnose.add_argument("--bp", metavar="BP.nc", default=None,
                          help="a BP run of the same network, the accuracy reference")
    diagnose.set_defaults(handler=cmd_diagnose)

    for name, module in (extensions or {}).items():
        doc = (inspect.getdoc(module) or f"the {name} command").splitlines()[0]
        old = [before for before, after in RENAMED.items() if after == name]
        sub = commands.add_parser(name, aliases=old, help=doc, description=inspect.getdoc(module),
                                  formatter_class=argparse.RawDescriptionHelpFormatter)
        module.configure_parser(sub)
        sub.set_defaults(handler=module.run_cli)
    return parser


_PRECEDENCE = ("Config values, lowest precedence first: defaults < --from RUN.nc < "
               "--config FILE.toml < flags.")


# ---------------------------------------------------------------------------------------------
# extension commands (figures, speed, table1)


def _extensions_for(argv: list[str]) -> dict[str, Any]:
    """The extension modules the command line needs (they are slow to import): none for a
    built-in command, only its own for an extension command (or its old name), else all
    (`pcdiag --help`, an unknown command: the parser lists them)."""
    command = next((a for a in argv if not a.startswith("-")), None)
    if command in BUILTIN:
        return {}
    command = RENAMED.get(command, command)
    return load_extensions([command] if command in EXTENSIONS else None)


def load_extensions(names: Sequence[str] | None = None) -> dict[str, Any]:
    """Command name -> module for each of `names` (default: every one of EXTENSIONS; a name
    not there means the module `pcdiag.<name>`) whose module has both hooks; a name with no
    such module is not offered."""
    found = {}
    for name in EXTENSIONS if names is None else names:
        module_name = EXTENSIONS.get(name, f"pcdiag.{name}")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as error:
            if error.name == module_name:
                continue
            raise
        if callable(getattr(module, "configure_parser", None)) and callable(
            getattr(module, "run_cli", None)
        ):
            found[name] = module
    return found
