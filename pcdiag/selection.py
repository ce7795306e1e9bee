"""Choosing a setting on the validation split, never on the test set.

`best_setting(ds, over=("gamma",))` returns, for each combination of the Dataset's other
sweep dims, the value(s) of the `over` dims whose runs reach the highest validation
accuracy (Config.validation_size > 0 records it: the last validation_size examples of the
official training file, held out of training). Re-exported as pcdiag.measures.best_setting.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import xarray as xr

from pcdiag import status
from pcdiag.errors import BadInputError


def best_setting(ds: xr.Dataset, over: Sequence[str] = ("gamma",),
                 by: str = "validation_accuracy", only_ok: bool = True) -> xr.Dataset:
    """For each combination of the dims not in `over`, the values of the `over` dims that
    maximise `by`, as a Dataset: one variable per `over` dim (the value chosen) and `by`
    (its score).

    The score of a setting is `by` at the final epoch (where it has an epoch dim), the
    median over the `seed` dim where there is one (and `seed` is not in `over`). A run whose
    run_status is not ok scores NaN, so with seeds a setting that fails for any seed is
    never chosen; where no setting has a score (all failed, or not run) the values are NaN.
    With `only_ok=False` run_status is not read and the median is over the seeds that
    have a score (a diverged run has none): a fallback where no setting kept every seed ok.
    Selecting by the test set is refused (BadInputError): choose on a validation split.
    """
    over = (over,) if isinstance(over, str) else tuple(over)
    if by.startswith("test"):
        raise BadInputError(
            f"best_setting(by={by!r}): selection on the test set is not allowed (it makes "
            "the test accuracy of the chosen setting optimistic); train with "
            "Config(validation_size=N) to hold out N training examples and select with "
            "by='validation_accuracy'")
    if by not in ds:
        fix = ("train with Config(validation_size=N) (N > 0) to record it"
               if by == "validation_accuracy" else "name a variable of the Dataset")
        raise BadInputError(f"best_setting(by={by!r}): the Dataset has no {by!r}; {fix}")
    missing = [d for d in over if d not in ds[by].dims]
    if missing:
        raise BadInputError(f"best_setting(over={over!r}): {by!r} has no dim(s) "
                            f"{', '.join(missing)}; its dims are {', '.join(ds[by].dims)}")
    score = ds[by]
    if "epoch" in score.dims:
        score = score.isel(epoch=-1, drop=True)
    if only_ok and "run_status" in ds:
        score = score.where(ds["run_status"] == status.OK)
    seeds = "seed" in score.dims and "seed" not in over
    if seeds:
        score = score.median("seed", skipna=not only_ok)
    stacked = score.stack(_setting=over)
    found = stacked.notnull().any("_setting")
    chosen = stacked.isel(_setting=stacked.fillna(-np.inf).argmax("_setting"))
    levels = ["_setting", *over]
    out = xr.Dataset({by: chosen.drop_vars(levels).where(found)})
    for dim in over:
        out[dim] = chosen[dim].drop_vars(levels, errors="ignore").where(found)
        out[dim].attrs = {"long_name": f"best {dim}", "comment": f"the {dim} of the highest "
                          f"{by} (final epoch{', median over seeds' if seeds else ''})"}
    return out


def at_best_gamma(ds: xr.Dataset, default: float) -> tuple[xr.Dataset, float, bool]:
    """The runs of `ds` at the state step its validation accuracy picks, the step, and
    whether some step had every seed ok: best_setting over gamma, else (no step kept every
    seed ok) best_setting(only_ok=False), else (no run has a score) `default`. A Dataset without a
    gamma dim is returned as it is, with step NaN."""
    if "gamma" not in ds.dims:
        return ds, float("nan"), True
    best = float(best_setting(ds)["gamma"])
    ok = bool(np.isfinite(best))
    if not ok:
        best = float(best_setting(ds, only_ok=False)["gamma"])
        best = best if np.isfinite(best) else default
    return ds.sel(gamma=best, drop=True), best, ok
