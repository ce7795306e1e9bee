"""The state-step limit predicted from the inference Hessian, against the measured gamma
sweeps (issue 20, item 5): a cheap probe sweep per weight optimizer, its data beside a gamma
figure's, the overlay and the sentences comparing the two.

The probe re-runs the figure's network, data and state optimizer at one gamma, the profile's
analysis gamma (`energy_gamma`, 0.1: every run there is ok with either weight optimizer),
with the first seed, recording `hessian_lambda_max` (pcdiag.algorithms.record.hessian_probe:
the median over PROBE_SAMPLES samples at t = 0 of PROBE_LOGS logged steps spread over
training). lambda_max at t = 0 of a forward-initialised net depends on gamma only through the
weights training made, so one healthy trained net stands for the sweep; the exact Hessian
costs about 0.8 s per sample and step at width 128 on 2 CPU cores, which rules out probing
every gamma in the default profile's budget. The predicted limit is pcdiag.measures.step_limit
(2 (1 + beta) / lambda_max; sgd states: beta = 0) of each probed step; the line drawn is its
median over the late probed steps (the second half: `late_limits`), the band their min-max;
NaN where the probe run is not ok (the Hessian of a broken net)."""

from __future__ import annotations

import json

import numpy as np
import xarray as xr

from pcdiag import measures
from pcdiag.figures.experiments import SweepSpec, combine
from pcdiag.figures.gamma.profile import WEIGHT_LR, WEIGHT_OPTIMIZERS
from pcdiag.figures.layout import short_number
from pcdiag.figures.profiles import Profile
from pcdiag.plot.styling import NEUTRAL, optimizer_style
from pcdiag.status import NAMES

#: Samples of the batch whose Hessian the probe takes (its record is their median).
PROBE_SAMPLES = 4
#: Logged (probed) steps per epoch of a probe run; the second half are the late ones.
PROBE_LOGS = 6
#: The probe's variables as a figure's .nc stores them (dims weight_optimizer, gamma and
#: probe_step, the probe's logged steps).
PROBE_VARS = ("probe_gamma", "probe_lambda_max", "probe_limit", "probe_status",
              "predicted_limit",
              "predicted_limit_low", "predicted_limit_high", "predicted_limit_init")


