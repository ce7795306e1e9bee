"""Diagnostic measures: what a run's records say about where the error went and which
layers learn, argued from float32 (xarray in, labelled xarray out; sweep dims kept).

Every figure, summary and `pcdiag.diagnose` reads these; each rule is in its variable's
`comment`. The float32 facts they rest on:

- `ROUNDING` = u = 2^-24 is float32's unit roundoff: a sum or product is exact up to a
  relative error of at most u, so a quantity smaller than u * |x| is below the rounding
  error of x itself.
- `UNCHANGED` = u / 2 = 2^-25: adding d with |d| <= 2^-25 |x| to a float32 x gives x back
  bit for bit. The spacing of float32 numbers in [2^e, 2^(e+1)) is 2^(e-23), so x changes
  only when |d| reaches half of it, 2^(e-24), which is between 2^-25 |x| and 2^-24 |x|
  (at x = 2^e a downward d of exactly 2^-25 |x| is a tie and rounds back to x, the even
  neighbour). Relative changes between 2^-25 and 2^-23 change x or not by its mantissa:
  0.9 * 2^-24 changes 85% of normally distributed weights by one unit in the last place,
  so u itself is not the threshold below which weights stay put.
- A hidden node is forward-initialised to its own prediction, so its energy at t = 0 is 0 in
  exact arithmetic: whatever it holds there is rounding (recomputing mu_l in another XLA
  fusion), and an energy no larger than that has not been reached by the error.
- A layer energy below ROUNDING * F(t) is below the float32 resolution of the energy budget
  at that iteration: it holds less than one part in 2^24 of the error signal, the size of
  the rounding of F itself (and of any sum that includes it), so it is not counted as reached.
- A weight update whose relative size (beyond what weight decay alone gives) is at most
  UNCHANGED * ||theta|| leaves weights of typical size (|theta_i| / ||theta|| no smaller than
  |delta_i| / ||delta||, e.g. an update along theta) bit-identical.

A diverged run (non-finite values) gives no count (NaN), never 0. Layers a run does not have
(a depth sweep pads shallower nets with NaN) are NaN too.
"""

from __future__ import annotations

import json

import numpy as np
import xarray as xr

from pcdiag.metrics import at_last_t, log_slope, relative_update
from pcdiag.selection import best_setting  # noqa: F401 - the setting chosen on validation

#: float32 unit roundoff, 2^-24 (half the spacing of float32 numbers just above 1).
ROUNDING = 2.0**-24
#: Largest relative change that is sure to leave a float32 number unchanged: 2^-25.
UNCHANGED = ROUNDING / 2
#: A hidden node is reached at t when its energy exceeds REACH_FACTOR times its t = 0
#: (rounding) energy as well as ROUNDING * F(t).
REACH_FACTOR = 2.0
#: Profiles: a step between neighbouring layers smaller than this (decades) is not a change
#: of direction (seed-to-seed scatter of a median is of this order, not float32).
PROFILE_TOL = 0.1
#: A profile whose max / min spans less than this many decades is flat.
FLAT_DECADES = 0.3
#: Inference counts as relaxed where the free nodes' state gradient at t = T is at most this
#: fraction of its largest value over t (a convention, not a float32 limit: float32 cannot
#: bring a gradient to 0, only to about ROUNDING times its start).
RELAXED_FRACTION = 0.1
#: Late steps summarised by profiles and run-level counts: this last fraction of logged steps.
LATE_FRACTION = 0.25
#: Sufficient-decrease limit of a gradient step on a quadratic: gamma * lambda_max < 2 (SGD);
#: heavy-ball momentum beta widens it to 2 (1 + beta).
SGD_LIMIT = 2.0

