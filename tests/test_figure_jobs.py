"""`pcdiag figures` runs its sweeps in worker processes (pcdiag.figures.parallel): the same
data as one process, errors named, the setting checked."""

import json
import os
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from pcdiag import Config, figures
from pcdiag.dataset import VOLATILE_ATTRS
from pcdiag.figures import parallel
from pcdiag.figures.errors import FigureError
from pcdiag.figures.experiments import SweepSpec
from pcdiag.figures.generative.profile import reconstruction_specs
from pcdiag.figures.make import PREFETCH_TIMING

REAL = Path(
    os.environ.get("PCDIAG_DATA") or Path(__file__).resolve().parents[2] / "shared" / "data"
).resolve()


def test_jobs_come_from_the_environment_or_the_cores(monkeypatch):
    monkeypatch.setenv(parallel.JOBS_VARIABLE, "3")
    assert parallel.default_jobs() == 3
    monkeypatch.delenv(parallel.JOBS_VARIABLE)
    monkeypatch.setattr(os, "cpu_count", lambda: 4)
    assert parallel.default_jobs() == 2  # jax runs on the CPU in the test suite
    monkeypatch.setattr(os, "cpu_count", lambda: 1)
    assert parallel.default_jobs() == 1


@pytest.mark.parametrize("value", ["0", "two", "-1"])
def test_a_bad_jobs_setting_names_the_variable_and_the_rule(monkeypatch, value):
    monkeypatch.setenv(parallel.JOBS_VARIABLE, value)
    with pytest.raises(FigureError, match=f"PCDIAG_FIGURE_JOBS='{value}': must be a whole "
                                          "number >= 1"):
        parallel.default_jobs()


def test_jobs_below_one_are_refused_before_anything_runs(tmp_path):
    with pytest.raises(FigureError, match=r"jobs=0: must be >= 1 .*--jobs"):
        figures.make_figures("quick", only="remedies_vs_depth", out=tmp_path, jobs=0,
                             progress=False)
    assert not list(tmp_path.glob("*.nc"))


def test_only_sweeps_that_keep_their_result_in_the_store_are_prefetched():
    plain = SweepSpec.make("plain", Config(), gamma=[0.1])
    assert parallel.storable(plain)
    assert not parallel.storable(reconstruction_specs("quick")["reconstructions"])


def _stable(ds: xr.Dataset) -> xr.Dataset:
    ds = ds.copy()
    ds.attrs = {k: v for k, v in ds.attrs.items() if k not in (*VOLATILE_ATTRS, "history")}
    return ds


@pytest.mark.slow  # two worker processes (jax imported and programs compiled in each)
@pytest.mark.skipif(not (REAL / "mnist").is_dir(), reason="MNIST not found")
def test_two_jobs_write_the_same_data_as_one(tmp_path, monkeypatch):
    """remedies_vs_depth at the quick profile: 12 sweeps of one program each."""
    monkeypatch.setenv("PCDIAG_DATA", str(REAL))
    one = figures.make_figures("quick", only="remedies_vs_depth", out=tmp_path / "one",
                               jobs=1, progress=False)
    two = figures.make_figures("quick", only="remedies_vs_depth", out=tmp_path / "two",
                               jobs=2, progress=False)
    assert len(list((tmp_path / "two" / ".store").iterdir())) == 12  # the workers' sweeps
    timing = json.loads((tmp_path / "two" / "timings.json").read_text())[PREFETCH_TIMING]
    assert timing["jobs"] == 2 and timing["seconds"] > 0
    assert timing["figures"] == ["remedies_vs_depth"]
    assert PREFETCH_TIMING not in json.loads((tmp_path / "one" / "timings.json").read_text())
    xr.testing.assert_identical(_stable(xr.open_dataset(one[0].nc)),
                                _stable(xr.open_dataset(two[0].nc)))


@pytest.mark.slow  # a worker process
def test_a_failing_sweep_in_a_worker_is_raised_with_its_message(tmp_path):
    good = SweepSpec.make("good", Config(train_limit=128, test_limit=100, depth=2, width=8,
                                         inference_steps=2, data_dir=str(REAL)), gamma=[0.1])
    bad = SweepSpec.make("bad", good.config.replace(data_dir=str(tmp_path / "nowhere")),
                         gamma=[0.1])
    with pytest.raises(Exception, match="nowhere"):
        parallel.prefetch([good, bad], tmp_path / "store", 2, progress=False)
    assert (tmp_path / "store" / good.key).is_dir()  # the other sweep's result is kept


@pytest.mark.slow  # worker processes
def test_two_failing_sweeps_raise_one_error_after_every_sweep_ran(tmp_path):
    """Both bad sweeps fail; one of their errors is raised once the good sweep has run."""
    good = SweepSpec.make("good", Config(train_limit=128, test_limit=100, depth=2, width=8,
                                         inference_steps=2, data_dir=str(REAL)), gamma=[0.1])
    bad = [SweepSpec.make(f"bad{i}", good.config.replace(data_dir=str(tmp_path / f"nowhere{i}")),
                          gamma=[0.1]) for i in (1, 2)]
    with pytest.raises(Exception, match="nowhere[12]"):
        parallel.prefetch([*bad, good], tmp_path / "store", 2, progress=False)
    assert (tmp_path / "store" / good.key).is_dir()


@pytest.mark.slow  # worker processes
@pytest.mark.skipif(not (REAL / "mnist").is_dir(), reason="MNIST not found")
def test_a_second_stage_runs_in_workers_at_the_setting_the_first_stage_chose(tmp_path):
    """A figure's followups (Figure.followups) are prefetched after its sweeps, in worker
    processes, at the setting the first stage's results chose (here: the weight step of the
    higher final test accuracy, of 1e-9, too small to learn, and 0.001). (One sweep alone
    is not prefetched: it runs in the figure's process, as it would anyway.)"""
    from pcdiag.figures import make
    from pcdiag.figures.experiments import Runner
    from pcdiag.figures.profiles import get_profile
    from pcdiag.figures.registry import Figure

    base = Config(dataset="mnist", train_limit=512, test_limit=200, depth=2, width=16,
                  inference_steps=4, data_dir=str(REAL))
    first = {"screen": SweepSpec.make("screen", base, weight_lr=[1e-9, 0.001]),
             "other": SweepSpec.make("other", base.replace(algorithm="bp"), seed=[0])}
    chosen = []

    def followups(profile, results):
        acc = results["screen"].test_accuracy.isel(epoch=-1)
        lr = float(acc["weight_lr"][int(np.argmax(acc.values))])
        chosen.append(lr)
        return {"rest": SweepSpec.make("rest", base.replace(weight_lr=lr), seed=[1, 2]),
                "rest-bp": SweepSpec.make("rest-bp", base.replace(algorithm="bp",
                                                                  weight_lr=lr), seed=[1])}

    figure = Figure("staged", "a two-stage test figure", lambda p: first, lambda p, r: None,
                    lambda ds: None, followups=followups)
    store = tmp_path / "store"
    assert make._prefetch_stages([figure], get_profile("quick"), Runner(store=store), store,
                                 2, False)
    rest = followups(None, Runner(store=store)(first))["rest"]
    assert chosen == [0.001, 0.001]  # the run that learns, read back from the store both times
    pids = {e["pid"] for f in (store / rest.key / "events").iterdir()
            for e in map(json.loads, f.read_text().splitlines())}
    assert pids and os.getpid() not in pids  # run by a worker, before any figure was drawn
