"""`pcdiag figures` and `python -m pcdiag.figures`: options, and running them."""

from __future__ import annotations

import argparse
import sys
import time

import pcdiag
from pcdiag.cli.executor_flags import add_executor_flags, executor_kwargs
from pcdiag.engine.executors import SweepError
from pcdiag.figures.errors import FigureError
from pcdiag.figures.make import captions, estimate, make_figures, summarise
from pcdiag.figures.profiles import PROFILES
from pcdiag.figures.registry import FIGURES

#: The command's one-line description (the first line of pcdiag.figures' docstring).
DESCRIPTION = "The figure registry: each figure is an experiment (sweeps + a selection) and a plot."


def configure_parser(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the `pcdiag figures` options to `parser`."""
    parser.add_argument("--profile", choices=list(PROFILES), default="default",
                        help="experiment size: " + "; ".join(
                            f"{p.name}: {p.description}" for p in PROFILES.values()))
    parser.add_argument("--only", metavar="NAME,...", default=None,
                        help="comma-separated figure names; known: " + ", ".join(FIGURES))
    parser.add_argument("--out", metavar="DIR", default="figures",
                        help="output folder for NAME.png, NAME.pdf, NAME.nc (default: figures)")
    parser.add_argument("--from-data", action="store_true",
                        help="redraw from the .nc files in --out without training")
    parser.add_argument("--estimate", action="store_true",
                        help="print the predicted run time and exit")
    parser.add_argument("--summary", action="store_true",
                        help="print the numeric findings from the .nc files in --out and exit")
    parser.add_argument("--captions", action="store_true",
                        help="print the figures' captions (Markdown) from the .nc files in "
                        "--out and exit; make_figures also stores each in NAME.nc's attrs")
    parser.add_argument("--footnote", action="store_true",
                        help="also draw each figure's caption under the image")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.add_argument("--store", metavar="DIR", default=None,
                        help="keep the sweeps' finished units under DIR (default: OUT/.store); "
                        "with --executor ray or slurm, a folder every worker can reach")
    parser.add_argument("--jobs", metavar="N", type=int, default=None,
                        help="sweeps run at once, each in a process of its own, before the "
                        "figures are drawn (default: 2 on a CPU of 2 or more cores, else 1; "
                        "the local executor only)")
    add_executor_flags(parser)
    return parser


def run_cli(args: argparse.Namespace) -> int:
    """Run `pcdiag figures` with parsed arguments; returns the exit status."""
    try:
        only = getattr(args, "only", None)
        out = getattr(args, "out", "figures")
        if getattr(args, "summary", False):
            print(summarise(out, only))
            return 0
        if getattr(args, "captions", False):
            print(captions(out, only))
            return 0
        profile = getattr(args, "profile", "default")
        from_data = getattr(args, "from_data", False)
        if not from_data:
            _, text = estimate(profile, only)
            print(text, file=sys.stderr)
            if getattr(args, "estimate", False):
                return 0
        start = time.perf_counter()
        written = make_figures(profile, only, out, from_data,
                               progress=not getattr(args, "no_progress", False),
                               store=getattr(args, "store", None) or True,
                               footnote=getattr(args, "footnote", False),
                               jobs=getattr(args, "jobs", None),
                               **executor_kwargs(args))
    except (FigureError, pcdiag.ConfigError, pcdiag.SchemaError, FileNotFoundError) as error:
        print(f"pcdiag figures: error: {error}", file=sys.stderr)
        return 2
    except SweepError as error:
        print(f"pcdiag figures: error: {error}", file=sys.stderr)
        return 1
    for w in written:
        print(f"{w.name}: {w.png}, {w.pdf}, {w.nc} ({w.seconds:.1f} s)")
    print(f"{len(written)} figure(s) in {time.perf_counter() - start:.1f} s", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    """`python -m pcdiag.figures ...` (the same options as `pcdiag figures`)."""
    parser = configure_parser(argparse.ArgumentParser(prog="pcdiag figures",
                                                      description=DESCRIPTION))
    return run_cli(parser.parse_args(argv))
