"""The speed benchmark's command line: `pcdiag speed ...` (configure_parser, run_cli) and
`python -m pcdiag.speed ...` (main)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from pcdiag.speed import device
from pcdiag.speed.pcx import PCX_VENV_ENV, PCX_VERSION
from pcdiag.speed.report import format_report
from pcdiag.speed.settings import CPU_FULL_LIMITS, FULL_MODELS, MODELS, QUICK, Settings
from pcdiag.speed.suite import run_bench


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Add the speed benchmark's options to `parser` (the `pcdiag speed` subcommand)."""
    names = ", ".join(m.name for m in MODELS)
    parser.add_argument("--quick", action="store_true",
                        help="a short run (< 5 min on 2 quiet CPU cores): the two 3-layer MLPs "
                        "and VGG-5 at a quarter of PCX's channels, 3 epochs of a data subset "
                        "each, the sweep on a subset; every column still measured")
    parser.add_argument("--no-pcx", dest="pcx", action="store_false",
                        help="skip PCX (its venv, throughput and the energy comparison)")
    parser.add_argument("--out", default="bench-out/bench.json", metavar="PATH",
                        help="write all numbers as JSON here (default: bench-out/bench.json; "
                        "'-' for none)")
    parser.add_argument("--models", default=None, metavar="LIST",
                        help=f"comma-separated subset of: {names} (default: "
                        f"{','.join(FULL_MODELS)})")
    parser.add_argument("--epochs", type=int, default=None,
                        help="epochs per throughput run, the first is warm-up (default 4; "
                        "quick: 3)")
    parser.add_argument("--train-limit", type=int, default=None, metavar="N",
                        help="training examples per epoch for every model (default: all "
                        "60000; quick: a subset per model)")
    parser.add_argument("--rounds", type=int, default=None, metavar="N",
                        help="run each model's sides (pcdiag full, cadence, off, [bp,] plain "
                        "JAX, PCX) N times in turn and report medians over rounds (default: 3 "
                        "for vgg5-32, 2 for vgg5-128, 1 for the MLPs; with --quick 3 for the "
                        "MLPs)")
    parser.add_argument("--no-sweep", dest="sweep", action="store_false",
                        help="skip the 8-gamma sweep comparison")
    parser.add_argument("--data-dir", default=None, metavar="DIR",
                        help="folder holding fashion-mnist/ (default: $PCDIAG_DATA, the cache...)")
    parser.add_argument("--pcx-venv", default=None, metavar="DIR",
                        help=f"PCX {PCX_VERSION} virtual environment, made there if missing "
                        f"(default: ${PCX_VENV_ENV}, else pcx-venv in pcdiag's cache folder, "
                        "~/.cache/pcdiag unless $PCDIAG_CACHE or $XDG_CACHE_HOME say otherwise)")
    parser.add_argument("--matmul-size", type=int, default=2048, metavar="N",
                        help="size of the square f32 matmul that sets the FLOP/s reference")
    parser.add_argument("--seed", type=int, default=0)


def settings_from_args(args: argparse.Namespace) -> Settings:
    """The run's Settings from the parsed options; ValueError names a bad option."""
    known = {m.name for m in MODELS}
    models = FULL_MODELS
    if args.models:
        models = tuple(s.strip() for s in args.models.split(",") if s.strip())
        unknown = [m for m in models if m not in known]
        if unknown:
            raise ValueError(f"--models: unknown model(s) {', '.join(unknown)}; "
                             f"choose from {', '.join(sorted(known))}")
    s = Settings(quick=args.quick, pcx=args.pcx, models=models, sweep=args.sweep,
                 data_dir=args.data_dir, pcx_venv=args.pcx_venv,
                 matmul_size=args.matmul_size, seed=args.seed,
                 out=None if args.out in (None, "-") else args.out)
    if args.rounds is not None:
        if args.rounds < 1:
            raise ValueError("--rounds must be >= 1")
        s.rounds = args.rounds
    if not args.quick and device.backend() == "cpu":
        s.train_limits = {m: CPU_FULL_LIMITS[m] for m in models if m in CPU_FULL_LIMITS}
    if args.quick:
        if not args.models:
            s.models = models = QUICK["models"]
        s.epochs = QUICK["epochs"]
        s.test_limit = QUICK["test_limit"]
        if device.backend() == "cpu":  # an accelerator runs full epochs in well under a second
            s.train_limits = {m: QUICK[m] for m in models}
            s.sweep_train_limit = QUICK["sweep_train_limit"]
    if args.epochs is not None:
        if args.epochs < 2:
            raise ValueError("--epochs must be >= 2: the first epoch is warm-up")
        s.epochs = args.epochs
    if args.train_limit is not None:
        s.train_limits = {m: args.train_limit for m in models}
        s.sweep_train_limit = args.train_limit
    return s


def run_cli(args: argparse.Namespace) -> int:
    """Run the benchmark; print the table and targets; write JSON. 0 unless it broke."""
    try:
        settings = settings_from_args(args)
    except ValueError as err:
        print(f"pcdiag speed: error: {err}", file=sys.stderr)
        return 2
    result = run_bench(settings)
    print()
    print(format_report(result))
    if settings.out:
        out = Path(settings.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=1, default=_json_default) + "\n")
        print(f"\nwrote {out}")
    return 0


def _json_default(value):
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)


def main(argv: list[str] | None = None, prog: str = "pcdiag speed") -> int:
    """`python -m pcdiag.speed ...`, the same as `pcdiag speed ...`."""
    package = sys.modules[__package__]  # pcdiag.speed, loaded first; its docstring is the help
    parser = argparse.ArgumentParser(prog=prog, description=package.__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    configure_parser(parser)
    return run_cli(parser.parse_args(argv))