SHAPES = ("rising", "falling", "flat", "u_shaped", "peaked", "irregular", "none")
SHAPE_COMMENT = (
    "shape of the profile over layers 1..L in log10: 'rising' toward the output (every step "
    f"between neighbours up or within {PROFILE_TOL} decades; the PC signature), 'falling', "
    f"'flat' (max/min within {FLAT_DECADES} decades), 'u_shaped' (falls then rises, the "
    "minimum inside), 'peaked' (rises then falls), 'irregular', 'none' (fewer than 2 usable "
    "layers); the decay rate is given only for rising and falling profiles"
)


def _labelled(da: xr.DataArray, long_name: str, units: str, comment: str) -> xr.DataArray:
    da = da.copy()
    da.attrs = {"long_name": long_name, "units": units, "comment": comment}
    return da


# --------------------------------------------------------------------------- settings


def setting(ds: xr.Dataset, name: str, default=None):
    """A config field's value for every run: the coordinate `name` where the Dataset has one
    (a swept field, or a per-variant coordinate a figure attached), else the value in the
    Dataset's `config` attribute (else `default`)."""
    if name in ds.coords:
        return ds[name]
    config = json.loads(ds.attrs.get("config", "{}"))
    return config.get(name, default)


def per_run_setting(ds: xr.Dataset, name: str, like: xr.DataArray, default=None):
    """`setting` as a DataArray over the runs of `like` (None: NaN)."""
    value = setting(ds, name, default)
    if value is None:
        value = np.nan
    if isinstance(value, xr.DataArray):
        return value.broadcast_like(like) if set(value.dims) <= set(like.dims) else value
    return xr.full_like(like, value, dtype=object if isinstance(value, str) else float)


def with_norms(ds: xr.Dataset) -> xr.Dataset:
    """The logged steps that hold the norms (Config.norms_every: logged steps 0, k, 2k, ...
    of each epoch; the others hold NaN norms, which are not divergence): every step where
    norms_every is 1."""
    every = setting(ds, "norms_every", 1)
    if every == 1 or "step" not in ds.dims or "epoch_of_step" not in ds.coords:
        return ds
    epochs = ds["epoch_of_step"].values
    index = np.arange(epochs.size) - np.searchsorted(epochs, epochs)  # within its epoch
    return ds.isel(step=index % int(every) == 0)


def layer_exists(ds: xr.Dataset) -> xr.DataArray:
    """Whether each run has layer l (False in a depth sweep's padding)."""
    source = ds["weight_norm"] if "weight_norm" in ds else ds["energy"].isel(t=0)
    return source.notnull().any("step")


def output_layer(ds: xr.Dataset) -> xr.DataArray:
    """Each run's own output layer L (a depth or network sweep pads `layer`)."""
    exists = layer_exists(ds)
    return (exists * ds["layer"]).max("layer")


def late(da: xr.DataArray) -> xr.DataArray:
    """The last LATE_FRACTION of logged steps (at least one)."""
    n = da.sizes["step"]
    return da.isel(step=slice(n - max(1, int(round(n * LATE_FRACTION))), None))


# --------------------------------------------------------------------------- reached


def reached(ds: xr.Dataset) -> xr.DataArray:
    """Per step, t and layer: 1 where the error has reached the node, 0 where not, NaN where
    the energy is not finite or the layer does not exist. The output node (clamped to the
    target) is reached from t = 0.

    The 2^-24 F floor is the energy budget's resolution, not the node's own rounding floor
    (which scales with u^2 ||x_l||^2, not recorded): at small gamma the front's energy at its
    first arrival, which shrinks ~(gamma sigma_max(W))^2 per layer, can fall below it while
    the states it moved are still resolved (depth 8, width 32, gamma 0.1 on Fashion-MNIST:
    E_4 = 6e-11 at t = 4 beside F = 2.2 counts as not reached; at gamma 0.5 it is 200 times
    above the floor)."""
    energy, total = ds["energy"], ds["energy_total"]
    floor = np.maximum(REACH_FACTOR * init_rounding(ds), ROUNDING * np.abs(total))
    hit = (energy > floor).astype(float)
    is_output = ds["layer"] == output_layer(ds)
    hit = xr.where(is_output, 1.0, hit)
    ok = np.isfinite(energy) & np.isfinite(total) & layer_exists(ds)
    return _labelled(
        hit.where(ok), "reached", "1",
        f"1 where E_l(t) > max({REACH_FACTOR:g} R, 2^-24 F(t)), R the largest hidden energy at "
        "t = 0 of the step (rounding: every hidden E_l(0) is 0 in exact arithmetic): above the "
        "rounding the network holds after forward initialisation and above the float32 "
        "resolution of the total energy; the clamped output node counts as reached; NaN for "
        "non-finite energies and absent layers",
    ).transpose(*energy.dims)


