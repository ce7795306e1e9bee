"""The `pcdiag` command: train | sweep | info, plus figures | bench when those modules exist.

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

from __future__ import annotations

import argparse
import dataclasses
import importlib
import inspect
import json
import math
import os
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

import numpy as np

import pcdiag
from pcdiag import config as config_module
from pcdiag.config import Config, ConfigError, field_names, field_type
from pcdiag.data import DataError
from pcdiag.dataset import SchemaError, config_of

PROG = "pcdiag"
BUILTIN = ("train", "sweep", "info")
#: Optional modules that add a subcommand through configure_parser(parser) and run_cli(args).
EXTENSIONS = ("figures", "bench")
NONE_WORDS = ("none", "null")
#: Fields whose values may hold commas (a path, a per-layer list): in `sweep` their lists are
#: separated by ";" instead, e.g. --layer-precision "geometric:0.5;geometric:2".
SEMICOLON_LISTS = ("data_dir", "layer_precision")
INPUT_ERRORS = (ConfigError, DataError, SchemaError, FileNotFoundError, tomllib.TOMLDecodeError)


class UsageError(Exception):
    """Bad command-line input; main() prints it as one line and exits with 2."""


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
        args = parser.parse_args(_join_negative_values(argv))
        if args.command in CACHED_COMMANDS:
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
    except OSError as error:  # e.g. --out not writable
        _error(str(error))
        return 1


#: commands whose compiled programs are kept on disk (not bench: it measures compilation)
CACHED_COMMANDS = ("train", "sweep", "figures")


def use_compilation_cache() -> Path | None:
    """Keep XLA's compiled programs on disk, so a later run of the same shapes (the same
    command again, another seed or gamma) starts without compiling: $PCDIAG_XLA_CACHE, else
    <user cache>/xla (see pcdiag.data); PCDIAG_XLA_CACHE=off turns it off. Returns the folder."""
    import jax

    from pcdiag.data import _cache_root

    setting = os.environ.get("PCDIAG_XLA_CACHE", "").strip()
    if setting.lower() in ("off", "0", "no", "false"):
        return None
    folder = Path(setting) if setting else _cache_root() / "xla"
    jax.config.update("jax_compilation_cache_dir", str(folder))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.2)
    return folder


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
    _add_sources(train)
    _add_config_flags(train, sweep=False)
    train.set_defaults(handler=cmd_train)

    sweep = commands.add_parser(
        "sweep", help="train a grid of networks (comma lists = swept axes)",
        description="Train every combination of the swept values; save one Dataset with a "
        "dim per swept field. A flag with a comma-separated list (e.g. --gamma 0.01,0.1; "
        "a trailing comma makes a one-value axis: --seed 0,) is a swept axis; dims follow "
        "the command-line order. A single value fixes the field. Fields whose values hold "
        f"commas ({', '.join(SEMICOLON_LISTS)}) separate their list with ';'. " + _PRECEDENCE,
    )
    sweep.add_argument("--out", default="sweep.nc", metavar="SWEEP.nc",
                       help="where to save the Dataset (default: sweep.nc)")
    sweep.add_argument("--store", metavar="DIR", default=None,
                       help="save each finished part of the sweep in DIR; rerunning the same "
                       "sweep with the same DIR skips the parts already there")
    _add_sources(sweep)
    _add_config_flags(sweep, sweep=True)
    sweep.set_defaults(handler=cmd_sweep)

    info = commands.add_parser(
        "info", help="summarise a saved run or sweep",
        description="Print a saved run's or sweep's config, sweep axes, accuracies, the "
        "per-layer energies at t = T of the last logged step, divergence and schema version.",
    )
    info.add_argument("path", metavar="RUN.nc", help="a netCDF file pcdiag wrote")
    info.set_defaults(handler=cmd_info)

    for name, module in (extensions or {}).items():
        doc = (inspect.getdoc(module) or f"the {name} command").splitlines()[0]
        sub = commands.add_parser(name, help=doc, description=inspect.getdoc(module),
                                  formatter_class=argparse.RawDescriptionHelpFormatter)
        module.configure_parser(sub)
        sub.set_defaults(handler=module.run_cli)
    return parser


_PRECEDENCE = ("Config values, lowest precedence first: defaults < --from RUN.nc < "
               "--config FILE.toml < flags.")


def _add_sources(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", dest="config_file", metavar="FILE.toml", default=None,
                        help="TOML file of config fields (flat, or under a [config] table)")
    parser.add_argument("--from", dest="from_run", metavar="RUN.nc", default=None,
                        help="start from the config stored in a saved run or sweep")


def _add_config_flags(parser: argparse.ArgumentParser, *, sweep: bool) -> None:
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
        separator = (";" if name in SEMICOLON_LISTS else ",") if sweep else None
        group.add_argument(flag, dest=name, default=argparse.SUPPRESS,
                           metavar=kind.__name__.upper(), action=_FieldAction, convert=convert,
                           separator=separator, help=text)


def _field_help(name: str, kind: type, default: Any) -> str:
    parts = [kind.__name__]
    choices = _choices(name)
    if choices:
        parts = ["one of " + ", ".join(choices)]
    if nullable(name):
        parts.append("or none")
    shown = "none" if default is None else default
    return f"{' '.join(parts)} (default: {shown})".replace("%", "%%")


def _choices(name: str) -> tuple[str, ...] | None:
    """The allowed values of a choice field, from pcdiag.config's constants (help text only)."""
    plural = name[:-1] + "ies" if name.endswith("y") else name + "s"
    value = getattr(config_module, plural.upper(), None)
    return tuple(value) if isinstance(value, tuple) else None


