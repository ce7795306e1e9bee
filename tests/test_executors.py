"""Sweeps spread over worker processes, a Ray runtime and a SLURM array (submitit's local
executor): the same 8-unit sweep on real Fashion-MNIST gives the same Dataset whichever
executor runs it; a worker killed mid-unit (Ray's, and a `processes` one) gets its unit retried
and changes nothing; two sweeps on one store run each unit once; `pcdiag.open_store` and
`pcdiag sweep --status` read a store that is half finished; a unit's runs sharded over two
devices match the unsharded ones.

Time: every executor's workers are fresh processes, and compiling the 8 programs costs about
a minute on the 2-core development machine. So the reference sweep runs in a subprocess that
keeps XLA's compiled programs in a folder of this module (JAX_COMPILATION_CACHE_DIR), and
every worker process started here reads them from there: the same compiled programs, as in
any cached run. (That fresh compilations in two processes give identical results is
tests/test_store.py::test_same_config_and_seed_give_identical_files_across_processes.)
"""

import collections
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

import pcdiag
from pcdiag import Config
from pcdiag.cli import main
from pcdiag.dataset import VOLATILE_ATTRS
from pcdiag.engine import executors
from pcdiag.engine.checkpoint import CheckpointError, CheckpointIOError
from pcdiag.engine.executors import Executor, Outcome, SweepError
from pcdiag.engine.executors.base import execute
from pcdiag.engine.plan import Plan
from pcdiag.engine.resources import ResourceError
from pcdiag.engine.store import Store, StoreError, StoreIOError, use_store
from pcdiag.errors import BadInputError, ConfigError, TransientError, retryable

ROOT = Path(__file__).resolve().parents[1]
DATA = os.environ.get("PCDIAG_DATA") or str(ROOT.parent / "shared" / "data")
#: 8 units (algorithm x width: one compiled program each) of 2 vmapped runs (gamma)
BASE = Config(train_limit=256, test_limit=1000, depth=2, batch_size=64, epochs=1,
              inference_steps=3, data_dir=DATA)
AXES = {"algorithm": ["pc", "epc", "ipc", "bp"], "width": [16, 24], "gamma": [0.05, 0.1]}
FLAGS = ["--train-limit", "256", "--test-limit", "1000", "--depth", "2",
         "--batch-size", "64", "--inference-steps", "3", "--data-dir", DATA,
         "--algorithm", "pc,epc,ipc,bp", "--width", "16,24", "--gamma", "0.05,0.1"]
TIMEOUT = 300


def stable(ds: xr.Dataset) -> xr.Dataset:
    ds = ds.copy()
    ds.attrs = {k: v for k, v in ds.attrs.items() if k not in VOLATILE_ATTRS}
    return ds


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    """Worker processes started by this module share one folder of compiled programs."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PCDIAG_DATA", DATA)
        patch.setenv("PCDIAG_XLA_CACHE", "off")  # the CLI in this process compiles nothing
        patch.setenv("JAX_COMPILATION_CACHE_DIR", str(tmp_path_factory.mktemp("xla")))
        patch.setenv("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
        yield dict(os.environ, PYTHONPATH=str(ROOT))


SWEEP = textwrap.dedent("""
    import json, sys
    import pcdiag
    from pcdiag import Config
    store, out, base, axes = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
    pcdiag.save(pcdiag.sweep(Config.from_json(base), store=store or None, **axes), out)
