"""PCX's Table 1: run its recipes over seeds; print the table with seed statistics.

Each recipe (pcdiag/table1/recipes/NAME.toml, shipped with pcdiag: one Table 1 cell, citing
the PCX file it came from) trains as one sweep vectorised over the seeds, with per-epoch
checkpoints, so an interrupted run resumes where it stopped. The output folder gets the
table (markdown, LaTeX), the paired PC-vs-BP comparisons, a Dataset of every recipe, seed and
epoch with the energy diagnostics, and each recipe's full sweep Dataset.

The ``ae-*`` recipes are PCX's generative benchmark (the linear decoder of section 4.2, PC,
iPC and the BP autoencoder): their score is the test MSE (their task's, pcdiag.tasks), lower
is better; they get a table of their own (``table-mse.md``, ``comparisons-mse.md`` with PC vs
BP, iPC vs BP and PC vs iPC, ``benchmark-mse.nc``), also in a run mixed with Table 1's.

    pcdiag table1 --recipes mlp-fmnist-pc-se,mlp-fmnist-bp-se --seeds 7 --out DIR

In Python: ``pcdiag.table1.run(["mlp-fmnist-pc-se", "mlp-fmnist-bp-se"], seeds=7,
out="DIR")``. (`pcdiag benchmark` and ``pcdiag.benchmark``, its names before pcdiag 0.2,
still work.)
"""

from pcdiag.table1.cli import configure_parser, run_cli
from pcdiag.table1.recipe import RECIPES_DIR, Recipe, RecipeError, available, load_recipe
from pcdiag.table1.runner import Result, run

__all__ = ["RECIPES_DIR", "Recipe", "RecipeError", "Result", "available", "configure_parser",
           "load_recipe", "run", "run_cli"]