def reached_at(ds: xr.Dataset) -> xr.DataArray:
    """Per step and layer: the first t at which the node is reached (NaN: not by T)."""
    hit = reached(ds)
    if "inference_steps" in ds.dims:  # a T sweep pads t beyond each run's own T
        hit = hit.where(ds["t"] <= ds["inference_steps"], 0.0)
    first = hit.fillna(0).argmax("t").astype(float)
    first = first.where(hit.max("t") == 1)
    return _labelled(first, "first iteration reached", "iterations",
                     "first t at which the node is reached (see `reached`); NaN if not by T. "
                     "Standard PC's front moves one layer per iteration: layer l at t = L - l")


def layers_reached(ds: xr.Dataset) -> xr.DataArray:
    """Per run: how many of its layers (output included) are reached at t = T of the last
    logged step; NaN for a diverged run."""
    last = at_last_t(reached(ds), ds).isel(step=-1)
    count = last.sum("layer").where(~(last.isnull() & layer_exists(ds)).any("layer"))
    return _labelled(count, "layers reached at T", "layers",
                     "layers whose node is reached at t = T (see `reached`) at the last logged "
                     "step, the output included; NaN where that step's energies are not finite")


# --------------------------------------------------------------------------- learns


def weight_updates_per_step(ds: xr.Dataset) -> xr.DataArray:
    """Weight-optimizer updates in one logged step's `update_norm`: T for ipc (its update_norm
    is new - old over its T updates), 1 for the others."""
    like = ds["update_norm"].isel(step=0, layer=0, drop=True)
    algorithm = per_run_setting(ds, "algorithm", like, "pc")
    steps = per_run_setting(ds, "inference_steps", like, 1).astype(float)
    return xr.where(algorithm == "ipc", steps, 1.0)


def decay_only_update(ds: xr.Dataset) -> xr.DataArray:
    """Largest relative update ||delta theta|| / ||theta|| (theta after the step, as recorded)
    that weight decay alone gives in one logged step, for a layer whose gradient is 0.

    Per optimizer update with d = lr wd (lr at the schedule's peak), decay alone shrinks theta
    by the factor 1 - c: c = d for sgd and adamw (decoupled: -lr wd theta); for momentum beta
    the velocity builds up towards the fixed point of s -> beta s / (1 - s) + d (s = lr v /
    ||theta|| before the update, rising monotonically from d), c = the smaller root of c^2 -
    (1 - beta + d) c + d = 0, about d / (1 - beta). k updates in the step (ipc: T) shrink
    theta by (1 - c)^k, and the recorded ratio divides by the norm after the step:
    (1 - c)^-k - 1 (= d / (1 - d) for one sgd step: more than d by d^2, which exceeds 2^-25
    once d > 2e-4). NaN where momentum has no steady state ((1 - beta + d)^2 < 4 d: decay
    alone overshoots), so no count is made there."""
    like = ds["update_norm"].isel(step=0, layer=0, drop=True)
    lr = per_run_setting(ds, "weight_lr", like).astype(float)
    wd = per_run_setting(ds, "weight_decay", like, 0.0).astype(float)
    beta = per_run_setting(ds, "momentum", like, 0.0).astype(float)
    optimizer = per_run_setting(ds, "weight_optimizer", like, "adamw")
    schedule = per_run_setting(ds, "lr_schedule", like, "constant")
    peak = per_run_setting(ds, "lr_peak_factor", like, 1.0).astype(float)
    lr = xr.where(schedule != "constant", lr * np.maximum(peak, 1.0), lr)
    d = lr * wd
    beta = xr.where(optimizer == "momentum", beta, 0.0)
    b = 1.0 - beta + d
    discriminant = b**2 - 4.0 * d  # < 0: no steady state (decay alone overshoots)
    c = 2.0 * d / (b + np.sqrt(discriminant.where(discriminant >= 0)))  # the smaller root
    bound = (1.0 - c) ** -weight_updates_per_step(ds) - 1.0
    return _labelled(bound.astype(float), "relative update from weight decay alone", "1",
                     "(1 - c)^-k - 1: c the per-update shrink of theta by decay alone (lr wd "
                     "for sgd and adamw; momentum: its steady state, about lr wd / (1 - "
                     "beta)), k the optimizer updates per step (T for ipc), lr at the "
                     "schedule's peak; relative to the weight norm after the step")


