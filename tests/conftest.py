"""Test-wide settings and shared fixtures.

The CLI's on-disk XLA cache stays off unless a test turns it on (the in-process CLI tests
would otherwise fill the user's cache and set jax's global config)."""

import os

import pytest

os.environ.setdefault("PCDIAG_XLA_CACHE", "off")


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
