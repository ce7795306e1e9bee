"""Making the figures: predict the run time (`estimate`), run the experiments and write
NAME.png, NAME.pdf and NAME.nc per figure (`make_figures`), and print what the saved data say
(`summarise`) and the figures' captions (`captions`)."""

from __future__ import annotations

import datetime
import json
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import jax
import xarray as xr
from matplotlib.figure import Figure as MplFigure

import pcdiag
from pcdiag.figures.cost import COMPILE_S, RUN_EPOCH_S
from pcdiag.figures.errors import FigureError
from pcdiag.figures.experiments import Runner, SweepSpec
from pcdiag.figures.layout import draw_footnote
from pcdiag.figures.parallel import default_jobs, prefetch
from pcdiag.figures.profiles import Profile, get_profile
from pcdiag.figures.registry import Figure, resolve
from pcdiag.plot.styling import style
from pcdiag.progress import progress_bar

# --------------------------------------------------------------------------- estimate


def profile_figures(profile: str | Profile, only=None) -> list:
    """The figures `only` names; without it, the profile's own list (Profile.figures), or
    every figure."""
    own = get_profile(profile).figures
    return resolve(only if only is not None or not own else own)


def estimate(profile: str | Profile, only=None) -> tuple[float, str]:
    """Predicted seconds for make_figures(profile, only) and a table of the sweeps (each
    sweep run once, priced by its own cost model: pcdiag.figures.cost)."""
    profile = get_profile(profile)
    specs: dict[SweepSpec, None] = {}
    for figure in profile_figures(profile, only):
        specs.update(dict.fromkeys(figure.all_sweeps(profile).values()))
    lines = [f"profile {profile.name!r}: {profile.description}"]
    total = 0.0
    for spec in specs:
        seconds = spec.seconds
        total += seconds
        axes = ", ".join(f"{k}={list(v)}" for k, v in spec.axes)
        lines.append(f"  {spec.name:<16} {spec.programs:>2} program(s) x {spec.runs:>2} runs "
                     f"[{axes}]: ~{seconds / 60:.1f} min")
    lines.append(f"  estimated total: ~{total / 60:.1f} min on the reference 2-core CPU "
                 f"(from per-run costs measured there: {RUN_EPOCH_S[128]:g} s per pc "
                 f"run-epoch at width 128, {RUN_EPOCH_S[512]:g} s at 512; {COMPILE_S:g} s per "
                 "compile)")
    backend = jax.default_backend()
    if backend != "cpu":
        lines.append(f"  (jax runs on {backend} here: expect far less than the CPU estimate)")
    return total, "\n".join(lines)


# --------------------------------------------------------------------------- make & summarise


@dataclass
class Written:
    name: str
    png: Path
    pdf: Path
    nc: Path
    seconds: float
    caption: str = ""


def save_figure(fig: MplFigure, out: Path, name: str) -> tuple[Path, Path]:
    png, pdf = out / f"{name}.png", out / f"{name}.pdf"
    with style():  # ticks made while saving get the style's sizes too
        _save(fig, png, pdf)
    return png, pdf


def _save(fig: MplFigure, png: Path, pdf: Path) -> None:
    fig.savefig(png, dpi=150, bbox_inches="tight", metadata={"Software": None})
    fig.savefig(pdf, bbox_inches="tight", metadata={"CreationDate": None, "Creator": None})


