"""Compare the .nc files of two figure folders, as a refactor that must not change behaviour
is checked: each pair must be identical (xarray's assert_identical) apart from the volatile
attrs (created, history, pcdiag_version), config JSON fields added at their defaults and
global attrs the new side adds (listed, not compared).

    python dev/compare_figure_data.py OLD_DIR NEW_DIR
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import xarray as xr

VOLATILE = ("created", "history", "pcdiag_version")


def _without_config(old: dict, new: dict) -> dict:
    """Pop the `config` attrs; return the fields the new one adds (the rest must agree)."""
    text_old, text_new = old.pop("config", None), new.pop("config", None)
    if text_old is None or text_new is None:
        return {}
    a, b = json.loads(text_old), json.loads(text_new)
    if {k: v for k, v in b.items() if k in a} != a:
        raise AssertionError(f"config differs: {a} vs {b}")
    return {k: v for k, v in b.items() if k not in a}


def compare(old_dir: Path, new_dir: Path) -> list[str]:
    lines = []
    for path in sorted(old_dir.glob("*.nc")):
        old = xr.open_dataset(path).load()
        new = xr.open_dataset(new_dir / path.name).load()
        added = {}
        for a, b in [(old, new)] + [(old[v], new[v]) for v in old.variables]:
            added |= _without_config(a.attrs, b.attrs)
        for ds in (old, new):
            for key in VOLATILE:
                ds.attrs.pop(key, None)
        new_attrs = {key: new.attrs.pop(key) for key in list(new.attrs) if key not in old.attrs}
        xr.testing.assert_identical(old, new)
        notes = [f"config adds {added}"] if added else []
        notes += [f"new attr {key}={value!r}" for key, value in new_attrs.items()]
        lines.append(f"{path.name}: identical" + (f" ({'; '.join(notes)})" if notes else ""))
    return lines


if __name__ == "__main__":
    print("\n".join(compare(Path(sys.argv[1]), Path(sys.argv[2]))))
