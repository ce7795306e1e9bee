"""The analysis figures' network ([784, W, W, 10]), its settings and sweeps: PC at the
profile's widths x gammas x seeds per weight optimizer (and BP), the learning curves' and
PCX's-convention sweeps, the stacking of the per-optimizer sweeps, and the caption that
describes the network (pcdiag.figures.captions.describe)."""

from __future__ import annotations

import json
from collections.abc import Mapping

import xarray as xr

from pcdiag.figures.captions import describe
from pcdiag.figures.experiments import SweepSpec, combine, config_of, select, trim
from pcdiag.figures.profiles import Profile, layer_sizes_of

#: Weight learning rate per weight optimizer (momentum 0.9 and weight decay 1e-4 for both).
WEIGHT_LR = {"momentum": 1e-2, "adamw": 1e-3}
WEIGHT_OPTIMIZERS = ("momentum", "adamw")
#: accuracy_vs_gamma_pcx: the state momentum of PCX's MLP PC-CE Fashion-MNIST script
#: (examples/s4_1_discriminative_mode/MLP/fmnist/L_PC_CE_fmnist.yaml at liukidar/pcx v0.6.1:
#: optax.sgd(h_lr, momentum=0.4) on the states; its other MLP scripts use 0.1-0.9).
PCX_STATE_MOMENTUM = 0.4


def _activation_axis(profile: Profile, analysis_only: bool = False) -> dict:
    """{'activation': ...} when the profile sweeps more than one (else the base's one)."""
    if analysis_only or len(profile.activations) < 2:
        return {}
    return {"activation": profile.activations}


def analysis_run(profile: Profile) -> dict:
    """The selection of the single-width analysis figures: the profile's analysis width (and
    first activation, where the sweep has several)."""
    return {"width": profile.width} | (
        {"activation": profile.activations[0]} if _activation_axis(profile) else {})


def pc_spec(profile: Profile, weight_optimizer: str, state_optimizer: str = "sgd",
            widths: tuple[int, ...] | None = None) -> SweepSpec:
    """PC at the profile's widths (x activations) x gammas x seeds with one weight optimizer
    (and its lr); with `widths` given, at those widths and the first activation only."""
    config = profile.base().replace(weight_optimizer=weight_optimizer,
                                    weight_lr=WEIGHT_LR[weight_optimizer],
                                    state_optimizer=state_optimizer)
    axes = _activation_axis(profile, analysis_only=widths is not None)
    widths = profile.widths if widths is None else widths
    return SweepSpec.make(f"pc-{weight_optimizer}-{state_optimizer}", config, width=widths,
                          **axes, gamma=profile.gammas, seed=profile.seeds)


def bp_spec(profile: Profile, weight_optimizer: str) -> SweepSpec:
    """BP at the profile's widths (x activations) x seeds (gamma is unused by bp, so it is
    not swept)."""
    config = profile.base().replace(algorithm="bp", weight_optimizer=weight_optimizer,
                                    weight_lr=WEIGHT_LR[weight_optimizer])
    return SweepSpec.make(f"bp-{weight_optimizer}", config, width=profile.widths,
                          **_activation_axis(profile), seed=profile.seeds)


def main_specs(profile: Profile) -> dict[str, SweepSpec]:
    return {f"pc-{o}": pc_spec(profile, o) for o in WEIGHT_OPTIMIZERS}


def curve_spec(profile: Profile, weight_optimizer: str, algorithm: str = "pc") -> SweepSpec:
    """learning_curves' sweep: PC at the analysis width, the profile's gammas and seeds (BP:
    the seeds; it has no state step), `curve_epochs` epochs over `curve_train_limit`
    training images, `curve_validation_size` held out."""
    config = profile.base().replace(
        algorithm=algorithm, weight_optimizer=weight_optimizer,
        weight_lr=WEIGHT_LR[weight_optimizer], epochs=profile.curve_epochs,
        train_limit=profile.curve_train_limit, validation_size=profile.curve_validation_size)
    if algorithm == "bp":
        return SweepSpec.make(f"curves-bp-{weight_optimizer}", config, seed=profile.seeds)
    return SweepSpec.make(f"curves-{weight_optimizer}", config, gamma=profile.gammas,
                          seed=profile.seeds)


