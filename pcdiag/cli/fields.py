"""How config fields become command-line flags and values: one flag a field, converters,
swept lists, TOML config files, and the merged config (--from < --config < flags).

The facts about each field (its choices, whether it takes none, its list separator) come
from the field's metadata in pcdiag.config.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

import pcdiag
from pcdiag.config import (
    Config,
    ConfigError,
    choices,
    field_names,
    field_type,
    list_separator,
    nullable,
)
from pcdiag.dataset import config_of
from pcdiag.tasks import TASKS

NONE_WORDS = ("none", "null")


class UsageError(Exception):
    """Bad command-line input; main() prints it as one line and exits with 2."""


def semicolon_fields() -> list[str]:
    """The fields whose values may hold commas (a path, a per-layer list): in `sweep` their
    lists are separated by ";", e.g. --layer-precision "geometric:0.5;geometric:2"."""
    return [name for name in field_names() if list_separator(name) == ";"]


# ---------------------------------------------------------------------------------------------
# flags


def add_sources(parser: argparse.ArgumentParser) -> None:
    """--config FILE.toml and --from RUN.nc."""
    parser.add_argument("--config", dest="config_file", metavar="FILE.toml", default=None,
                        help="TOML file of config fields (flat, or under a [config] table)")
    parser.add_argument("--from", dest="from_run", metavar="RUN.nc", default=None,
                        help="start from the config stored in a saved run or sweep")


def add_config_flags(parser: argparse.ArgumentParser, *, sweep: bool) -> None:
    """One flag a config field; with `sweep`, a list of values is a swept axis."""
    group = parser.add_argument_group(
        "config fields" + (" (a comma list sweeps the field)" if sweep else ""))
    defaults = Config()
    for name in field_names():
        flag = "--" + name.replace("_", "-")
        kind = field_type(name)
        default = getattr(defaults, name)
        text = _field_help(name, kind, default)
        if kind is bool:
            group.add_argument(flag, dest=name, action=argparse.BooleanOptionalAction,
                               default=argparse.SUPPRESS, help=text)
            continue
        convert = _converter(name, kind)
        separator = list_separator(name) if sweep else None
        group.add_argument(flag, dest=name, default=argparse.SUPPRESS,
                           metavar=kind.__name__.upper(), action=_FieldAction, convert=convert,
                           separator=separator, help=text)


def _field_help(name: str, kind: type, default: Any) -> str:
    parts = [kind.__name__]
    allowed = choices(name)
    if allowed:
        parts = ["one of " + ", ".join(allowed)]
    if nullable(name):
        parts.append("or none")
    shown = "none" if default is None else default
    return f"{' '.join(parts)} (default: {shown})".replace("%", "%%")


def _converter(name: str, kind: type) -> Callable[[str], Any]:
    is_nullable = nullable(name)

    def convert(text: str) -> Any:
        if is_nullable and text.strip().lower() in NONE_WORDS:
            return None
        if kind is str:
            return text
        try:
            return kind(text.strip())
        except ValueError:
            example = {int: "an integer such as 3", float: "a number such as 0.01"}[kind]
            extra = " or none" if is_nullable else ""
            raise argparse.ArgumentTypeError(
                f"invalid {kind.__name__} value {text!r}; expected {example}{extra}"
            ) from None

    return convert


class _FieldAction(argparse.Action):
    """Store a converted config value and remember the order flags appeared in.

    With a separator (sweep), "a,b,c" becomes a list (a swept axis); "a" stays a scalar.
    """

    def __init__(self, *args, convert: Callable[[str], Any], separator: str | None, **kwargs):
        super().__init__(*args, **kwargs)
        self.convert = convert
        self.separator = separator

    def __call__(self, parser, namespace, values, option_string=None):
        text = values
        if self.separator and self.separator in text:
            pieces = text.split(self.separator)
            if pieces[-1].strip() == "":
                pieces = pieces[:-1]  # "0," is a one-value axis
            if not pieces or any(p.strip() == "" for p in pieces):
                raise argparse.ArgumentError(self, f"empty value in the list {text!r}")
            value: Any = [self._convert(p) for p in pieces]
        else:
            value = self._convert(text)
        order = list(getattr(namespace, "_field_order", []))
        if self.dest in order:
            order.remove(self.dest)  # a repeated flag: the last one wins, and its place
        order.append(self.dest)
        namespace._field_order = order
        setattr(namespace, self.dest, value)

    def _convert(self, text: str) -> Any:
        try:
            return self.convert(text)
        except argparse.ArgumentTypeError as error:
            raise argparse.ArgumentError(self, str(error)) from None


def join_negative_values(argv: list[str]) -> list[str]:
    """`--gamma -1e-3` -> `--gamma=-1e-3`: argparse takes "-1e-3" or "-1,2" for an option."""
    value_flags = {"--" + n.replace("_", "-") for n in field_names() if field_type(n) is not bool}
    out: list[str] = []
    i = 0
    while i < len(argv):
        token = argv[i]
        if token == "--":
            out.extend(argv[i:])
            break
        nxt = argv[i + 1] if i + 1 < len(argv) else None
        if token in value_flags and nxt is not None and re.match(r"-(\d|\.\d|inf|nan)", nxt, re.I):
            out.append(f"{token}={nxt}")
            i += 2
            continue
        out.append(token)
        i += 1
    return out


# ---------------------------------------------------------------------------------------------
# the config


def config_values(args: argparse.Namespace) -> tuple[dict[str, Any], str]:
    """Merged config fields (the task's defaults < --from < --config < flags) and a
    description of where from."""
    values: dict[str, Any] = {}
    if args.from_run is not None:
        run = pcdiag.open_dataset(args.from_run)
        try:
            values.update(config_of(run).to_dict())
        except ConfigError as error:
            raise ConfigError(f"--from {args.from_run}: its stored config: {error}") from None
    if args.config_file is not None:
        values.update(read_toml(args.config_file))
    values.update(explicit_fields(args))
    # a task's own defaults (pcdiag.tasks: --task generation starts from PCX's decoder
    # recipe) sit below everything given
    task = TASKS.get(values.get("task"))
    if task is not None and task.defaults:
        values = {**task.defaults, **values}
    # Values from --from are a valid config and flags are typed by argparse: unknown keys
    # and wrong types can only come from the TOML file, so it names the source.
    source = str(args.config_file) if args.config_file is not None else "command line"
    return values, source


def explicit_fields(args: argparse.Namespace) -> dict[str, Any]:
    """The config fields given on the command line, in the order they were given."""
    order = getattr(args, "_field_order", [])
    given = {name: getattr(args, name) for name in order}
    for name in field_names():  # bool flags (BooleanOptionalAction) are not in the order
        if hasattr(args, name) and name not in given:
            given[name] = getattr(args, name)
    return given


def read_toml(path: str | Path) -> dict[str, Any]:
    """Config fields from a TOML file: a flat table, or the table `[config]`."""
    path = Path(path)
    if not path.is_file():
        if path.exists():
            raise FileNotFoundError(f"{path}: not a file; give a TOML file of config fields")
        raise FileNotFoundError(f"{path}: no such config file")
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: invalid TOML: {error}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a UTF-8 text file; give a TOML file") from None
    table = data.pop("config", None)
    if table is not None:
        if not isinstance(table, dict):
            raise ConfigError(f"{path}: 'config' must be a table ([config]), got "
                              f"{type(table).__name__}")
        both = sorted(set(table) & set(data))
        if both:
            raise ConfigError(f"{path}: {', '.join(both)} set both at top level and in [config]; "
                              "keep one")
        data.update(table)
    for name in filter(nullable, field_names()):  # TOML has no null: accept "none"
        if isinstance(data.get(name), str) and data[name].strip().lower() in NONE_WORDS:
            data[name] = None
    return data


def build_config(values: dict[str, Any], source: str) -> Config:
    return Config.from_dict(values, source=source)

