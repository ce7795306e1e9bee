"""Saved figure data made before `selection_all_ok` was NaN where no state step was chosen
(BP, a published step, a cell not run: pcdiag.figures.experiments.with_step_grid wrote 1
there): list each such cell, and with --write set it to NaN with the new comment.

A cell counts as not chosen where its `step_validation_accuracy` is NaN for every seed and
step, which with_step_grid writes exactly where nothing was chosen.

    python dev/unchosen_steps.py [FOLDER ...] (default figures figures/long) [--write]
"""

from __future__ import annotations

import datetime as dt
import re
import sys
from pathlib import Path

import numpy as np
import xarray as xr

import pcdiag
from pcdiag.figures.experiments import selection_all_ok_attrs


def main(argv: list[str]) -> int:
    write = "--write" in argv
    folders = [Path(a) for a in argv if not a.startswith("--")] or [Path("figures"),
                                                                     Path("figures/long")]
    for path in sorted(p for folder in folders for p in folder.glob("*.nc")):
        with xr.open_dataset(path) as opened:
            if "selection_all_ok" not in opened:
                continue
            ds = opened.load()
        ok = ds["selection_all_ok"]
        unchosen = ds["step_validation_accuracy"].isnull().all(["seed", "gamma_grid"])
        what = re.search(r"then the (\w+)'s step", ok.attrs["comment"]).group(1)
        new = ok.where(~unchosen)
        new.attrs = selection_all_ok_attrs(what)
        cells = [", ".join(f"{d}={ds[d].values[i].item()}" for d, i in zip(ok.dims, index))
                 for index in zip(*np.nonzero((unchosen & ok.notnull()).values))]
        print(f"{path}: {len(cells)} cells where no step was chosen and not NaN")
        for c in cells:
            print(f"  {c}")
        if write and (cells or ok.attrs != new.attrs):
            now = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
            ds["selection_all_ok"] = new
            ds.attrs["history"] = (ds.attrs.get("history", "") + f"\n{now}: selection_all_ok "
                                   "NaN where no step was chosen (dev/unchosen_steps.py)"
                                   ).strip()
            pcdiag.save(ds, path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
