"""Persistent sweeps: a store keeps finished units, a rerun resumes, SIGKILL loses only the
unit in flight, and a store written by another sweep (or damaged) is refused by name."""

import importlib
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

import pcdiag
from pcdiag.dataset import VOLATILE_ATTRS
from pcdiag.engine import store as store_module
from pcdiag.engine.store import StoreError, use_store
from tests._tiny import DIVERGING, DIVERGING_AXES

units_module = importlib.import_module("pcdiag.engine.units")  # trains each unit
ROOT = Path(__file__).resolve().parents[1]
DATA = os.environ.get("PCDIAG_DATA") or str(ROOT.parent / "shared" / "data")
# tests/_tiny.py's DIVERGING, as in tests/test_divergence.py (one program for both): 2 units
# (state_optimizer) of 4 vmapped runs, one of which diverges at step 5
BASE, AXES = DIVERGING, DIVERGING_AXES


def stable(ds: xr.Dataset) -> xr.Dataset:
    ds = ds.copy()
    ds.attrs = {k: v for k, v in ds.attrs.items() if k not in VOLATILE_ATTRS}
    return ds


@pytest.fixture(scope="module")
def reference() -> xr.Dataset:
    """The same sweep run uninterrupted, without a store.

    Stored, resumed and rerun units are the same executables on the same inputs (a killed
    subprocess compiles them alike on the same machine), so they must equal it bit for bit:
    reproducibility, not the bound for different programs of tests/_tolerance.py."""
    return stable(pcdiag.sweep(BASE, **AXES))


@pytest.fixture
def counted(monkeypatch):
    """Count the units sweep() actually trains."""
    calls = []
    real = units_module.run

    def run(prog, *args, **kwargs):
        calls.append(prog)
        return real(prog, *args, **kwargs)

    monkeypatch.setattr(units_module, "run", run)
    return calls


def unit_files(store: Path) -> list[str]:
    return sorted(p.name for p in store.glob("unit-*.npz"))


def test_store_layout_and_resume_equal_uninterrupted(tmp_path, reference, counted):
    store = tmp_path / "store"
    first = stable(pcdiag.sweep(BASE, store=store, **AXES))
    xr.testing.assert_identical(first, reference)
    assert len(counted) == 2
    spec = json.loads((store / "sweep.json").read_text())
    assert spec["axes"] == AXES and spec["config"] == BASE.to_dict()
    assert [u["combo"] for u in spec["units"]] == [{"state_optimizer": "sgd"},
                                                   {"state_optimizer": "adam"}]
    files = unit_files(store)
    assert files == sorted(u["file"] for u in spec["units"])
    with np.load(store / files[0]) as unit:
        assert unit["energy"].shape[0] == 4 and "energy_ratio" not in unit.files

    # everything finished: a rerun trains nothing and gives the same Dataset
    again = stable(pcdiag.sweep(BASE, store=store, **AXES))
    xr.testing.assert_identical(again, reference)
    assert len(counted) == 2

    # one unit lost (as if killed while training it): only that unit is trained again
    (store / spec["units"][1]["file"]).unlink()
    resumed = stable(pcdiag.sweep(BASE, store=store, **AXES))
    xr.testing.assert_identical(resumed, reference)
    assert len(counted) == 3 and counted[-1].state_optimizer == "adam"


KILLED = textwrap.dedent("""
    import json, os, signal, sys
    import numpy as np
    import pcdiag
    from pcdiag import Config
    from pcdiag.engine import store
    base, axes = Config.from_json(sys.argv[2]), json.loads(sys.argv[3])
    calls = []
    real_savez = np.savez

    def savez(handle, **arrays):  # the second unit dies half-written, as a SIGKILL would leave it
        calls.append(1)
        if len(calls) == 2:
            real_savez(handle, **arrays)
            handle.truncate(handle.tell() // 2)
            handle.flush()
            os.kill(os.getpid(), signal.SIGKILL)
        return real_savez(handle, **arrays)

    store.np.savez = savez
    pcdiag.sweep(base, store=sys.argv[1], **axes)
""")


