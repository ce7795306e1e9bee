"""`pcdiag.diagnose(ds)`: from a Dataset to what is wrong and what to try.

For any Dataset pcdiag writes (any network, any algorithm, one run or a sweep), the findings
per run as an xarray Dataset (`findings`: plot them against the sweep's axes), a plain-text
report (`print(diagnosis)`; the `pcdiag diagnose` command prints it) and a one-page sheet
(`diagnosis.sheet()`); in Jupyter it shows the text and the sheet. Every number comes from
pcdiag.measures; every suggestion names the finding that triggers it and the figure that
backs it (pcdiag.diagnosis.advice).
"""

from __future__ import annotations

import base64
import html
import io
from dataclasses import dataclass, field

import numpy as np
import xarray as xr

from pcdiag.dataset import sweep_dims
from pcdiag.diagnosis.advice import Suggestion, suggestions
from pcdiag.diagnosis.findings import findings
from pcdiag.diagnosis.report import run_report

__all__ = ["Diagnosis", "Suggestion", "diagnose"]

#: Runs written out in full by str(); the rest are listed one line each.
FULL_RUNS = 8


@dataclass
class Diagnosis:
    """The diagnosis of every run of a Dataset."""

    data: xr.Dataset = field(repr=False)
    findings: xr.Dataset = field(repr=False)

    @property
    def runs(self) -> list[dict]:
        """Each run's coordinates over the sweep dims ([{}] for a single run)."""
        dims = sweep_dims(self.data)
        shape = [self.data.sizes[d] for d in dims]
        return [{d: self.data[d].values[i] for d, i in zip(dims, index)}
                for index in np.ndindex(*shape)]

    def run(self, **coords) -> xr.Dataset:
        """One run's findings (no sweep dims); coords select it (default: the first run)."""
        return self.findings.sel(self._select(coords))

    def suggestions(self, **coords) -> list[Suggestion]:
        return suggestions(self.run(**coords))

    def report(self, **coords) -> str:
        """The text for one run (coords given) or every run."""
        if coords or not sweep_dims(self.data):
            chosen = self._select(coords)
            return run_report(self.findings.sel(chosen), chosen)
        runs = self.runs
        parts = [run_report(self.findings.sel(r), r) for r in runs[:FULL_RUNS]]
        if len(runs) > FULL_RUNS:
            parts.append(f"... and {len(runs) - FULL_RUNS} more runs: diagnosis.report(**coords) "
                         "for one, diagnosis.findings for all")
        return "\n\n".join(parts)

    def verdict(self, **coords) -> str:
        """The sheet's caption for one run: its report."""
        return run_report(self.run(**coords), self._select(coords))

    def sheet(self, path=None, **coords):
        """The one-page sheet of one run (default: the first); saved to `path` if given."""
        chosen = self._select(coords)
        fig = _sheet(self.data.sel(chosen), self.findings.sel(chosen), self.verdict(**chosen))
        if path is not None:
            fig.savefig(path, dpi=150, bbox_inches="tight", metadata={"Software": None})
        return fig

    def _select(self, coords: dict) -> dict:
        dims = sweep_dims(self.data)
        unknown = [k for k in coords if k not in dims]
        if unknown:
            raise KeyError(f"run selection {unknown}: not a sweep dim of this Dataset; its "
                           f"sweep dims are {dims or 'none (a single run)'}")
        first = self.runs[0] if dims else {}
        return {**first, **coords}

    def __str__(self) -> str:
        title = self.data.attrs.get("title", "pcdiag run")
        return f"pcdiag diagnosis of {title}\n\n{self.report()}"

    def _repr_mimebundle_(self, include=None, exclude=None):
        import matplotlib.pyplot as plt

        fig = self.sheet()
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
        plt.close(fig)
        png = base64.b64encode(buffer.getvalue()).decode("ascii")
        text = str(self)
        return {"text/plain": text,
                "text/html": f"<pre>{html.escape(text)}</pre>"
                             f"<img src='data:image/png;base64,{png}'/>"}


def _sheet(ds_run, run, verdict):
    from pcdiag.diagnosis.sheet import sheet  # matplotlib only when a sheet is drawn

    return sheet(ds_run, run, verdict)


def diagnose(ds: xr.Dataset, bp: xr.Dataset | None = None) -> Diagnosis:
    """Diagnose every run of `ds` (a run or sweep pcdiag wrote); `bp`: a companion BP
    Dataset of the same network for the accuracy reference (optional)."""
    return Diagnosis(ds, findings(ds, bp))