""")


def sweep_in_subprocess(env, store, out, axes=AXES, extra_env=None) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", SWEEP, str(store or ""), str(out), BASE.to_json(),
         json.dumps(axes)], env=env | (extra_env or {}), stderr=subprocess.PIPE, text=True)


def finish(proc: subprocess.Popen) -> None:
    _, err = proc.communicate(timeout=TIMEOUT)
    assert proc.returncode == 0, err[-3000:]


@pytest.fixture(scope="module")
def reference(env, tmp_path_factory):
    """(Dataset, store) of the sweep run by `local`, in a process of its own."""
    folder = tmp_path_factory.mktemp("reference")
    finish(sweep_in_subprocess(env, folder / "store", folder / "sweep.nc"))
    return stable(pcdiag.open_dataset(folder / "sweep.nc")), folder / "store"


def events(store: Path, kind: str) -> list[dict]:
    return [e for e in Store.attach(store).events() if e["event"] == kind]


def kill_first_claim_holder(store: Path, running: threading.Thread) -> int:
    """SIGKILL the process that holds the first claim to appear in `store` (a worker in the
    middle of a unit); returns the unit."""
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline and running.is_alive():
        for claim in store.glob("unit-*.claim"):
            try:
                info = json.loads(claim.read_text())
            except (OSError, ValueError):
                continue  # released meanwhile
            os.kill(info["pid"], signal.SIGKILL)
            return int(claim.name.split("-")[1])
        time.sleep(0.01)
    raise AssertionError("no unit was claimed")


def in_thread(fn) -> tuple[threading.Thread, dict]:
    result: dict = {}

    def target():
        try:
            result["value"] = fn()
        except BaseException as error:  # noqa: BLE001 - re-raised by the test
            result["error"] = error

    thread = threading.Thread(target=target)
    thread.start()
    return thread, result


def joined(thread: threading.Thread, result: dict):
    thread.join(TIMEOUT)
    assert not thread.is_alive(), "the sweep did not end"
    if "error" in result:
        raise result["error"]
    return result["value"]


def assert_retried_once(store: Path, unit: int, died: str) -> None:
    failed = events(store, "failed")
    assert [(e["unit"], e["attempt"], e["final"]) for e in failed] == [(unit, 1, False)]
    assert died in failed[0]["error"], failed[0]["error"]
    done = [e["unit"] for e in events(store, "done")]
    assert sorted(done) == list(range(8))  # every unit written once, the killed one included


# ------------------------------------------------------------------------ executors agree


@pytest.mark.slow  # worker processes of the CLI; the in-process retry tests are default
def test_processes_via_the_cli_with_a_worker_killed_mid_unit(env, reference, tmp_path, capsys):
    ref, _ = reference
    store, out = tmp_path / "store", tmp_path / "sweep.nc"
    thread, result = in_thread(lambda: main(
        ["sweep", *FLAGS, "--store", str(store), "--out", str(out), "--executor", "processes",
         "--workers", "2"]))
    unit = kill_first_claim_holder(store, thread)
    assert joined(thread, result) == 0
    xr.testing.assert_identical(stable(pcdiag.open_dataset(out)), ref)
    assert_retried_once(store, unit, "killed by SIGKILL")
    assert "0 diverged" in capsys.readouterr().out


@pytest.fixture(scope="module")
def ray_runtime(env):
    ray = pytest.importorskip("ray", reason="Ray is not installed: pip install 'pcdiag[ray]'")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


@pytest.mark.slow  # starts a Ray runtime
def test_ray_worker_killed_by_pid_mid_sweep_gets_its_unit_retried(ray_runtime, reference,
                                                                   tmp_path):
    ref, _ = reference
    store = tmp_path / "store"
    thread, result = in_thread(lambda: pcdiag.sweep(BASE, store=store, executor="ray",
                                                    **AXES))
    unit = kill_first_claim_holder(store, thread)
    xr.testing.assert_identical(stable(joined(thread, result)), ref)
    assert_retried_once(store, unit, "WorkerCrashedError")
    states = {u.index: u for u in Store.attach(store).status()}
    assert states[unit].state == "finished" and states[unit].attempts == 1


@pytest.mark.slow  # starts a Ray runtime (20-30 s)
def test_ray_sweep_equals_local(ray_runtime, reference, tmp_path):
    ref, _ = reference
    ds = pcdiag.sweep(BASE, store=tmp_path / "store", executor="ray", workers=2, **AXES)
    xr.testing.assert_identical(stable(ds), ref)
    assert not events(tmp_path / "store", "failed")


@pytest.mark.slow  # submitit jobs in subprocesses
def test_slurm_array_through_submitit_local_executor_equals_local(env, reference, tmp_path):
    pytest.importorskip("submitit", reason="submitit is not installed: pip install "
                        "'pcdiag[slurm]'")
    ref, _ = reference
    # 2 array tasks of 4 units each (on a cluster the default is one task per unit; here
    # it saves starting 6 more Pythons)
    slurm = executors.make("slurm", workers=2, cluster="local", units_per_task=4,
                           timeout_min=10)
    ds = pcdiag.sweep(BASE, store=tmp_path / "store", executor=slurm, **AXES)
    xr.testing.assert_identical(stable(ds), ref)
    jobs = [p for p in (tmp_path / "store" / "slurm").iterdir() if p.name.isdigit()]
    assert len(jobs) == 2  # each job has its own folder of logs
    assert len({e["pid"] for e in events(tmp_path / "store", "done")}) == 2


@pytest.mark.slow  # two sweep processes on one store
def test_two_sweeps_on_one_store_run_each_unit_once(env, reference, tmp_path):
    ref, _ = reference
    store = tmp_path / "store"
    runs = [in_thread(lambda: pcdiag.sweep(BASE, store=store, executor="processes", workers=1,
                                           **AXES)) for _ in range(2)]
    for thread, result in runs:
        xr.testing.assert_identical(stable(joined(thread, result)), ref)
    started = sorted(e["unit"] for e in events(store, "start"))
    assert started == list(range(8))  # each unit claimed once, by one sweep's worker


# ------------------------------------------------------------------------ reading a store


def half_finished(reference_store: Path, folder: Path) -> Path:
    """A copy of the reference store with units 0-3 finished, unit 4 running (a live claim),
    unit 5 failed once, 6 and 7 waiting."""
    folder.mkdir()
    shutil.copy(reference_store / "sweep.json", folder)
    shutil.copytree(reference_store / "events", folder / "events")
    done = Store.attach(reference_store)
    for unit in range(4):
        shutil.copy(done.path(unit), folder)
    half = Store.attach(folder)
    assert half.claim(4) is not None  # this process: alive
    half.log("failed", 5, error="Traceback ...\nMemoryError: out of memory", attempt=1,
             final=True)
    return folder


@pytest.mark.slow  # needs the reference sweep of a subprocess (~35 s)
def test_open_store_of_a_half_finished_sweep(reference, tmp_path):
    ref, store = reference
    ds = pcdiag.open_store(half_finished(store, tmp_path / "half"))
    pcdiag.validate(ds)
    finished = ds["finished"]
    assert finished.dims == tuple(AXES)
    # units 0-3: pc and epc at both widths (algorithm x width, in that order)
    expected = np.zeros((4, 2, 2), bool)
    expected[:2] = True
    np.testing.assert_array_equal(finished.values, expected)
    done = dict(algorithm=["pc", "epc"])
    xr.testing.assert_identical(stable(ds.drop_vars("finished")).sel(done), ref.sel(done))
    rest = dict(algorithm=["ipc", "bp"])
    assert np.all(np.isnan(ds["energy"].sel(rest))) and np.all(np.isnan(ds["test_accuracy"]
                                                                       .sel(rest)))
    assert np.all(ds["diverged_at"].sel(rest) == -1)
    # the whole store: the sweep's Dataset, every point finished
    whole = pcdiag.open_store(store)
    assert bool(whole["finished"].all())
    xr.testing.assert_identical(stable(whole.drop_vars("finished")), ref)


@pytest.mark.slow  # needs the reference sweep of a subprocess
def test_open_store_before_any_unit_finished(reference, tmp_path):
    _, store = reference
    (tmp_path / "empty").mkdir()
    shutil.copy(store / "sweep.json", tmp_path / "empty")
    ds = pcdiag.open_store(tmp_path / "empty")
    assert not ds["finished"].any() and ds["finished"].shape == (4, 2, 2)
    assert ds["algorithm"].values.tolist() == AXES["algorithm"]
    with pytest.raises(StoreError, match="not a sweep store"):
        pcdiag.open_store(tmp_path)


@pytest.mark.slow  # needs the reference sweep of a subprocess
def test_sweep_status_lists_finished_running_failed_and_time_left(reference, tmp_path,
                                                                  capsys):
    _, store = reference
    folder = half_finished(store, tmp_path / "half")
    assert main(["sweep", "--status", str(folder)]) == 0
    out = capsys.readouterr().out
    assert "8 unit(s) of 2 run(s)" in out
    assert "4 finished, 1 running, 1 failed, 0 stale, 2 waiting" in out
    assert f"running on {os.uname().nodename}:{os.getpid()}" in out
    assert "1 failed attempt(s), last: MemoryError: out of memory" in out
    assert "time left: about" in out and "at 1 unit(s) at once" in out


# ------------------------------------------------------------------------ faults, unit level


class Dying(Executor):
    """A backend whose worker for unit 1 always dies; the other units succeed (their files
    are written as a worker would)."""

    name = "dying"

    def start(self, task_fn, store):
        self.store, self.ended = store, []

    def submit(self, tasks):
        for task in tasks:
            if task.unit == 1:
                self.ended.append((task, Outcome(1, "error", "worker process 7 died (killed "
                                                  "by SIGKILL) while running the unit")))
            else:
                self.store.path(task.unit).write_bytes(b"")  # only its existence is read
                self.ended.append((task, Outcome(task.unit, "done")))

    def wait(self, timeout):
        ended, self.ended = self.ended, []
        return ended


def test_a_unit_whose_worker_keeps_dying_is_retried_then_reported(tmp_path):
    plan = Plan.of(BASE, AXES)
    with use_store(tmp_path, BASE, AXES, plan.program_axes, plan.combos) as store:
        runner = Dying(max_attempts=3)
        failed = runner.run(store, plan.units, None, BASE.to_json())
        assert list(failed) == [1] and "SIGKILL" in failed[1]
        tries = [(e["attempt"], e["final"]) for e in events(tmp_path, "failed")]
        assert tries == [(1, False), (2, False), (3, True)]
        message = executors.failure_message(store, failed, runner)
    assert "1 unit(s) of the sweep" in message and "unit 1 {'algorithm': 'pc', 'width': 24}" \
        in message and "3 attempt(s) each" in message and "--status" in message
    status = {u.index: u for u in Store.attach(tmp_path).status()}
    assert status[1].state == "failed" and status[1].attempts == 3


class Here(Executor):
    """A backend that runs each task here through base.execute, as a worker process does."""

    name = "here"

    def start(self, task_fn, store):
        self.task_fn, self.ended = task_fn, []

    def submit(self, tasks):
        self.ended += [(task, execute(self.task_fn, task)) for task in tasks]

    def wait(self, timeout):
        ended, self.ended = self.ended, []
        return ended


def test_a_transient_error_is_retried_and_bad_input_is_not(tmp_path):
    plan = Plan.of(BASE, AXES)
    tries = collections.Counter()

    def task_fn(task):
        tries[task.unit] += 1
        if task.unit == 1 and tries[1] == 1:
            raise StoreIOError("could not write unit-0001.npz (No space left on device); "
                               "free space, then rerun")
        if task.unit == 2:
            raise ConfigError("width=24 is invalid: the network needs another width")
        Store.attach(task.store).path(task.unit).write_bytes(b"")  # as a worker writes it
        return Outcome(task.unit, "done")

    with use_store(tmp_path, BASE, AXES, plan.program_axes, plan.combos) as store:
        failed = Here(max_attempts=3).run(store, plan.units, task_fn, BASE.to_json())
    assert tries[1] == 2 and Store.attach(tmp_path).finished(1)  # retried, then it worked
    assert list(failed) == [2] and tries[2] == 1  # bad input: no second attempt
    assert "ConfigError: width=24 is invalid: the network needs another width" in failed[2]
    logged = [(e["unit"], e["attempt"], e["final"]) for e in events(tmp_path, "failed")]
    assert logged == [(1, 1, False), (2, 1, True)]
    first = events(tmp_path, "failed")[0]["error"]
    assert "StoreIOError: could not write unit-0001.npz (No space left on device)" in first


def test_each_error_says_whether_to_retry():
    bad = [StoreError, executors.ExecutorError, ResourceError, CheckpointError, ConfigError]
    passing = [StoreIOError, CheckpointIOError]
    assert all(issubclass(kind, BadInputError) and not retryable(kind("x")) for kind in bad)
    assert all(issubclass(kind, TransientError) and retryable(kind("x")) for kind in passing)
    assert retryable(SweepError("units failed", {0: "x"}))  # rerunning the sweep retries them


def test_executor_settings_are_checked_by_name():
    cases = [
        (dict(executor="dask"), "executor='dask' is invalid: must be one of local, processes"),
        (dict(executor="local", workers=2), "workers=2 does not apply"),
        (dict(executor="processes", workers=0), "workers=0 is invalid"),
        (dict(executor="processes", address="auto"), "takes no address"),
        (dict(executor="slurm", cluster="pbs"), "cluster='pbs' is invalid"),
        (dict(executor="slurm", cluster="local", units_per_task=0), "units_per_task=0"),
    ]
    for kwargs, message in cases:
        with pytest.raises(executors.ExecutorError, match=message.replace("(", r"\(")):
            executors.make(**kwargs)
    with pytest.raises(executors.ExecutorError, match="give store=DIR"):
        pcdiag.sweep(BASE, executor="ray", **AXES)


def test_a_missing_extra_or_sbatch_is_named_before_anything_runs(monkeypatch):
    for module, extra in (("ray", "ray"), ("submitit", "slurm")):
        with monkeypatch.context() as patch:
            patch.setitem(sys.modules, module, None)  # as if not installed
            with pytest.raises(executors.ExecutorError,
                               match=rf"needs the '{module}' package.*pip install "
                                     rf"'pcdiag\[{extra}\]'"):
                executors.make(extra)
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(executors.ExecutorError, match="sbatch, which is not on this machine"):
        executors.make("slurm")


def test_sweep_errors_exit_1_with_one_line(monkeypatch, capsys):
    def failing(*args, **kwargs):
        raise SweepError("2 unit(s) of the sweep in /s failed", {0: "x", 1: "y"})

    monkeypatch.setattr(pcdiag, "sweep", failing)
    assert main(["sweep", "--gamma", "0.1,0.2", "--executor", "processes", "--store", "/s"]) == 1
    assert capsys.readouterr().err.strip() == ("pcdiag: error: 2 unit(s) of the sweep in /s "
                                               "failed")


# ------------------------------------------------------------------------ sharding


SHARDED = textwrap.dedent("""
    import json, sys
    import jax
    import pcdiag
    from pcdiag import Config
    from pcdiag.engine import loop
    assert len(jax.devices()) == 2, jax.devices()
    ds = pcdiag.sweep(Config.from_json(sys.argv[2]), **json.loads(sys.argv[3]))
    meshes = [mesh for _, mesh in loop._COMPILED]
    assert meshes and all(m is not None and m.devices.size == 2 for m in meshes), meshes
    pcdiag.save(ds, sys.argv[1])
