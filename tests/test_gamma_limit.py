"""The state-step limit predicted from the inference Hessian on the γ figures
(pcdiag.figures.gamma.limit): the probe sweeps (the figures' network, priced by the cost
model), the predicted limit from known lambda_max values, the committed .nc against
pcdiag.measures.step_limit of its own stored lambda_max, and the overlay drawn. The known
answer of the probe itself (a linear network: lambda_max = 1 + sigma_max(W)^2, and a state
step above 2 / lambda_max blowing inference up) is tests/test_hessian.py's."""

import json
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

import pcdiag
from pcdiag import figures, measures
from pcdiag.figures.gamma import limit
from pcdiag.figures.gamma.profile import pc_spec
from pcdiag.figures.profiles import PROFILES
from pcdiag.status import DIVERGED, OK, UNSTABLE

COMMITTED = Path(__file__).resolve().parents[1] / "figures"
OVERLAID = {"accuracy_vs_gamma": "weight_optimizer", "energy_ratio_vs_gamma": "weight_optimizer",
            "accuracy_vs_gamma_state_optimizer": "state_optimizer"}


@pytest.mark.parametrize("profile", ["quick", "default"])
def test_the_probe_is_the_figures_network_and_the_cost_model_prices_it(profile):
    p = PROFILES[profile]
    for opt in ("momentum", "adamw"):
        spec = limit.probe_spec(p, opt)
        figure = pc_spec(p, opt).config
        assert spec.config.replace(hessian_samples=0, log_every=figure.log_every) == figure
        assert dict(spec.axes) == {"gamma": (limit.probe_gamma(p),), "seed": p.seeds[:1]}
        assert limit.probe_gamma(p) in p.gammas
        assert spec.config.hessian_samples == limit.PROBE_SAMPLES
        logged = -(-spec.config.steps_per_epoch // spec.config.log_every)
        assert logged == limit.PROBE_LOGS
        off = type(spec)(spec.name, spec.config.replace(hessian_samples=0), spec.axes)
        assert spec.seconds > off.seconds
    _, text = figures.estimate(profile, only="accuracy_vs_gamma,energy_ratio_vs_gamma,"
                                            "accuracy_vs_gamma_state_optimizer")
    assert "probe-momentum" in text and "probe-adamw" in text


def fake_probe(lams, status: int, momentum: float | None = None) -> xr.Dataset:
    """A probe sweep's output: hessian_lambda_max over (gamma = 0.1, seed = 0, step)."""
    lams = np.asarray(lams, "float32")
    config = {"gamma_convention": "per_sample", "state_optimizer": "sgd", "hessian_samples": 4,
              "log_every": 3, "batch_size": 64}
    if momentum is not None:
        config |= {"state_optimizer": "momentum", "state_momentum": momentum}
    return xr.Dataset(
        {"hessian_lambda_max": (("gamma", "seed", "step"), lams[None, None, :]),
         "run_status": (("gamma", "seed"), np.full((1, 1), status, "int8"))},
        coords={"gamma": [0.1], "seed": [0], "step": np.arange(lams.size) * 3},
        attrs={"config": json.dumps(config)})


def test_the_predicted_limit_is_the_median_of_the_late_probed_steps():
    """Eight probed steps: the second half gives the line (median) and band (min-max); step 0
    is the untrained net; momentum 0.4 widens each limit by 1.4; a failed probe run (a broken
    net's Hessian) predicts nothing."""
    lams = [2, 3, 3, 3, 4, 4, 5, 8]
    probe = limit.probe_data({"probe-adamw": fake_probe(lams, OK)}, ("adamw",))
    cell = probe.sel(weight_optimizer="adamw")
    np.testing.assert_allclose(cell["probe_limit"], 2 / np.array(lams), rtol=1e-6)
    np.testing.assert_allclose(float(cell["predicted_limit"]), 0.45, rtol=1e-6)
    np.testing.assert_allclose(float(cell["predicted_limit_low"]), 0.25, rtol=1e-6)
    np.testing.assert_allclose(float(cell["predicted_limit_high"]), 0.5, rtol=1e-6)
    np.testing.assert_allclose(float(cell["predicted_limit_init"]), 1.0, rtol=1e-6)
    assert float(cell["probe_gamma"]) == 0.1
    momentum = limit.probe_data({"probe-m": fake_probe(lams, OK, 0.4)}, ("m",))
    np.testing.assert_allclose(float(momentum["predicted_limit_init"].squeeze()), 1.4,
                               rtol=1e-6)
    for failed in (UNSTABLE, DIVERGED):
        broken = limit.probe_data({"probe-a": fake_probe(lams, failed)}, ("a",))
        assert np.isnan(float(broken["predicted_limit"].squeeze()))


def committed(name):
    path = COMMITTED / f"{figures.FIGURES[name].file}.nc"
    ds = pcdiag.open_dataset(path)
    if "predicted_limit" not in ds:
        pytest.skip(f"{path.name} has no probe")
    return ds


@pytest.mark.parametrize("name", sorted(OVERLAID))
def test_committed_limit_is_step_limit_of_the_stored_lambda_max(name):
    ds = committed(name)
    dim = OVERLAID[name]
    for value in ds[dim].values:
        cell = ds.sel({dim: value})
        if not np.isfinite(float(cell["predicted_limit"])):
            assert value == "adam"  # no fixed-step limit
            continue
        run = xr.Dataset({"hessian_lambda_max": cell["probe_lambda_max"]},
                         attrs={"config": ds.attrs["config"]}).rename(probe_step="step")
        if dim == "weight_optimizer":
            run = run.drop_vars([c for c in run.coords if c not in run.dims])
        recomputed = measures.step_limit(run)["limit"].rename(step="probe_step")
        np.testing.assert_allclose(cell["probe_limit"], recomputed, rtol=1e-12)
        late = limit.late_limits(cell)
        np.testing.assert_allclose(float(cell["predicted_limit"]),
                                   float(late.median("probe_step")), rtol=1e-12)
        assert (float(cell["predicted_limit_low"]) <= float(cell["predicted_limit"])
                <= float(cell["predicted_limit_high"]))


@pytest.mark.parametrize("name", sorted(OVERLAID))
def test_the_overlay_is_drawn_at_the_predicted_limit(name):
    ds = committed(name)
    dim = OVERLAID[name]
    fig = figures.FIGURES[name].plot(ds)
    (ax,) = [a for a in fig.axes if a.get_xscale() == "log" and a.lines]
    drawn = {line.get_label(): line.get_xdata()[0] for line in ax.lines
             if line.get_label().startswith("predicted limit")}
    limited = [v for v in ds[dim].values
               if np.isfinite(float(ds["predicted_limit"].sel({dim: v})))]
    assert len(drawn) == len(limited) >= 1
    for value in limited:
        assert float(ds["predicted_limit"].sel({dim: value})) in drawn.values()
    legend = [t.get_text() for leg in fig.legends for t in leg.get_texts()]
    assert any(text.startswith("predicted limit") for text in legend)
    assert "predicted limit" in figures.FIGURES[name].caption(ds).lower() or \
        "limit predicted" in figures.FIGURES[name].caption(ds)
