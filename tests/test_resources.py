"""Memory estimates and the refusal of runs and sweeps that would not fit, before any
data is loaded or anything compiled."""

import importlib
import math
from pathlib import Path

import pytest

import pcdiag
from pcdiag import Config, ConfigError
from pcdiag.engine import resources
from pcdiag.engine.resources import GiB, ResourceError, check, estimate, machine_memory
from pcdiag.errors import BadInputError

units_module = importlib.import_module("pcdiag.engine.units")  # loads data and trains
SMALL = Config(train_limit=6400, test_limit=500, depth=4, width=16, inference_steps=9,
               log_every=3, batch_size=32, epochs=2)
DEEP = Config(depth=64, inference_steps=100, width=128, log_every=1)  # full training set


@pytest.fixture
def nothing_runs(monkeypatch):
    """Fail the test if data is loaded or a program is compiled."""

    def forbidden(*args, **kwargs):
        raise AssertionError("loaded data or compiled before the memory check")

    monkeypatch.setattr(units_module, "load_device_data", forbidden)
    monkeypatch.setattr(units_module, "run", forbidden)


def test_estimate_follows_the_documented_formula():
    est = estimate([(SMALL, 1)])
    logged = math.ceil(200 / 3)  # 6400 / 32 = 200 steps, every 3rd logged
    per_t = 2 * (9 + 1) * 4  # energy and state_grad_norm, (T+1) x L each
    per_step = 3 * 4 + 1  # weight_grad_norm, weight_norm, update_norm, train_loss
    assert est.per_t == 4 * 2 * logged * per_t
    assert est.per_step == 4 * 2 * logged * per_step
    # chunks of 12 steps (4 logged groups of 3): 17 chunks = 204 steps = 68 logged on device
    assert est.device_records == 4 * 68 * (per_t + per_step)
    assert est.host >= 3 * (est.per_t + est.per_step)
    assert est.total == est.host + est.device_records + est.data + est.state + GiB  # runtime

    off = estimate([(SMALL.replace(record_inference=False), 1)])
    assert off.per_t == 0 and off.per_step == est.per_step
    # a sweep: runs add up; every run is padded to the widest depth and T
    wide = SMALL.replace(depth=8)
    swept = estimate([(SMALL, 3), (wide, 3)], widest=wide)
    assert swept.runs == 6
    assert swept.per_t == 6 * estimate([(wide, 1)]).per_t
    assert swept.device_records == 3 * estimate([(wide, 1)]).device_records


def test_the_estimate_counts_every_record_the_compiled_step_fills():
    """Counted from the compiled record layout: bp_cosine adds L per step, and
    hessian_condition and hessian_lambda_max 1 each."""
    plain = resources.values_per_step(SMALL)
    both = resources.values_per_step(SMALL.replace(bp_alignment=True, hessian_samples=2))
    assert plain == (2 * (9 + 1) * 4, 3 * 4 + 1)
    assert both == (plain[0], plain[1] + 4 + 2)


def test_the_deep_run_needs_under_a_gib_and_is_not_refused():
    """depth 64, T = 100, width 128, log_every = 1 on all 60000 images (937 steps)."""
    est = check(DEEP.replace(memory_limit_gb=64.0))
    assert est.per_t == 937 * 101 * 64 * 2 * 4  # 48.5 MB a copy
    assert 1.5 * GiB < est.total < 2.0 * GiB  # 1 GiB of JAX runtime, 0.46 GiB of data
    total = machine_memory()
    if total is not None and total / 2 > est.total:
        check(DEEP)  # the default limit, half of this machine's memory, lets it run


def test_too_big_a_run_or_sweep_is_refused_before_loading(nothing_runs):
    with pytest.raises(ResourceError) as error:
        pcdiag.train(SMALL.replace(memory_limit_gb=0.001))
    message = str(error.value)
    assert isinstance(error.value, BadInputError)  # never retried: it would need as much again
    assert "this run needs about" in message and "GiB" in message
    assert "limit of 0.001 GiB (memory_limit_gb=0.001)" in message
    for fix in ("raise log_every (now 3)", "fewer inference_steps (now 9)",
                "record_inference=False", "raise memory_limit_gb"):
        assert fix in message
    with pytest.raises(ResourceError, match="this sweep needs .*fewer runs per sweep"):
        pcdiag.sweep(SMALL.replace(memory_limit_gb=0.001), gamma=[0.1, 0.2], depth=[2, 4])


def test_default_limit_is_half_the_machine(monkeypatch, nothing_runs):
    monkeypatch.setattr(resources, "machine_memory", lambda: 16 * GiB)
    assert resources.limit_bytes(DEEP) == (8 * GiB, "half of this machine's 16 GiB")
    deep_sweep = DEEP.replace(epochs=5)
    with pytest.raises(ResourceError, match=r"limit of 8 GiB \(half of this machine's 16 GiB\)"):
        pcdiag.sweep(deep_sweep, seed=list(range(32)))
    # the fixes work: log every 10th step instead
    check(deep_sweep.replace(log_every=10), [(deep_sweep.replace(log_every=10), 32)],
          deep_sweep.replace(log_every=10))


def test_accelerator_memory_is_checked_apart(monkeypatch, nothing_runs):
    monkeypatch.setattr(resources, "_device_limit", lambda: 1024**2)  # a 1 MiB accelerator
    with pytest.raises(ResourceError, match="of accelerator memory, more than its"):
        pcdiag.train(SMALL)


def test_machine_memory_is_read():
    total = machine_memory()
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        line = next(t for t in meminfo.read_text().splitlines() if t.startswith("MemTotal:"))
        assert 0 < total <= int(line.split()[1]) * 1024


@pytest.mark.parametrize("value", [0, -1.0, math.nan, math.inf, "2", True])
def test_memory_limit_gb_is_validated(value):
    with pytest.raises(ConfigError, match=r"^memory_limit_gb=.* must be a finite number > 0"):
        Config(memory_limit_gb=value)
    assert Config.from_json(Config(memory_limit_gb=2).to_json()).memory_limit_gb == 2.0


def test_memory_limit_gb_cannot_be_swept():
    with pytest.raises(ConfigError, match="'memory_limit_gb' cannot be swept: it changes no"):
        pcdiag.sweep(SMALL, memory_limit_gb=[1.0, 2.0])