@pytest.mark.slow  # a killed subprocess
def test_sigkill_mid_write_loses_only_that_unit(tmp_path, reference, counted):
    store = tmp_path / "store"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    done = subprocess.run([sys.executable, "-c", KILLED, str(store), BASE.to_json(),
                           json.dumps(AXES)],
                          env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == -9, done.stderr
    assert len(unit_files(store)) == 1  # the first unit, whole
    assert list(store.glob(".unit-*.tmp"))  # the half-written second one, under a temp name
    resumed = stable(pcdiag.sweep(BASE, store=store, **AXES))
    xr.testing.assert_identical(resumed, reference)
    assert [p.state_optimizer for p in counted] == ["adam"]
    assert not list(store.glob(".*.tmp")) and len(unit_files(store)) == 2


def test_a_failing_unit_in_this_process_stops_the_sweep_at_once(tmp_path, monkeypatch):
    """executor 'local': the unit's exception propagates (no retry) after its claim is
    released and the failure logged; the units after it are not run."""
    real = units_module.run

    def run(prog, *args, **kwargs):
        if prog.state_optimizer == "adam":
            raise RuntimeError("out of memory in the second unit")
        return real(prog, *args, **kwargs)

    monkeypatch.setattr(units_module, "run", run)
    store = tmp_path / "store"
    with pytest.raises(RuntimeError, match="out of memory in the second unit"):
        pcdiag.sweep(BASE, store=store, **AXES)
    assert len(unit_files(store)) == 1 and not list(store.glob("*.claim"))
    failed = [e for e in store_module.Store.attach(store).events() if e["event"] == "failed"]
    assert [(e["unit"], e["attempt"], e["final"], e["executor"]) for e in failed] == [
        (1, 1, True, "local")]
    assert failed[0]["error"] == "RuntimeError: out of memory in the second unit"


def test_different_sweep_is_refused_naming_the_fields(tmp_path, reference):
    store = tmp_path / "store"
    with use_store(store, BASE, AXES, ["state_optimizer"],
                    [{"state_optimizer": "sgd"}, {"state_optimizer": "adam"}]):
        pass
    cases = [
        (dict(config=BASE.replace(width=9)), "width: store has 8, this sweep has 9"),
        (dict(axes={**AXES, "gamma": [0.1, 0.2]}), "axis gamma: store has [0.1, 10.0]"),
        (dict(axes={**AXES, "seed": [0, 1]}), "swept axes: store has"),
        (dict(axes=dict(reversed(AXES.items()))), "swept axes"),
        (dict(config=BASE.replace(epochs=2, weight_decay=0.0)), "epochs: store has 1"),
    ]
    for change, message in cases:
        config, axes = change.get("config", BASE), change.get("axes", AXES)
        with pytest.raises(StoreError, match="written by a different sweep") as error:
            pcdiag.sweep(config, store=store, **axes)
        assert message in str(error.value) and "new store folder" in str(error.value)
    # fields that change no result may differ
    same = pcdiag.sweep(BASE.replace(memory_limit_gb=20.0), store=store, **AXES)
    assert stable(same).sizes == reference.sizes


def test_bad_store_folders_are_refused(tmp_path):
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "notes.txt").write_text("mine")
    with pytest.raises(StoreError, match="not empty and is not a sweep store"):
        pcdiag.sweep(BASE, store=busy, **AXES)
    a_file = tmp_path / "file"
    a_file.write_text("")
    with pytest.raises(StoreError, match="is a file, not a folder"):
        pcdiag.sweep(BASE, store=a_file, **AXES)
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "sweep.json").write_text("{not json")
    with pytest.raises(StoreError, match="not a pcdiag sweep store description"):
        pcdiag.sweep(BASE, store=broken, **AXES)


def test_a_store_in_use_is_shared_unit_by_unit(tmp_path):
    """Two sweeps may open one store at once; a unit claimed by one (a live process) is
    refused to the other until it is released, and a dead holder's claim is taken over."""
    units = [{"state_optimizer": "sgd"}, {"state_optimizer": "adam"}]
    with use_store(tmp_path / "s", BASE, AXES, ["state_optimizer"], units) as first, \
            use_store(tmp_path / "s", BASE, AXES, ["state_optimizer"], units) as second:
        claim = first.claim(0)
        assert claim is not None and second.claim(0) is None and second.running(0)
        other = second.claim(1)
        assert other is not None  # another unit is free
        first.release(claim)
        second.release(other)
        assert not second.running(0) and second.claim(0) is not None
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True).stdout.strip()
    path = tmp_path / "s" / first.claim_path(1).name
    path.write_text(json.dumps({"token": "x", "host": store_module.HOST, "pid": int(dead)}))
    assert not first.running(1) and first.claim(1) is not None  # stale: taken over


def test_damaged_or_foreign_unit_files_are_refused(tmp_path, reference):
    one, other = tmp_path / "one", tmp_path / "other"
    pcdiag.sweep(BASE, store=one, **AXES)
    pcdiag.sweep(BASE, store=other, **AXES)
    name = unit_files(one)[0]
    (one / name).write_bytes((other / name).read_bytes())  # same unit, another store
    with pytest.raises(StoreError, match=f"{name} belongs to another store.*delete"):
        pcdiag.sweep(BASE, store=one, **AXES)
    data = (other / name).read_bytes()
    (one / name).write_bytes(data[: len(data) // 3])  # damaged behind pcdiag's back
    with pytest.raises(StoreError, match=f"{name} is unreadable.*delete"):
        pcdiag.sweep(BASE, store=one, **AXES)
    (one / name).unlink()  # the fix the message gives
    xr.testing.assert_identical(stable(pcdiag.sweep(BASE, store=one, **AXES)), reference)


REPRODUCE = textwrap.dedent("""
    import sys
    import pcdiag
    from pcdiag import Config
    pcdiag.save(pcdiag.train(Config.from_json(sys.argv[2])), sys.argv[1])
""")


@pytest.mark.slow  # two subprocesses
def test_same_config_and_seed_give_identical_files_across_processes(tmp_path):
    """Two fresh processes (each compiling on its own) write the same Dataset."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    config = BASE.replace(gamma=10.0, weight_lr=10.0).to_json()  # a run that diverges
    paths = [tmp_path / f"run{i}.nc" for i in range(2)]
    procs = [subprocess.Popen([sys.executable, "-c", REPRODUCE, str(p), config], env=env,
                              stderr=subprocess.PIPE, text=True) for p in paths]
    for proc in procs:
        assert proc.wait(timeout=300) == 0, proc.stderr.read()
        proc.stderr.close()
    first, second = (stable(pcdiag.open_dataset(p)) for p in paths)
    xr.testing.assert_identical(first, second)
    assert int(first.diverged_at) > 0  # NaNs and all