def nullable(name: str) -> bool:
    """Whether a field accepts None (its annotation says `| None`)."""
    annotation = {f.name: f.type for f in dataclasses.fields(Config)}[name]
    return "None" in str(annotation) or name in getattr(config_module, "NULLABLE", ())


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


def _join_negative_values(argv: list[str]) -> list[str]:
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
# extension subcommands (figures, bench)


def _extensions_for(argv: list[str]) -> dict[str, Any]:
    """Import the extension modules unless the command is a built-in one (they are slow)."""
    command = next((a for a in argv if not a.startswith("-")), None)
    if command in BUILTIN:
        return {}
    return load_extensions()


def load_extensions(names: Sequence[str] | None = None) -> dict[str, Any]:
    """name -> module for each `pcdiag.<name>` (default: EXTENSIONS) that has both hooks."""
    found = {}
    for name in EXTENSIONS if names is None else names:
        module_name = f"pcdiag.{name}"
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as error:
            if error.name == module_name:
                continue  # not written yet: the subcommand is not offered
            found[name] = _Broken(name, error)
            continue
        except Exception as error:  # a module that fails to import must not break `train`
            found[name] = _Broken(name, error)
            continue
        if callable(getattr(module, "configure_parser", None)) and callable(
            getattr(module, "run_cli", None)
        ):
            found[name] = module
    return found


class _Broken:
    """Stands in for an extension module whose import failed: the command says why."""

    def __init__(self, name: str, error: BaseException):
        self.__doc__ = f"(unavailable: pcdiag.{name} failed to import)"
        self.name, self.error = name, error

    def configure_parser(self, parser) -> None:
        parser.add_argument("rest", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)

    def run_cli(self, args) -> int:
        _error(f"pcdiag.{self.name} failed to import: "
               f"{type(self.error).__name__}: {self.error}")
        return 1


# ---------------------------------------------------------------------------------------------
# building the config


def config_values(args: argparse.Namespace) -> tuple[dict[str, Any], str]:
    """Merged config fields (--from < --config < flags) and a description of where from."""
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


# ---------------------------------------------------------------------------------------------
# train


def cmd_train(args: argparse.Namespace) -> int:
    values, source = config_values(args)
    config = build_config(values, source)
    out = _check_out(args.out)
    ds = pcdiag.train(config, progress=True)
    saved = pcdiag.save(ds, out)
    timing = getattr(pcdiag.train, "last_timing", None)
    print(train_summary(ds, config, timing, saved))
    return 0


def _check_out(out: str) -> Path:
    path = Path(out)
    if path.is_dir():
        raise UsageError(f"--out {out}: is a folder; give a file name such as {path / 'run.nc'}")
    return path