def pcx_gammas(profile: Profile) -> tuple[float, ...]:
    """accuracy_vs_gamma_pcx's batch-mean gammas: the profile's per-sample ones x B."""
    batch = profile.base().batch_size
    return tuple(float(f"{g * batch:.6g}") for g in profile.gammas)


def pcx_spec(profile: Profile, weight_optimizer: str) -> SweepSpec:
    """accuracy_vs_gamma's network under PCX's convention: batch-mean gamma, SGD states with
    momentum PCX_STATE_MOMENTUM."""
    config = profile.base().replace(
        weight_optimizer=weight_optimizer, weight_lr=WEIGHT_LR[weight_optimizer],
        gamma_convention="batch_mean", state_optimizer="momentum",
        state_momentum=PCX_STATE_MOMENTUM)
    return SweepSpec.make(f"pcx-{weight_optimizer}", config, gamma=pcx_gammas(profile),
                          seed=profile.seeds)


def with_weight_lr(ds: xr.Dataset) -> xr.Dataset:
    """Add the coordinate weight_lr(weight_optimizer) and the settings as an attr."""
    opts = [str(v) for v in ds["weight_optimizer"].values]
    ds = ds.assign_coords(weight_lr=("weight_optimizer", [WEIGHT_LR[o] for o in opts]))
    ds["weight_lr"].attrs = {"long_name": "weight learning rate", "units": "1",
                             "comment": "weight_lr used with each weight optimizer"}
    config = config_of(ds)
    ds.attrs["weight_optimizer_settings"] = json.dumps({
        o: {"weight_lr": WEIGHT_LR[o], "weight_decay": config.weight_decay,
            **({"momentum": config.momentum} if o == "momentum" else {})} for o in opts
    })
    return ds


def optimizers(profile: Profile, results: Mapping[str, xr.Dataset], prefix: str = "pc",
               **sel) -> xr.Dataset:
    """The per-optimizer sweeps `results[f'{prefix}-{opt}']` stacked on weight_optimizer."""
    parts = {o: select(results[f"{prefix}-{o}"], **sel) if sel else results[f"{prefix}-{o}"]
             for o in WEIGHT_OPTIMIZERS}
    return with_weight_lr(combine(parts, "weight_optimizer"))


def accuracy_data(profile: Profile, results) -> xr.Dataset:
    """PC at the analysis width, both weight optimizers, without the per-t variables
    (accuracy_vs_gamma and mechanism)."""
    return trim(optimizers(profile, results, "pc", **analysis_run(profile)), keep_t=False)


def analysis_caption(ds: xr.Dataset, extra: str = "") -> str:
    """The analysis model's settings (convention, model, optimizers), then `extra`."""
    cfg = config_of(ds)
    sizes = layer_sizes_of(cfg)
    widths = "W" if "width" in ds.dims else str(cfg.width)
    arch = str(sizes).replace(str(cfg.width), widths) if "width" in ds.dims else str(sizes)
    return describe(ds, f"Model {arch}, {cfg.activation}", weight_settings(ds), extra,
                    states=f"state optimizer {cfg.state_optimizer} (unless swept)")


def weight_settings(ds: xr.Dataset) -> str:
    """The weight optimizers' settings: from the `weight_optimizer_settings` attr where the
    data compare optimizers, else the config's."""
    if "weight_optimizer_settings" in ds.attrs:
        settings = json.loads(ds.attrs["weight_optimizer_settings"])
        return "Weight optimizers: " + "; ".join(
            f"{o} " + ", ".join(f"{k} {v:g}" for k, v in s.items()) for o, s in settings.items()
        ) + "."
    cfg = config_of(ds)
    return (f"Weight optimizer {cfg.weight_optimizer}, lr {cfg.weight_lr:g}, "
            f"weight decay {cfg.weight_decay:g}.")
