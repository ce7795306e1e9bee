"""Re-apply pcdiag.status's rules to saved figure data: list every run whose run_status (or
run_status_step) changes, and with --write rewrite the files with the new verdicts.

Uses `pcdiag.status.reclassify`: where a file was saved without energy_total (most figure
.nc files keep only what they plot), the inference check cannot be rerun, so the stored
inference_unstable verdicts are kept; everything else is classified again.

    python dev/reclassify_status.py [FOLDER (default figures)] [--write]
"""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import numpy as np
import xarray as xr

import pcdiag
from pcdiag import status as S


def changes(ds: xr.Dataset) -> tuple[list[str], xr.DataArray, xr.DataArray]:
    """Lines naming each changed run, and the new (run_status, run_status_step)."""
    status, step = S.reclassify(ds)
    old, old_step = ds["run_status"], ds["run_status_step"]
    lead = list(old.dims)
    acc = ds["test_accuracy"].isel(epoch=-1).transpose(*lead).values
    lines = []
    differs = (status.values != old.values) | (step.values != old_step.values)
    for index in zip(*np.nonzero(differs)):
        where = ", ".join(f"{d}={ds[d].values[i].item()}" for d, i in zip(lead, index))
        lines.append(f"  {where}: acc {acc[index]:.3f}, {S.NAMES[int(old.values[index])]} "
                     f"(step {int(old_step.values[index])}) -> "
                     f"{S.NAMES[int(status.values[index])]} (step {int(step.values[index])})")
    return lines, status, step


def main(argv: list[str]) -> int:
    write = "--write" in argv
    folder = Path(next((a for a in argv if not a.startswith("--")), "figures"))
    for path in sorted(folder.glob("*.nc")):
        with xr.open_dataset(path) as opened:
            if "run_status" not in opened:
                continue
            ds = opened.load()
        lines, status, step = changes(ds)
        energy = "" if "energy_total" in ds else " (no energy_total: unstable verdicts kept)"
        print(f"{path.name}: {S.counts(ds['run_status'])} -> {S.counts(status)}{energy}")
        print("\n".join(lines) if lines else "  no change")
        if write and (lines or ds["run_status"].attrs.get("comment") != status.attrs["comment"]):
            now = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
            ds = ds.assign(run_status=status, run_status_step=step)
            ds.attrs["history"] = (ds.attrs.get("history", "") + f"\n{now}: run_status "
                                   f"reclassified (dev/reclassify_status.py)").strip()
            pcdiag.save(ds, path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