def train_summary(ds, config: Config, timing, path: Path) -> str:
    lines = [f"{ds.attrs.get('title', 'pcdiag run')}", "  epoch  train_acc  test_acc"]
    for epoch, train_acc, test_acc in zip(
        ds["epoch"].values, ds["train_accuracy"].values, ds["test_accuracy"].values
    ):
        lines.append(f"  {epoch:5d}  {_acc(train_acc):>9}  {_acc(test_acc):>8}")
    diverged = int(ds["diverged_at"])
    if diverged >= 0:
        lines.append(f"diverged at step {diverged} (later values are NaN)")
    if timing is not None and getattr(timing, "train_s", None):
        median = float(np.median(timing.train_s))
        rate = config.steps_per_epoch / median if median > 0 else math.inf
        lines.append(f"speed: {rate:.1f} steps/s ({config.steps_per_epoch} steps/epoch, "
                     f"median epoch {median:.2f} s incl. the end-of-epoch evaluation); "
                     f"compile (apart): {timing.compile_s:.2f} s")
    lines.append(f"saved: {path}")
    return "\n".join(lines)


def _acc(value) -> str:
    value = float(value)
    return "nan" if math.isnan(value) else f"{value:.4f}"


# ---------------------------------------------------------------------------------------------
# sweep


def cmd_sweep(args: argparse.Namespace) -> int:
    values, source = config_values(args)
    given = explicit_fields(args)
    axes = {name: value for name, value in given.items() if isinstance(value, list)}
    if not axes:
        raise UsageError("sweep needs at least one swept field: give a comma-separated list, "
                         "e.g. --gamma 0.01,0.1 (a trailing comma makes a one-value axis)")
    fixed = {name: value for name, value in values.items() if name not in axes}
    config = build_config(fixed, source)
    kwargs: dict[str, Any] = {}
    if args.store is not None:
        if not _accepts_keyword(pcdiag.sweep, "store"):
            raise UsageError("--store needs pcdiag.sweep(..., store=DIR), which this version of "
                             "pcdiag does not have; drop --store or update pcdiag")
        kwargs["store"] = args.store
    out = _check_out(args.out)
    ds = pcdiag.sweep(config, progress=True, **kwargs, **axes)
    saved = pcdiag.save(ds, out)
    print(sweep_summary(ds, list(axes)))
    print(f"saved: {saved}")
    return 0


def _accepts_keyword(function: Callable, name: str) -> bool:
    try:
        parameter = inspect.signature(function).parameters.get(name)
    except (TypeError, ValueError):
        return False
    return parameter is not None and parameter.kind in (
        inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)


def sweep_summary(ds, axes: list[str]) -> str:
    """Final test accuracy per combination (mean over seed if swept) and the diverged runs."""
    final = ds["test_accuracy"].isel(epoch=-1)
    diverged = ds["diverged_at"] >= 0
    shown = [a for a in axes if a != "seed"]
    if "seed" in axes:
        n_seeds = ds.sizes["seed"]
        final = final.mean("seed")  # skips diverged (NaN) seeds; the count is shown beside
        header = f"test_acc (mean of {n_seeds} seeds)"
        n_div = diverged.sum("seed")
    else:
        header, n_seeds, n_div = "test_acc", 1, diverged.astype(int)
    widths = [max(len(a), *(len(_fmt(v)) for v in ds[a].values)) for a in shown]
    lines = ["  ".join([*(a.ljust(w) for a, w in zip(shown, widths)), header, "diverged"])]
    for index in np.ndindex(*(ds.sizes[a] for a in shown)):
        where = dict(zip(shown, index))
        cells = [_fmt(ds[a].values[i]).ljust(w) for a, i, w in zip(shown, index, widths)]
        acc = _acc(final.isel(where).values)
        count = int(n_div.isel(where).values)
        lines.append("  ".join([*cells, acc.ljust(len(header)), f"{count}/{n_seeds}"]))
    runs = _diverged_runs(ds, axes)
    lines.append("diverged runs: " + ("none" if not runs else "; ".join(runs)))
    return "\n".join(lines)


def _diverged_runs(ds, axes: list[str]) -> list[str]:
    values = ds["diverged_at"].transpose(*axes).values
    out = []
    for index in zip(*np.nonzero(values >= 0)):
        label = ", ".join(f"{a}={_fmt(ds[a].values[i])}" for a, i in zip(axes, index))
        out.append(f"{label} at step {int(values[index])}")
    return out


def _fmt(value) -> str:
    if isinstance(value, (float, np.floating)):
        return f"{float(value):g}"
    if isinstance(value, bytes):
        return value.decode()
    return str(value)


# ---------------------------------------------------------------------------------------------
# info


def cmd_info(args: argparse.Namespace) -> int:
    ds = pcdiag.open_dataset(args.path)
    print(info_text(ds, args.path))
    return 0


