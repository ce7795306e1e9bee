"""Test-wide settings, the two tiers and shared fixtures.

Tiers: the default tier (`pytest -q`, the README's test command) leaves out the tests marked
``slow``; ``pytest --slow`` runs every test and ``pytest --slow -m slow`` the slow tier
alone (what .ci/run runs after the default tier). A test is slow when it compiles a program
that no default test shares (a conv net, a notebook, a full figure profile) and checks
something a faster default test does not.

The CLI's on-disk XLA cache stays off unless a test turns it on (the in-process CLI tests
would otherwise fill the user's cache and set jax's global config). Instead, one test run
shares one XLA cache of its own between its worker processes (and the subprocesses they
start), so a program that two tests (or both workers' copies of a module fixture) compile is
compiled once; it is removed when the run ends. A cached executable is the one XLA compiled,
so results are the same with or without it."""

import os
import shutil
import tempfile
from pathlib import Path

import pytest

os.environ.setdefault("PCDIAG_XLA_CACHE", "off")
# Figures run their sweeps in this process (tests patch pcdiag.sweep; a worker process would
# not see the patch); tests of the parallel sweeps pass jobs themselves.
os.environ.setdefault("PCDIAG_FIGURE_JOBS", "1")
#: This run's XLA cache, named by the pytest process that starts the run (xdist's workers
#: inherit its environment, so they share it), not a folder of the machine.
RUN_CACHE = Path(os.environ.setdefault(
    "PCDIAG_TEST_XLA_CACHE", str(Path(tempfile.gettempdir()) / f"pcdiag-test-xla-{os.getpid()}")))
os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", str(RUN_CACHE))
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0.2")


def pytest_addoption(parser):
    parser.addoption("--slow", action="store_true", default=False,
                     help="run the slow tier too (tests marked slow); with -m slow, alone")


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "slow: the slow tier: left out unless pytest runs with --slow")


def pytest_sessionfinish(session):
    if "PYTEST_XDIST_WORKER" not in os.environ:  # the controller (or a run without xdist)
        shutil.rmtree(RUN_CACHE, ignore_errors=True)


def pytest_collection_modifyitems(config, items):
    if config.getoption("--slow"):
        return
    slow = [item for item in items if "slow" in item.keywords]
    if slow:  # deselected, not skipped: the summary counts them as "deselected"
        config.hook.pytest_deselected(items=slow)
        items[:] = [item for item in items if "slow" not in item.keywords]


@pytest.fixture
def clean_plot_state():
    """rcParams unchanged and no pyplot figure left open after the test (plot modules use
    it for every test: `pytestmark = pytest.mark.usefixtures("clean_plot_state")`)."""
    import matplotlib
    import matplotlib.pyplot as plt

    before = dict(matplotlib.rcParams)
    yield
    open_figures = plt.get_fignums()
    plt.close("all")
    assert open_figures == [], "a plot function left a pyplot figure open"
    changed = [k for k in before if str(before[k]) != str(matplotlib.rcParams[k])]
    assert not changed, f"rcParams changed: {changed}"


@pytest.fixture(scope="session")
def short_run():
    """pcdiag.train of tests/_tiny.py's SHORT, trained once per test run."""
    import pcdiag
    from tests._tiny import SHORT

    return pcdiag.train(SHORT)


@pytest.fixture(scope="session")
def short_sweep():
    """The gamma x seed sweep over SHORT (tests/_tiny.py), trained once per test run."""
    import pcdiag
    from tests._tiny import GAMMAS, SEEDS, SHORT

    return pcdiag.sweep(SHORT, gamma=GAMMAS, seed=SEEDS)