""")


@pytest.mark.slow  # a subprocess with two host devices
def test_a_unit_sharded_over_two_devices_matches_the_unsharded_one(env, reference, tmp_path):
    """One unit (pc, width 16) of the reference sweep, its 2 runs sharded over a CPU split in
    two devices (one run each): one compiled program on both devices."""
    ref, _ = reference
    axes = {"algorithm": ["pc"], "width": [16], "gamma": AXES["gamma"]}
    out = tmp_path / "sharded.nc"
    proc = subprocess.run(
        [sys.executable, "-c", SHARDED, str(out), BASE.to_json(), json.dumps(axes)],
        env=env | {"XLA_FLAGS": "--xla_force_host_platform_device_count=2"},
        capture_output=True, text=True, timeout=TIMEOUT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    sharded = pcdiag.open_dataset(out)
    alone = ref.sel(algorithm=["pc"], width=[16])
    # Each device runs the same program on a batch of 1 run instead of 2, and XLA's CPU
    # matmuls may block a batch differently: measured differences are 1-2 ulp (2.4e-7 on
    # energies near 2), the float32 rounding of test_sweep.py's vmapped-vs-alone comparison
    # (its RTOL 1e-5, ATOL 2e-6 cover them); counts (accuracies, divergence) are exact.
    for name in ("energy", "energy_total", "state_grad_norm", "weight_grad_norm",
                 "weight_norm", "update_norm", "train_loss"):
        np.testing.assert_allclose(sharded[name].values, alone[name].values, rtol=1e-5,
                                   atol=2e-6, err_msg=name)
    for name in ("train_accuracy", "test_accuracy", "diverged_at"):
        np.testing.assert_array_equal(sharded[name].values, alone[name].values, err_msg=name)


def test_figures_take_the_executor_flags_and_a_store_folder(monkeypatch, tmp_path, capsys):
    from pcdiag.figures import cli as figures_cli

    calls = []
    monkeypatch.setattr(figures_cli, "estimate", lambda profile, only: (0.0, "estimate"))
    monkeypatch.setattr(figures_cli, "make_figures",
                        lambda *args, **kwargs: calls.append(kwargs) or [])
    assert main(["figures", "--profile", "quick", "--out", str(tmp_path), "--store",
                 str(tmp_path / "stores"), "--executor", "processes", "--workers", "2"]) == 0
    (kwargs,) = calls
    assert kwargs["store"] == str(tmp_path / "stores")
    runner = kwargs["executor"]
    assert runner.name == "processes" and runner.workers == 2
    assert main(["sweep", "--status", str(tmp_path)]) == 2  # not a store: one line, status 2
    assert "is not a sweep store" in capsys.readouterr().err