def normalising_optimizer(ds: xr.Dataset) -> xr.DataArray:
    """True where the weight optimizer scales its step to the gradient's own size (Adam-type)."""
    like = ds["update_norm"].isel(step=0, layer=0, drop=True)
    optimizer = per_run_setting(ds, "weight_optimizer", like, "adamw")
    return (optimizer == "adamw") | (optimizer == "adam")


def learns(ds: xr.Dataset) -> xr.DataArray:
    """Per logged step and layer: 1 where the layer's weights moved by more than weight decay
    alone at float32 resolution, 0 where not, NaN where the norms are not finite; the steps
    that hold norms only (`with_norms`)."""
    ds = with_norms(ds)
    relative = relative_update(ds)
    decay = decay_only_update(ds)
    beyond = relative - decay > UNCHANGED
    moved = beyond.astype(float)
    checked = False
    if "energy" in ds and bool(np.isfinite(ds["energy"]).any()):
        signal = holds_error(ds)
        adam = normalising_optimizer(ds)
        # Adam-type steps are ~lr whatever the gradient's size: a layer whose node holds only
        # rounding gets full-size updates from rounding, which is not learning.
        moved = xr.where(adam & (signal == 0), 0.0, moved)
        checked = True
    ok = np.isfinite(relative) & layer_exists(ds) & np.isfinite(decay)
    comment = (
        "1 where ||delta theta_l|| / ||theta_l|| - d > 2^-25, d the relative update weight "
        "decay alone gives (see decay_only_update: lr wd / (1 - lr wd) per sgd or adamw "
        "update, about lr wd / (1 - beta) with momentum, T updates for ipc; lr at the "
        "schedule's peak): the update beyond decay is large enough to change float32 "
        "weights (a relative change of at most 2^-25 leaves them bit-identical); for "
        "Adam-type optimizers, whose step does not shrink with the gradient, also only "
        "where the layer's node holds error at t = T (see holds_error; else its gradient is "
        "rounding)"
        + ("" if checked else " [not checked here: no per-t energies in the Dataset, so an "
           "Adam-type layer fed by rounding counts as learning]")
        + "; NaN where norms are not finite, the layer is absent or decay alone has no "
        "steady state"
    )
    out = _labelled(moved.where(ok), "learns", "1", comment)
    out.attrs["signal_checked"] = int(checked)
    return out.transpose(*ds["update_norm"].dims)


