"""The built-in commands: train, sweep (and sweep --status), info (each parses nothing: it
gets argparse's args)."""

from __future__ import annotations

import argparse
from pathlib import Path

import pcdiag
from pcdiag.cli.executor_flags import executor_kwargs
from pcdiag.cli.fields import UsageError, build_config, config_values, explicit_fields
from pcdiag.cli.summaries import info_text, store_status, sweep_summary, train_summary
from pcdiag.engine.store import Store


def cmd_train(args: argparse.Namespace) -> int:
    values, source = config_values(args)
    config = build_config(values, source)
    out = _check_out(args.out)
    ds, timing = pcdiag.train_with_timing(config, progress=True)
    saved = pcdiag.save(ds, out)
    print(train_summary(ds, config, timing, saved))
    return 0


def cmd_sweep(args: argparse.Namespace) -> int:
    if args.status is not None:
        print(store_status(Store.attach(args.status)))
        return 0
    values, source = config_values(args)
    given = explicit_fields(args)
    axes = {name: value for name, value in given.items() if isinstance(value, list)}
    if not axes:
        raise UsageError("sweep needs at least one swept field: give a comma-separated list, "
                         "e.g. --gamma 0.01,0.1 (a trailing comma makes a one-value axis)")
    fixed = {name: value for name, value in values.items() if name not in axes}
    config = build_config(fixed, source)
    out = _check_out(args.out)
    ds = pcdiag.sweep(config, progress=True, store=args.store, **executor_kwargs(args), **axes)
    saved = pcdiag.save(ds, out)
    print(sweep_summary(ds, list(axes)))
    print(f"saved: {saved}")
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    ds = pcdiag.open_dataset(args.path)
    print(info_text(ds, args.path))
    return 0


def cmd_diagnose(args: argparse.Namespace) -> int:
    ds = pcdiag.open_dataset(args.path)
    bp = pcdiag.open_dataset(args.bp) if args.bp else None
    diagnosis = pcdiag.diagnose(ds, bp=bp)
    coords = _run_selection(args.run, diagnosis)
    print(diagnosis.report(**coords) if coords else str(diagnosis))
    if args.png:
        import matplotlib.pyplot as plt

        plt.close(diagnosis.sheet(args.png, **coords))
        print(f"sheet: {args.png}")
    return 0


def _run_selection(text: str | None, diagnosis) -> dict:
    """--run gamma=0.1,seed=0 -> {"gamma": 0.1, "seed": 0}, matched to the sweep's values."""
    if not text:
        return {}
    coords = {}
    for item in text.split(","):
        name, _, value = item.partition("=")
        if name not in diagnosis.data.dims or not value:
            raise UsageError(f"--run {text}: {item!r} must be DIM=VALUE with DIM one of the "
                             f"sweep dims {list(diagnosis.runs[0]) or '(none: a single run)'}")
        values = diagnosis.data[name].values
        matches = [v for v in values if str(v) == value or _same_number(v, value)]
        if not matches:
            raise UsageError(f"--run {text}: {name} has no value {value}; its values are "
                             f"{[str(v) for v in values]}")
        coords[name] = matches[0]
    return coords


def _same_number(stored, text: str) -> bool:
    try:
        return float(stored) == float(text)
    except (TypeError, ValueError):
        return False


def _check_out(out: str) -> Path:
    path = Path(out)
    if path.is_dir():
        raise UsageError(f"--out {out}: is a folder; give a file name such as {path / 'run.nc'}")
    return path
