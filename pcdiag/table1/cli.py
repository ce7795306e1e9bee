"""`pcdiag table1`: the command-line face of pcdiag.table1.run."""

from __future__ import annotations

import argparse

from pcdiag.cli.fields import UsageError
from pcdiag.table1.recipe import available


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--recipes", default=None, metavar="NAME,...",
                        help="comma-separated recipe names (NAME.toml in --recipes-dir) or "
                        "TOML paths (default: all)")
    parser.add_argument("--seeds", default="7", metavar="N",
                        help="number of seeds (0..N-1), or a comma list of seeds (default 7)")
    parser.add_argument("--out", default="benchmark-results", metavar="DIR",
                        help="output folder; rerunning with the same folder resumes")
    parser.add_argument("--recipes-dir", default=None, metavar="DIR",
                        help="where recipe names are looked up (default: the recipes shipped "
                        "with pcdiag, pcdiag/table1/recipes/)")
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        metavar="FIELD=VALUE", help="override a config field of every recipe "
                        "(repeatable), e.g. --set train_limit=2000 --set epochs=2 (a budget: "
                        "the MSE table's title says 'after 2 epochs (PCX: 30)')")
    parser.add_argument("--list", action="store_true", help="list the recipes and exit")
    parser.add_argument("--estimate", action="store_true",
                        help="print the time estimate and exit")


def _overrides(items: list[str]) -> dict:
    from pcdiag.config import field_names, field_type

    values = {}
    for item in items:
        name, sep, text = item.partition("=")
        name = name.strip().replace("-", "_")
        if not sep or name not in field_names():
            raise UsageError(f"--set {item!r}: expected FIELD=VALUE with a config field")
        kind = field_type(name)
        if text.strip().lower() in ("none", "null"):
            values[name] = None
        elif kind is bool:
            values[name] = text.strip().lower() in ("1", "true", "yes")
        else:
            try:
                values[name] = kind(text)
            except ValueError:
                raise UsageError(f"--set {item!r}: {text!r} is not a {kind.__name__}") from None
    return values


def _seeds(text: str):
    try:
        if "," in text:
            return [int(s) for s in text.split(",") if s.strip()]
        count = int(text)
    except ValueError:
        raise UsageError(f"--seeds {text!r}: give a count such as 7 or a list such as 0,1,2"
                         ) from None
    if count < 1:
        raise UsageError(f"--seeds {text!r}: give at least one seed")
    return count


def run_cli(args: argparse.Namespace) -> int:
    from pcdiag.table1.runner import estimate_seconds, resolve, run

    if args.list:
        for name in available(args.recipes_dir):
            print(name)
        return 0
    overrides = _overrides(args.overrides)
    seeds = _seeds(args.seeds)
    if args.estimate:
        recipes = resolve(args.recipes, args.recipes_dir, **overrides)
        n = seeds if isinstance(seeds, int) else len(seeds)
        total = sum(estimate_seconds(r, n) for r in recipes)
        print(f"{len(recipes)} recipe(s) x {n} seeds: ~{total / 60:.1f} min")
        return 0
    result = run(args.recipes, seeds, args.out, directory=args.recipes_dir, **overrides)
    files = []
    for part in (result, *result.others):  # one table per score (accuracy: no suffix)
        s = "" if part.score == "accuracy" else f"-{part.score}"
        files += [f"table{s}.md", f"table{s}.tex", f"comparisons{s}.md", f"benchmark{s}.nc"]
    print(f"saved: {result.out / files[0]}, {', '.join(files[1:])}, runs/")
    return 0