def info_text(ds, path: str) -> str:
    config = config_of(ds)
    axes = list(json.loads(ds.attrs.get("sweep", "{}")))
    lines = [f"{path}: {ds.attrs.get('title', '')} "
             f"(pcdiag {ds.attrs.get('pcdiag_version', '?')})"]
    lines.append("config:" + ("  (base config of the sweep)" if axes else ""))
    width = max(map(len, field_names()))
    for field in dataclasses.fields(config):
        value = getattr(config, field.name)
        lines.append(f"  {field.name.ljust(width)} = {'none' if value is None else value}")
    if axes:
        lines.append("sweep axes:")
        for axis in axes:
            lines.append(f"  {axis} = {', '.join(_fmt(v) for v in ds[axis].values)}")
    else:
        lines.append("sweep axes: none (a single run)")
    if axes:
        lines.extend(_info_sweep(ds, axes, config))
    else:
        lines.extend(_info_run(ds, config))
    lines.append(f"schema_version: {ds.attrs['schema_version']}")
    return "\n".join(lines)


def _where_energies(ds) -> str:
    """Which energies the info lines show."""
    if "t" not in ds.dims:
        return "energies: none recorded"
    return (f"E_l at t = T = {int(ds['t'].values[-1])} of the last logged step "
            f"(step {int(ds['step'].values[-1])}), layer 1 first")


def _info_run(ds, config: Config) -> list[str]:
    lines = [_where_energies(ds) + ":"]
    lines.extend(_energy_lines(ds, config.algorithm, indent="  "))
    lines.append("accuracy:")
    lines.append("  epoch  train_acc  test_acc")
    for epoch, train_acc, test_acc in zip(
        ds["epoch"].values, ds["train_accuracy"].values, ds["test_accuracy"].values
    ):
        lines.append(f"  {int(epoch):5d}  {_acc(train_acc):>9}  {_acc(test_acc):>8}")
    diverged = int(ds["diverged_at"])
    lines.append(f"diverged_at: {diverged}" + (" (did not diverge)" if diverged < 0 else ""))
    return lines


def _info_sweep(ds, axes: list[str], config: Config) -> list[str]:
    n_epochs = ds.sizes["epoch"]
    lines = [f"per combination: accuracies after epoch {n_epochs}; {_where_energies(ds)}:"]
    for index in np.ndindex(*(ds.sizes[a] for a in axes)):
        where = dict(zip(axes, index))
        point = ds.isel(where)
        label = " ".join(f"{a}={_fmt(ds[a].values[i])}" for a, i in zip(axes, index))
        algorithm = str(point["algorithm"].values) if "algorithm" in axes else config.algorithm
        energy = " ".join(_energy_lines(point, algorithm, indent="", compact=True))
        lines.append(
            f"  {label}: train {_acc(point['train_accuracy'].values[-1])} "
            f"test {_acc(point['test_accuracy'].values[-1])} "
            f"diverged_at {int(point['diverged_at'])}; {energy}"
        )
    n_div = int((ds["diverged_at"] >= 0).sum())
    lines.append(f"diverged: {n_div} of {int(ds['diverged_at'].size)} runs")
    return lines


def _energy_lines(ds, algorithm: str, *, indent: str, compact: bool = False) -> list[str]:
    """Per-layer energies at t = T of the last logged step and their finite ratio range."""
    if "t" not in ds.dims or "energy" not in ds:
        return [f"{indent}no energies (record_inference false)"]
    energy = ds["energy"].isel(step=-1, t=-1).transpose("layer").values
    ratio = ds["energy_ratio"].isel(step=-1, t=-1).transpose("layer").values
    if not np.isfinite(energy).any():
        if algorithm == "bp":
            return [f"{indent}no energies (bp)"]
        return [f"{indent}energies: all NaN at the last logged step (diverged?)"]
    finite = ratio[np.isfinite(ratio)]
    digits = ".3g" if compact else ".7g"
    e_text = " ".join(format(float(e), digits) for e in energy)
    if finite.size:
        r_text = (f"min {format(float(finite.min()), digits)}, "
                  f"max {format(float(finite.max()), digits)}")
    else:
        r_text = "no finite values"
    if compact:
        return [f"E {e_text}; ratio {r_text}"]
    return [f"{indent}E_l: {e_text}",
            f"{indent}E_l/E_l+1 (finite values): {r_text}"]


if __name__ == "__main__":
    raise SystemExit(main())