def make_figures(
    profile: str | Profile = "default",
    only: str | Iterable[str] | None = None,
    out: str | Path = "figures",
    from_data: bool = False,
    *,
    progress: bool = True,
    store: bool | str | Path = True,
    executor=None,
    footnote: bool = False,
    jobs: int | None = None,
) -> list[Written]:
    """Run the experiments of the selected figures and write NAME.png, .pdf and .nc to `out`.

    With `from_data=True` nothing is trained: each figure is redrawn from `out/NAME.nc`.
    A figure with `data_from` (e.g. mechanism) reads and writes that figure's .nc instead:
    two figures that draw the same runs share one file. Sweeps shared by several figures run
    once. With `store`, sweeps keep their finished runs under `out/.store/` (or under the
    folder `store` names) so an interrupted call resumes.
    `executor` (a name or an Executor, see pcdiag.engine.executors) runs the sweeps' units:
    default in this process; "ray" and "slurm" need the store on a disk their workers see.
    `jobs` (default pcdiag.figures.parallel.default_jobs: 2 on a CPU of 2 cores or more)
    runs that many sweeps at once, each in a process of its own, into the store before the
    figures are drawn (with the store and the local executor only; 1: one after another):
    first every figure's sweeps, then their followups (`Figure.followups`).
    Each figure's caption (`Figure.caption`) is kept outside the image: in NAME.nc's attrs
    (`caption`, when the .nc is written) and in `Written.caption`; `footnote=True` also draws
    it under the image.
    """
    profile = get_profile(profile)
    figures = profile_figures(profile, only)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if from_data:
        missing = [f.name for f in figures if not (out / f"{f.file}.nc").is_file()]
        if missing:
            raise FigureError(
                f"--from-data: no data for {', '.join(missing)} in {out}; run "
                f"`pcdiag figures --only {','.join(missing)} --out {out}` first"
            )
    folder = (Path(store) if isinstance(store, (str, Path)) else out / ".store") if store else None
    runner = Runner(progress=progress, store=folder, executor=executor)
    prefetched = None
    jobs = default_jobs() if jobs is None else jobs
    if jobs < 1:
        raise FigureError(f"jobs={jobs}: must be >= 1 (1 runs the sweeps one after another "
                          "in this process; --jobs on the command line)")
    if not from_data and folder is not None and executor in (None, "local") and jobs > 1:
        start = time.perf_counter()
        if _prefetch_stages(figures, profile, runner, folder, jobs, progress):
            prefetched = {"jobs": jobs, "seconds": round(time.perf_counter() - start, 1)}
    written, saved = [], set()
    with progress_bar(len(figures), "figures", enabled=progress, unit="figure") as bar:
        for figure in figures:
            if bar is not None:
                bar.set_description(f"figure {figure.name}")
            start = time.perf_counter()
            nc = out / f"{figure.file}.nc"  # a figure with data_from shares another's file
            if from_data or figure.file in saved:
                ds = pcdiag.open_dataset(nc)
            else:
                owner = figure if figure.file == figure.name else resolve(figure.file)[0]
                ds = _label(owner.experiment(profile, runner), owner, profile)
                ds.attrs["caption"] = owner.caption(ds)
                pcdiag.save(ds, nc)
                saved.add(figure.file)
            caption = figure.caption(ds)
            fig = figure.plot(ds)
            if footnote:
                draw_footnote(fig, caption)
            png, pdf = save_figure(fig, out, figure.name)
            written.append(Written(figure.name, png, pdf, nc, time.perf_counter() - start,
                                   caption))
            if bar is not None:
                bar.update(1)
    if not from_data:
        _write_timings(out, profile, written, prefetched)
    return written


def _prefetch_stages(figures: list[Figure], profile: Profile, runner: Runner, store: Path,
                     jobs: int, progress: bool) -> bool:
    """Prefetch the figures' sweeps, then their followups (the second stage, which the first
    stage's results choose: read back from the store by `runner`), each stage `jobs` sweeps
    at a time; whether anything ran in worker processes."""
    ran = prefetch([spec for figure in figures for spec in figure.sweeps(profile).values()],
                   store, jobs, progress=progress)
    later = [spec for figure in figures
             for spec in figure.chosen_followups(profile, runner).values()]
    return prefetch(later, store, jobs, progress=progress) or ran


def _label(ds: xr.Dataset, figure: Figure, profile: Profile) -> xr.Dataset:
    """Global attrs saying which figure and profile the data belong to."""
    now = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    ds.attrs.update(
        title=f"pcdiag figure {figure.name} ({profile.name} profile): {figure.description}",
        figure=figure.name,
        profile=profile.name,
        history=f"{ds.attrs.get('history', '')}\n{now}: pcdiag figures --profile "
                f"{profile.name} --only {figure.name}".strip(),
    )
    return ds


#: timings.json's entry for the sweeps run in worker processes before the figures were drawn
#: (then each figure's own seconds are its loading and drawing).
PREFETCH_TIMING = "(sweeps in worker processes)"


def _write_timings(out: Path, profile: Profile, written: list[Written],
                   prefetched: dict | None = None) -> None:
    path = out / "timings.json"
    timings = json.loads(path.read_text()) if path.is_file() else {}
    for w in written:
        timings[w.name] = {"profile": profile.name, "seconds": round(w.seconds, 1)}
    if prefetched is not None:
        timings[PREFETCH_TIMING] = {"profile": profile.name, **prefetched,
                                    "figures": [w.name for w in written]}
    path.write_text(json.dumps(timings, indent=1, sort_keys=True) + "\n")


def summarise(out: str | Path = "figures", only=None) -> str:
    """The numeric findings of the figures whose .nc files are in `out`, as text."""
    out = Path(out)
    timings_path = out / "timings.json"
    timings = json.loads(timings_path.read_text()) if timings_path.is_file() else {}
    blocks = []
    for figure in resolve(only):
        path = out / f"{figure.file}.nc"
        if not path.is_file():
            continue
        ds = pcdiag.open_dataset(path)
        head = f"{figure.name} (profile {ds.attrs.get('profile', '?')}"
        if figure.name in timings:
            head += f", {timings[figure.name]['seconds']:g} s"
        head += f", {ds.attrs.get('gamma_convention', '?')} gamma convention)"
        blocks.append(head + "\n" + figure.summary(ds))
    if not blocks:
        return f"no figure data (.nc) in {out}"
    return "\n".join(blocks)


def captions(out: str | Path = "figures", only=None) -> str:
    """The captions of the figures whose .nc files are in `out`, as Markdown (`## NAME`, then
    the caption), computed from the data as make_figures stores them."""
    out = Path(out)
    blocks = [f"## {figure.name}\n\n{figure.caption(pcdiag.open_dataset(path))}\n"
              for figure in resolve(only) if (path := out / f"{figure.file}.nc").is_file()]
    return "\n".join(blocks) if blocks else f"no figure data (.nc) in {out}"