def init_rounding(ds: xr.Dataset) -> xr.DataArray:
    """Per logged step: the largest hidden-node energy at t = 0. Forward initialisation sets
    every hidden state to its prediction, so each hidden E_l(0) is 0 in exact arithmetic and
    whatever is there is rounding (recomputing mu_l in another XLA fusion: residual and conv
    nets); the state gradients that rounding drives spread it to every node, the lower ones
    included, so it is a floor for all of them (0 for an MLP, whose E_l(0) are exact zeros).

    Generation (pcdiag.tasks) starts every free node at exactly 0, not at its prediction, so
    each E_l(0) = 1/2 ||mu_l(0)||^2 is signal, not rounding: the floor there is 0 (and
    `reached` keeps only the 2^-24 F resolution of the energy budget)."""
    hidden = ds["energy"].isel(t=0).where(ds["layer"] < output_layer(ds))
    floor = hidden.max("layer").fillna(0.0)
    return floor * 0.0 if setting(ds, "task", "classification") == "generation" else floor


def holds_error(ds: xr.Dataset) -> xr.DataArray:
    """Per logged step and layer: 1 where the node's energy at t = T exceeds REACH_FACTOR
    times the network's rounding after forward initialisation (`init_rounding`), i.e. it
    holds error that came from the target and not from rounding; NaN for non-finite
    energies and absent layers.

    Weaker than `reached` on purpose: PC's state updates are exactly 0 until the front
    arrives (0 times anything is 0), so a node whose energy rises from an exact 0 holds a
    real, if tiny, signal, and a weight step along its gradient is learning even where the
    node's share of F is below 2^-24 (not counted as reached)."""
    energy = ds["energy"]
    at_t = at_last_t(energy, ds)
    held = (at_t > REACH_FACTOR * init_rounding(ds)).astype(float)
    held = xr.where(ds["layer"] == output_layer(ds), 1.0, held)
    return _labelled(held.where(np.isfinite(at_t) & layer_exists(ds)), "holds error", "1",
                     f"1 where E_l(T) > {REACH_FACTOR:g} R, R the largest hidden energy at t = 0 "
                     "(rounding: 0 in exact arithmetic); the output node holds error by "
                     "definition")


def stalled(ds: xr.Dataset) -> xr.DataArray:
    """Per run and layer: 1 where the layer learns at none of the logged steps, 0 where it
    learns at some; NaN for an absent layer or a run with non-finite norms (diverged)."""
    moved = learns(ds)
    diverged = moved.isnull() & layer_exists(ds)
    out = (moved.max("step") == 0).astype(float)
    out = out.where(layer_exists(ds) & ~diverged.any(["step", "layer"]))
    out = _labelled(out, "stalled", "1",
                    "1 where the layer learns (see `learns`) at none of the logged steps: its "
                    "weights moved only by weight decay or below float32 resolution; NaN for "
                    "absent layers and diverged runs" + _BOUND_NOTE[moved.attrs["signal_checked"]])
    out.attrs["signal_checked"] = moved.attrs["signal_checked"]
    return out


#: What a stalled count means without per-t energies (no Adam signal check): a lower bound.
_BOUND_NOTE = {1: "", 0: " [a lower bound here: without per-t energies an Adam-type layer fed "
                     "by rounding counts as learning]"}


def stalled_layers(ds: xr.Dataset) -> xr.DataArray:
    """Per run: how many layers are stalled; NaN for a diverged run (no count, never 0)."""
    per_layer = stalled(ds)
    count = per_layer.sum("layer").where(per_layer.notnull().any("layer"))
    checked = per_layer.attrs["signal_checked"]
    out = _labelled(count, "stalled layers", "layers",
                    "number of layers that learn at no logged step (see `stalled`); NaN for "
                    "a diverged run" + _BOUND_NOTE[checked])
    out.attrs["signal_checked"] = checked
    return out


def stalled_lower_bound(ds: xr.Dataset) -> xr.DataArray:
    """Per run: True where `stalled_layers` is only a lower bound: an Adam-type weight
    optimizer (its step does not shrink with the gradient) and no per-t energies in the
    Dataset, so a layer fed only by rounding cannot be told from one that learns."""
    checked = bool(learns(ds).attrs["signal_checked"])
    return normalising_optimizer(ds) & (not checked)


