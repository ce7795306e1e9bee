"""Run PCX's Table 1 recipes over seeds; print the table with seed statistics.

Each recipe (benchmarks/recipes/NAME.toml: one Table 1 cell, citing the PCX file it came
from) trains as one sweep vectorised over the seeds, with per-epoch checkpoints, so an
interrupted benchmark resumes where it stopped. The output folder gets the table (markdown,
LaTeX), the paired PC-vs-BP comparisons, a Dataset of every recipe, seed and epoch with the
energy diagnostics, and each recipe's full sweep Dataset.

    pcdiag benchmark --recipes mlp-fmnist-pc-se,mlp-fmnist-bp-se --seeds 7 --out DIR

In Python: ``pcdiag.benchmark.run(["mlp-fmnist-pc-se", "mlp-fmnist-bp-se"], seeds=7,
out="DIR")``.
"""

from pcdiag.benchmark.cli import configure_parser, run_cli
from pcdiag.benchmark.recipes import RECIPES_DIR, Recipe, available, load_recipe
from pcdiag.benchmark.runner import Result, run

__all__ = ["RECIPES_DIR", "Recipe", "Result", "available", "configure_parser", "load_recipe",
           "run", "run_cli"]
