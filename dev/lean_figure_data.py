"""Rewrite saved figure data to the lean form the figures' `data` functions now save, without
retraining: each .nc keeps what its figure draws and what figures/README.md cites (issue 20,
item 6), and two figures that draw the same runs share one file.

Applies the same selection functions the figures use to the files in FOLDER, then checks
that every value kept is bit-identical to the old file's (NaN in the same places), that each
figure's summary and caption read the same from the new file, and (with --write) replaces
the files; `mechanism.nc` is removed once its variables are shown equal to
`accuracy_vs_gamma.nc`'s, which `mechanism` now reads (Figure.data_from).

    python dev/lean_figure_data.py [FOLDER (default figures)] [--write]
"""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import xarray as xr

import pcdiag
from pcdiag import figures
from pcdiag.dataset import LEFT_OUT
from pcdiag.figures.depth.energy import lean_energy_data
from pcdiag.figures.experiments import keep
from pcdiag.figures.gamma.accuracy import ACCURACY_VARS, lean_by_width
from pcdiag.figures.gamma.energy import lean_ratio_data

#: figure name -> the selection its `data` function applies (the same function).
LEAN: dict[str, Callable[[xr.Dataset], xr.Dataset]] = {
    "energy_propagation": lean_energy_data,
    "energy_ratio_vs_gamma": lean_ratio_data,
    "accuracy_vs_gamma_by_width": lean_by_width,
    "accuracy_vs_gamma_state_optimizer": lambda ds: keep(ds, *ACCURACY_VARS),
    "accuracy_vs_gamma_pcx": lambda ds: keep(ds, *ACCURACY_VARS),
    "learning_curves": lambda ds: keep(ds, *ACCURACY_VARS),
}
#: A file whose figure now reads another's: name -> the file it reads.
SHARED = {"mechanism": "accuracy_vs_gamma"}


def same_where_kept(new: xr.DataArray, old: xr.DataArray) -> bool:
    """Every value `new` holds equals `old`'s bit for bit (same dtype, coords and dims)."""
    old = old.transpose(*new.dims)
    kept = new.notnull().values
    same_coords = all(np.array_equal(new[d].values, old[d].values) for d in new.dims)
    return (new.dtype == old.dtype and same_coords
            and bool(np.array_equal(new.values[kept], old.values[kept])))


def check(name: str, old: xr.Dataset, new: xr.Dataset) -> list[str]:
    """What differs between the kept values of `new` and `old` (empty: nothing)."""
    problems = []
    for var in new.data_vars:
        if str(var).startswith("bp_"):  # BP once: equal to every gamma's copy of the old file
            base = old[str(var)[3:]].sel(algorithm="bp")
            for g in old["gamma"].values:
                if not same_where_kept(new[var], base.sel(gamma=g, drop=True)):
                    problems.append(f"{name}: {var} differs from BP at gamma {g:g}")
            continue
        ref = old[var].sel(algorithm="pc", drop=True) if "algorithm" in old[var].dims else old[var]
        if not same_where_kept(new[var], ref):
            problems.append(f"{name}: {var} differs")
        full = new[var].notnull().sum().item() == ref.notnull().sum().item()
        if not full and var not in ("energy", "energy_ratio"):
            problems.append(f"{name}: {var} lost values")
    figure = figures.FIGURES[name]
    if figure.summary(new) != figure.summary(old):
        problems.append(f"{name}: the summary changed")
    if figure.caption(new) != figure.caption(old):
        problems.append(f"{name}: the caption changed")
    return problems


def main(argv: list[str]) -> int:
    write = "--write" in argv
    folder = Path(next((a for a in argv if not a.startswith("--")), "figures"))
    problems = []
    now = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    for name, lean in LEAN.items():
        path = folder / f"{name}.nc"
        old = pcdiag.open_dataset(path)
        if LEFT_OUT in old.attrs:
            print(f"{name}: already lean")
            continue
        new = lean(old)
        tmp = folder / f".{name}.lean.nc"
        pcdiag.save(new, tmp)
        reopened = pcdiag.open_dataset(tmp)
        found = check(name, old, reopened)
        problems += found
        print(f"{name}: {path.stat().st_size / 1e6:.2f} MB -> {tmp.stat().st_size / 1e6:.2f} MB"
              f"{'; ' + '; '.join(found) if found else ', every kept value bit-identical'}")
        if write and not found:
            new.attrs["history"] = (f"{new.attrs.get('history', '')}\n{now}: lean selection "
                                    "(dev/lean_figure_data.py, nothing retrained)").strip()
            pcdiag.save(new, path)
        tmp.unlink()
    for name, owner in SHARED.items():
        path = folder / f"{name}.nc"
        if not path.is_file():
            continue
        a, b = pcdiag.open_dataset(path), pcdiag.open_dataset(folder / f"{owner}.nc")
        same = set(a.data_vars) == set(b.data_vars) and all(
            a[v].identical(b[v]) for v in a.data_vars)
        print(f"{name}.nc: {'the same data as' if same else 'DIFFERS from'} {owner}.nc")
        if not same:
            problems.append(f"{name}: not the same data as {owner}")
        elif write:
            path.unlink()
    if problems:
        print("not written:\n  " + "\n  ".join(problems), file=sys.stderr)
        return 1
    if not write:
        print("(dry run: add --write to replace the files)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