def probe_spec(profile: Profile, weight_optimizer: str) -> SweepSpec:
    """The probe of accuracy_vs_gamma's network (analysis width, first activation, sgd
    states) with one weight optimizer: the swept gamma nearest energy_gamma, the first seed,
    PROBE_LOGS logged steps."""
    config = profile.base().replace(weight_optimizer=weight_optimizer,
                                    weight_lr=WEIGHT_LR[weight_optimizer],
                                    hessian_samples=PROBE_SAMPLES)
    config = config.replace(log_every=max(1, -(-config.steps_per_epoch // PROBE_LOGS)))
    return SweepSpec.make(f"probe-{weight_optimizer}", config, gamma=(probe_gamma(profile),),
                          seed=profile.seeds[:1])


def probe_gamma(profile: Profile) -> float:
    """The swept gamma nearest the profile's analysis gamma (energy_gamma)."""
    return min(profile.gammas, key=lambda g: abs(np.log(g / profile.energy_gamma)))


def probe_specs(profile: Profile, optimizers=WEIGHT_OPTIMIZERS) -> dict[str, SweepSpec]:
    return {f"probe-{o}": probe_spec(profile, o) for o in optimizers}


def probe_data(results, optimizers=WEIGHT_OPTIMIZERS) -> xr.Dataset:
    """PROBE_VARS over weight_optimizer (and probe_step) from the probe sweeps."""
    parts = {}
    for opt in optimizers:
        run = results[f"probe-{opt}"].isel(seed=0, gamma=0)
        limit = measures.step_limit(run)["limit"]
        parts[opt] = xr.Dataset({"probe_lambda_max": run["hessian_lambda_max"],
                                 "probe_limit": limit, "probe_status": run["run_status"],
                                 "probe_gamma": run["gamma"].astype(float)},
                                attrs=run.attrs)
        parts[opt] = parts[opt].drop_vars([c for c in parts[opt].coords
                                           if c not in parts[opt].dims])
    probe = combine(parts, "weight_optimizer")
    probe = probe.drop_vars([c for c in probe.coords if c not in probe.dims])
    probe = probe.rename(step="probe_step")
    return with_predicted(probe, parts[optimizers[0]].attrs)


def late_limits(probe: xr.Dataset) -> xr.DataArray:
    """probe_limit on the late probed steps (the second half) where the probe run is ok
    (NaN elsewhere)."""
    limit = probe["probe_limit"]
    late = limit.isel(probe_step=slice(limit.sizes["probe_step"] // 2, None))
    return late.where(probe["probe_status"] == 0)


def with_predicted(probe: xr.Dataset, attrs: dict) -> xr.Dataset:
    """The probe with its summary: predicted_limit (median of late_limits over gamma and
    steps), its min-max, and the limit at step 0 (one forward-initialised net)."""
    config = json.loads(attrs.get("config", "{}"))
    late = late_limits(probe)
    over = "probe_step"
    how = ("over the late probed steps (the second half) of the probe run (first seed, "
           "gamma probe_gamma; NaN where its run_status is not ok)")
    probe["predicted_limit"] = late.median(over).where(late.notnull().any(over)).assign_attrs(
        long_name="predicted limit", units="1",
        comment="largest stable per-sample gamma 2 (1 + beta) / lambda_max "
                "(pcdiag.measures.step_limit), median " + how)
    probe["predicted_limit_low"] = late.min(over).assign_attrs(
        long_name="predicted limit (low)", units="1", comment="min of probe_limit " + how)
    probe["predicted_limit_high"] = late.max(over).assign_attrs(
        long_name="predicted limit (high)", units="1", comment="max of probe_limit " + how)
    probe["predicted_limit_init"] = probe["probe_limit"].isel(probe_step=0).assign_attrs(
        long_name="predicted limit at step 0", units="1",
        comment="probe_limit of the forward-initialised, untrained net (the same for every "
                "gamma)")
    probe["probe_gamma"].attrs = {"long_name": "probe gamma", "units": "1",
                                  "comment": "the gamma the probe run trained with"}
    probe["probe_lambda_max"].attrs["comment"] = (
        f"hessian_lambda_max of the probe runs: median over the batch's first "
        f"{config.get('hessian_samples')} samples at t = 0 of every "
        f"{config.get('log_every')}-th step, seed {config.get('seed', 0)}")
    probe["probe_status"].attrs["comment"] = "run_status of the probe runs"
    probe["probe_step"].attrs = {"long_name": "probed step", "units": "1",
                                 "comment": "the probe runs' logged steps"}
    return probe


def with_probe(ds: xr.Dataset, probe: xr.Dataset, state_optimizer: bool = False) -> xr.Dataset:
    """A figure's data with the probe's variables beside it (its own unchanged). With
    `state_optimizer`, the figure compares states at AdamW weights: the probe's AdamW part
    goes to state_optimizer sgd (adam states have no fixed-step limit: NaN)."""
    out = ds.copy()
    if state_optimizer:
        probe = probe.sel(weight_optimizer="adamw", drop=True).expand_dims(
            state_optimizer=["sgd"])
    for name in PROBE_VARS:
        out[name] = probe[name]
    for name in ds.coords:  # assigning the probe's variables must not touch the figure's
        out[name].attrs = ds[name].attrs
    out.attrs["probe"] = json.dumps({"hessian_samples": PROBE_SAMPLES,
                                     "probed_steps": int(probe.sizes["probe_step"])})
    return out


def without_probe(ds: xr.Dataset) -> xr.Dataset:
    """The figure's own data (what the plotting functions read)."""
    return ds.drop_vars([n for n in (*PROBE_VARS, "probe_step") if n in ds.variables])


def _limited(ds: xr.Dataset, dim: str) -> list:
    """The values of `dim` (an optimizer dim) that have a finite predicted limit."""
    return [v for v in ds[dim].values
            if np.isfinite(float(ds["predicted_limit"].sel({dim: v})))]


def draw_limit(ax, ds: xr.Dataset, dim: str = "weight_optimizer") -> None:
    """The predicted limit of each value of `dim` that has one as a vertical line (that
    optimizer's line style) and its min-max band, labelled 'predicted limit' in the legend;
    nothing where the data have no probe."""
    if "predicted_limit" not in ds:
        return
    opts = _limited(ds, dim)
    several = ds.sizes[dim] > 1
    for opt in opts:
        cell = ds.sel({dim: opt})
        limit = float(cell["predicted_limit"])
        name = "predicted limit" + (f" ({optimizer_style(opt)['label']})" if several else "")
        ax.axvspan(float(cell["predicted_limit_low"]), float(cell["predicted_limit_high"]),
                   color=NEUTRAL, alpha=0.12, linewidth=0, zorder=0)
        ax.axvline(limit, color=NEUTRAL, linewidth=1.0, zorder=1, label=name,
                   linestyle=optimizer_style(opt)["linestyle"])


def first_failure(ds: xr.Dataset, sel: dict) -> tuple[float | None, str]:
    """The smallest gamma with a failed run (any seed) at `sel` in the figure's data, and
    its statuses."""
    status = ds["run_status"].sel(sel)
    for gamma in ds["gamma"].values:
        values = np.unique(np.asarray(status.sel(gamma=gamma).values).ravel())
        failed = [NAMES[int(v)] for v in values if int(v) != 0]
        if failed:
            return float(gamma), "/".join(failed)
    return None, ""


def limit_lines(ds: xr.Dataset, dim: str = "weight_optimizer") -> str:
    """Summary lines: predicted limit against the first failing gamma, per value of `dim`
    that has a limit."""
    if "predicted_limit" not in ds:
        return ""
    lines = []
    for opt in _limited(ds, dim):
        cell = ds.sel({dim: opt})
        lam = cell["probe_lambda_max"]
        late = lam.isel(probe_step=slice(lam.sizes["probe_step"] // 2, None))
        gamma, how = first_failure(ds, {dim: opt})
        ok = ds["gamma"].values if gamma is None else ds["gamma"].values[
            ds["gamma"].values < gamma]
        last_ok = float(ok[-1]) if len(ok) else None
        limit = float(cell["predicted_limit"])
        if gamma is None:
            verdict = "no run failed"
        elif last_ok is None:
            verdict = f"every gamma has a failed run ({how} at {gamma:g})"
        else:
            agree = last_ok < limit < gamma
            verdict = (f"first failure at gamma {gamma:g} ({how}), last all-ok gamma "
                       f"{last_ok:g}: the prediction "
                       + ("falls between them" if agree else "does not fall between them"))
        lines.append(
            f"  predicted limit, {dim}={opt} (probe at gamma "
            f"{float(cell['probe_gamma']):g}): {short_number(limit)} "
            f"[{short_number(float(cell['predicted_limit_low']))}, "
            f"{short_number(float(cell['predicted_limit_high']))}] late, "
            f"{short_number(float(cell['predicted_limit_init']))} at step 0 (lambda_max "
            f"{short_number(float(lam.isel(probe_step=0)))} at step 0, "
            f"{short_number(float(late.median()))} late); {verdict}")
    return "\n".join(lines)


def limit_caption(ds: xr.Dataset) -> str:
    """The caption's sentence on the overlay (empty without a probe)."""
    if "predicted_limit" not in ds:
        return ""
    probe = json.loads(ds.attrs.get("probe", "{}"))
    gammas = {float(g) for g in np.ravel(ds["probe_gamma"].values) if np.isfinite(g)}
    return ("Vertical line: the state-step limit predicted from the inference Hessian, "
            "γ_max = 2(1 + β)/λ_max (β = 0: SGD states; pcdiag.measures.step_limit), λ_max "
            f"the median over {probe.get('hessian_samples', PROBE_SAMPLES)} samples at t = 0 "
            f"of {probe.get('probed_steps', PROBE_LOGS)} steps spread over the epoch of a "
            f"probe run (first seed, γ = {', '.join(f'{g:g}' for g in sorted(gammas))}); "
            "line: median over the probed steps of the second half of training, band: their "
            "min-max; the line style is the weight optimizer's.")