# --------------------------------------------------------------------------- profiles


def energy_fraction(ds: xr.Dataset) -> xr.DataArray:
    """Per step and layer: E_l(T) / F(T), the share of the energy each layer holds."""
    share = at_last_t(ds["energy"], ds) / at_last_t(ds["energy_total"], ds)
    return _labelled(share, "energy fraction at T", "1", "E_l(T) / F(T)")


def classify_shape(values: np.ndarray) -> str:
    """The shape (SHAPES) of a profile of positive values over layers 1..L."""
    v = np.asarray(values, float)
    v = v[np.isfinite(v) & (v > 0)]
    if v.size < 2:
        return "none"
    logv = np.log10(v)
    if logv.max() - logv.min() < FLAT_DECADES:
        return "flat"
    d = np.diff(logv)
    if (d > -PROFILE_TOL).all():
        return "rising"
    if (d < PROFILE_TOL).all():
        return "falling"
    low, high = int(np.argmin(logv)), int(np.argmax(logv))
    if 0 < low < v.size - 1 and (d[:low] < PROFILE_TOL).all() and (d[low:] > -PROFILE_TOL).all():
        return "u_shaped"
    if 0 < high < v.size - 1 and (d[:high] > -PROFILE_TOL).all() and \
            (d[high:] < PROFILE_TOL).all():
        return "peaked"
    return "irregular"


def profile(values: xr.DataArray, what: str, units: str, comment: str) -> xr.Dataset:
    """`values` over layer (other dims kept) with its shape and, where the shape is monotone
    (rising or falling), its decay rate: minus the slope of log10 against distance from the
    output, in decades per layer (positive: falls away from the output)."""
    shape = xr.apply_ufunc(classify_shape, values, input_core_dims=[["layer"]],
                           vectorize=True, output_dtypes=[object]).astype(str)
    rate = -log_slope(values)["slope"]
    monotone = (shape == "rising") | (shape == "falling")
    return xr.Dataset({
        "profile": _labelled(values, what, units, comment),
        "shape": _labelled(shape, f"{what} shape", "1", SHAPE_COMMENT),
        "rate": _labelled(rate.where(monotone), f"{what} decay rate", "decades / layer",
                          "minus the least-squares slope of log10 of the profile against "
                          "distance from the output, only where the profile is rising or "
                          "falling (NaN otherwise: a line does not describe it)"),
    })


def energy_profile(ds: xr.Dataset) -> xr.Dataset:
    """E_l(T) over the layers reached at T, median over the late logged steps, with its
    shape and rate (a node not reached holds rounding, which no line should be fitted to)."""
    energy = at_last_t(ds["energy"].where(reached(ds) == 1), ds)
    energy = late(energy).median("step")
    return profile(energy, "energy at T", "1",
                   f"median over the last {LATE_FRACTION:.0%} of logged steps of E_l(T), "
                   "where the layer is reached at T (NaN where it is not)")


def update_profile(ds: xr.Dataset) -> xr.Dataset:
    """Relative weight update over layers, median over the late logged steps, with its shape
    and rate."""
    rel = late(relative_update(with_norms(ds))).median("step")
    return profile(rel, "relative update", "1",
                   f"median over the last {LATE_FRACTION:.0%} of logged steps of "
                   "||delta theta_l|| / ||theta_l||")


# --------------------------------------------------------------------------- relaxation


def relaxation(ds: xr.Dataset) -> xr.Dataset:
    """How much state gradient inference left at T: per layer and for all free nodes
    together, against the largest value over t (for the free nodes together usually the
    start: after forward initialisation only the node below the output has a gradient); the
    steps that hold norms only (`with_norms`)."""
    ds = with_norms(ds)
    grad = ds["state_grad_norm"]
    if "inference_steps" in ds.dims:
        grad = grad.where(ds["t"] <= ds["inference_steps"])
    per_layer = at_last_t(ds["state_grad_norm"], ds) / grad.max("t")
    total = np.sqrt((grad**2).sum("layer", min_count=1))
    left = at_last_t(total, ds) / total.max("t")
    return xr.Dataset({
        "left": _labelled(per_layer, "state gradient left at T", "1",
                          "||dF/dx_l|| at t = T over its largest value over t (NaN for clamped "
                          "nodes)"),
        "left_total": _labelled(left, "state gradient left at T (all free nodes)", "1",
                                "sqrt(sum_l ||dF/dx_l||^2) at t = T over its largest value "
                                "over t"),
        "relaxed": _labelled((left <= RELAXED_FRACTION).astype(float).where(np.isfinite(left)),
                             "inference relaxed", "1",
                             f"1 where left_total <= {RELAXED_FRACTION:g}: inference brought "
                             "the state gradient near equilibrium; 0: it stopped early"),
    })


# --------------------------------------------------------------------------- stability


def step_limit(ds: xr.Dataset) -> xr.Dataset:
    """Where the Hessian probe ran (`hessian_lambda_max`): the largest stable state step
    2 / lambda_max (2 (1 + beta) / lambda_max with state momentum), per convention, against
    the run's gamma.

    On the quadratic part of F (all of it for a linear network with a squared-error
    output) a state step x <- x - g H x multiplies the component along H's top eigenvector
    by 1 - g lambda_max, which shrinks only while g lambda_max < 2; heavy-ball momentum beta
    (optax's sgd with momentum: v <- beta v + grad, x <- x - g v) has the characteristic
    roots of z^2 - (1 + beta - g lambda) z + beta, inside the unit circle while
    g lambda < 2 (1 + beta). g is the per-sample step: gamma on the per_sample convention,
    gamma / batch_size on batch_mean (each sample then moves along its own gradient divided
    by the batch size). Adam normalises the step, so it has no such limit (NaN)."""
    lam = ds["hessian_lambda_max"]
    like = lam.isel(step=0, drop=True)
    gamma = per_run_setting(ds, "gamma", like).astype(float)
    optimizer = per_run_setting(ds, "state_optimizer", like, "sgd")
    beta = per_run_setting(ds, "state_momentum", like, 0.0).astype(float)
    convention = per_run_setting(ds, "gamma_convention", like, "per_sample")
    batch_size = per_run_setting(ds, "batch_size", like, 1).astype(float)
    batch = xr.where(convention == "batch_mean", batch_size, 1.0)
    gain = xr.where(optimizer == "momentum", 1.0 + beta, 1.0)
    fixed_step = (optimizer == "sgd") | (optimizer == "momentum")
    limit = (SGD_LIMIT * gain * batch / lam).where(fixed_step)
    product = (gamma / batch * lam).where(fixed_step)
    return xr.Dataset({
        "limit": _labelled(limit, "largest stable gamma", "1",
                           "2 (1 + beta) / lambda_max of the per-sample inference Hessian at "
                           "t = 0 (beta = state_momentum for momentum states, 0 for sgd; "
                           "times batch_size on the batch_mean convention, whose per-sample "
                           "step is gamma / batch_size); NaN for adam states (no fixed-step "
                           "limit) and where lambda_max is not recorded"),
        "gamma_lambda": _labelled(product, "per-sample gamma x lambda_max", "1",
                                  "the per-sample state step (gamma, or gamma / batch_size on "
                                  "batch_mean) times lambda_max; at or above 2 (1 + beta) "
                                  "gradient descent on the quadratic part does not converge"),
        "stable": _labelled((gamma < limit).astype(float).where(np.isfinite(limit)),
                            "state step stable", "1",
                            "1 where gamma < limit at the logged step (lambda_max read at "
                            "t = 0 of that step; with a nonlinear network or a cross-entropy "
                            "output the Hessian changes over t), 0 where not, NaN where "
                            "limit is NaN"),
    })
