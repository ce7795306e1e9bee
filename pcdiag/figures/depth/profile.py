"""The deep figures' networks, their sizes per profile and their sweeps.

The network (every variant): residual MLP [784, W, ..., W, 10] (`skip=True`: identity skips
around every hidden layer but the first and last), hard_tanh, cross-entropy output energy,
forward initialisation, plain-SGD states with gamma 0.1 (per-sample convention), batch 64.
Without skips the standard initialisation makes even backprop fail at depth 32 (measured: BP
0.10, PC 0.09 test accuracy, 10,000 images), so the comparison would say nothing about PC;
with skips BP trains at every depth and any gap is the learning rule's.

`DEEP_PROFILES` holds one `DeepProfile` per profile name; a custom `Profile` uses the quick
entry's networks with its own data size and seeds (pcdiag.figures.profiles.family_profile).
The sweeps carry the residual-MLP cost model (pcdiag.figures.cost: `RESIDUAL_MLP`)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import xarray as xr

from pcdiag.config import Config
from pcdiag.figures.captions import describe
from pcdiag.figures.cost import RESIDUAL_MLP
from pcdiag.figures.experiments import SweepSpec, config_of, coords_along
from pcdiag.figures.profiles import (
    RECIPE_GAMMA_PER_SAMPLE,
    Profile,
    Sizes,
    family_profile,
    layer_sizes_of,
)

#: State learning rate of every inference algorithm (and the gamma update_decay shows).
DEEP_GAMMA = 0.1
#: AdamW learning rate of pc, ipc, bp and epc (the analysis figures' AdamW setting).
DEEP_WEIGHT_LR = 1e-3
#: AdamW learning rate of muPC. Measured (10,000 images, 1 epoch, width 64, best gamma):
#: depth 8: 1e-3 0.59, 1e-2 0.77, 1e-1 0.77; depth 16: 0.60, 0.75, 0.72; depth 32: 1e-2 0.70,
#: 1e-1 0.59. 1e-2 is the best at every depth tried.
MUPC_WEIGHT_LR = 1e-2
#: Momentum (SGD, momentum 0.9) learning rate of update_decay / bp_alignment: AdamW would
#: normalise each layer's update and hide the decay (its update decay rate is ~0).
MOMENTUM_LR = 1e-2
#: The layer-precision remedy (pi_l proportional to R^(L-l), largest 1). No R helped: at depth
#: 16, T = 64 (5,000 images) the energy decay rate at t = T was 0.61 decades/layer without
#: precision, 1.32 with R = 0.8, 2.19 with 0.5, 9.2 with 2, and layer 1 was never reached
#: (without: at t = 30); pi_l <= 1 scales down the push each layer gets from the one above.
#: R = 0.5 is shown as the measured counter-example.
PRECISION = "geometric:0.5"


@dataclass(frozen=True)
class Variant:
    """A network / learning-rule combination: legend text and the config fields it sets."""

    text: str
    changes: tuple[tuple[str, object], ...]

    def config(self, base: Config) -> Config:
        return base.replace(**dict(self.changes))


#: accuracy_vs_depth's lines.
VARIANTS = {
    "pc": Variant("PC", (("algorithm", "pc"),)),
    "ipc": Variant("iPC", (("algorithm", "ipc"),)),
    "bp": Variant("BP", (("algorithm", "bp"),)),
    "mupc": Variant("μPC", (("algorithm", "pc"), ("parameterization", "mupc"),
                            ("weight_lr", MUPC_WEIGHT_LR))),
    "epc": Variant("ePC", (("algorithm", "epc"),)),
}
#: accuracy_vs_depth's lines: PC, iPC and BP share every setting but the learning rule. The
#: remedies (muPC, ePC) are compared at their own published recipes in remedies_vs_depth.
DEPTH_VARIANTS = ("pc", "ipc", "bp")
#: energy_propagation's panels: standard PC, then each remedy, each at the state step of the
#: profile's `heat_gammas` its validation accuracy picks (runs of their own; "pc" reuses
#: accuracy_vs_depth's runs only where the grid is PC's one step and nothing is held out).
REMEDIES = ("pc", "pc_more_steps", "epc", "mupc", "precision")
#: The remedies with a published state step (jpc's examples/epc.ipynb and mupc.ipynb: SGD lr
#: 0.5 on the batch-mean energy), here per sample (batch 64): energy_propagation draws them at
#: it as well, where their validated step is another.
RECIPE_STATE_STEP = {r: RECIPE_GAMMA_PER_SAMPLE for r in ("epc", "mupc")}


@dataclass(frozen=True)
class DeepProfile(Sizes):
    """The sizes of the deep figures for one pcdiag.figures profile."""

    name: str
    description: str
    train_limit: int | None
    test_limit: int | None
    epochs: int
    seeds: tuple[int, ...]
    width: int
    depths: tuple[int, ...]  # accuracy_vs_depth (one program each)
    heat_depth: int  # energy_propagation's network; must be one of `depths`
    more_steps: int  # T of the "PC, more inference steps" remedy
    decay_depths: tuple[int, ...]  # update_decay, bp_alignment and depth_gamma
    align_gammas: tuple[float, ...]  # depth_gamma; must contain DEEP_GAMMA
    log_every: int
    variants: tuple[str, ...] = DEPTH_VARIANTS
    remedies: tuple[str, ...] = REMEDIES
    #: bp_alignment's panels (among align_gammas); () = the three nearest DEEP_GAMMA.
    panel_gammas: tuple[float, ...] = ()
    #: energy_propagation's grid of state steps (per sample), every panel; with more than one
    #: step each panel is drawn at the one its validation accuracy picks
    heat_gammas: tuple[float, ...] = (DEEP_GAMMA,)
    #: accuracy_vs_depth's grid of state steps (per sample) for every variant but BP; with
    #: more than one step each line is drawn, per depth, at the one its validation picks
    gammas: tuple[float, ...] = (DEEP_GAMMA,)
    #: images held out of the training file to choose the steps on (both grids)
    validation_size: int = 0

    def __post_init__(self):
        if self.heat_depth not in self.depths:
            raise ValueError(f"heat_depth={self.heat_depth} must be one of depths {self.depths}")
        if DEEP_GAMMA not in self.align_gammas:
            raise ValueError(f"align_gammas={self.align_gammas} must contain {DEEP_GAMMA}")
        if not set(self.panel_gammas) <= set(self.align_gammas):
            raise ValueError(f"panel_gammas={self.panel_gammas} must be among align_gammas "
                             f"{self.align_gammas}")
        for name in ("heat_gammas", "gammas"):
            grid = getattr(self, name)
            if DEEP_GAMMA not in grid:
                raise ValueError(f"{name}={grid} must contain {DEEP_GAMMA} (PC's step, where "
                                 "a line falls back to when no run has a score)")
            if len(grid) > 1 and self.validation_size < 1:
                raise ValueError(f"DeepProfile {self.name!r}: validation_size="
                                 f"{self.validation_size} with {len(grid)} {name}; a step is "
                                 "chosen on a validation split: set validation_size >= 1")
        if "pc" in self.remedies and "pc" not in self.variants:
            raise ValueError("remedies 'pc' reuses accuracy_vs_depth's pc runs: list 'pc' in "
                             f"variants too (variants={self.variants})")

    @property
    def bp_gammas(self) -> tuple[float, ...]:
        """bp_alignment's panels: panel_gammas, or the three align_gammas nearest DEEP_GAMMA
        (in log distance), in increasing order."""
        if self.panel_gammas:
            return self.panel_gammas
        near = sorted(self.align_gammas, key=lambda g: abs(math.log(g / DEEP_GAMMA)))[:3]
        return tuple(sorted(near))

    @property
    def inference_steps(self) -> int:
        """T of accuracy_vs_depth (and the heatmap's standard PC): 2 x the deepest depth, one
        T for every depth so that one sweep per variant covers them all."""
        return 2 * max(self.depths)

    @property
    def decay_steps(self) -> int:
        """T of update_decay / bp_alignment: 2 x their deepest depth."""
        return 2 * max(self.decay_depths)

    def base(self) -> Config:
        return Config(
            depth=max(self.depths), width=self.width, activation="hard_tanh",
            output_energy="ce", skip=True, algorithm="pc", inference_steps=self.inference_steps,
            gamma=DEEP_GAMMA, gamma_convention="per_sample", state_optimizer="sgd",
            weight_optimizer="adamw", weight_lr=DEEP_WEIGHT_LR, train_limit=self.train_limit,
            test_limit=self.test_limit, epochs=self.epochs, log_every=self.log_every,
            batch_size=64,
        )

    def remedy_config(self, remedy: str) -> Config:
        """The config of one energy_propagation panel (at the heatmap depth; its state step
        the first of `heat_gammas`, the grid's other steps run beside it)."""
        base = self.base().replace(depth=self.heat_depth, gamma=self.heat_gammas[0],
                                   validation_size=self.validation_size)
        if remedy in VARIANTS:
            return VARIANTS[remedy].config(base)
        if remedy == "pc_more_steps":
            return base.replace(inference_steps=self.more_steps)
        if remedy == "precision":
            return base.replace(layer_precision=PRECISION)
        raise ValueError(f"unknown remedy {remedy!r}; known: {', '.join(REMEDIES)}")


#: energy_propagation's state steps (per sample): the recipes' 0.0078 (0.5 batch-mean), PC's
#: 0.1, and one between and one above them.
HEAT_GAMMAS = (RECIPE_GAMMA_PER_SAMPLE, 0.03, DEEP_GAMMA, 0.3)
#: accuracy_vs_depth's state steps (per sample) for PC and iPC: PC's 0.1 and a step either side.
DEPTH_GAMMAS = (0.03, DEEP_GAMMA, 0.3)

DEEP_PROFILES = {
    "quick": DeepProfile(
        name="quick",
        description="2,000 training / 1,000 test images, 1 epoch, 1 seed, width 32, depths "
                    "2-8 (T = 16), heatmap depth 8",
        train_limit=2000, test_limit=1000, epochs=1, seeds=(0,), width=32,
        depths=(2, 4, 8), heat_depth=8, more_steps=64, decay_depths=(4, 8),
        align_gammas=(0.03, 0.1, 0.3), log_every=2,
        heat_gammas=(RECIPE_GAMMA_PER_SAMPLE, DEEP_GAMMA), gammas=(DEEP_GAMMA, 0.3),
        validation_size=1000,
    ),
    "default": DeepProfile(
        name="default",
        description="10,000 training / 10,000 test images, 1 epoch, 3 seeds, width 64, "
                    "depths 2-32 (T = 64), heatmap depth 16, depth x gamma: depths 4-16 x 5 gammas",
        train_limit=10000, test_limit=None, epochs=1, seeds=(0, 1, 2), width=64,
        depths=(2, 4, 8, 16, 32), heat_depth=16, more_steps=256, decay_depths=(4, 8, 16),
        align_gammas=(0.01, 0.03, 0.1, 0.3, 1.0), log_every=5,
        heat_gammas=HEAT_GAMMAS, gammas=DEPTH_GAMMAS, validation_size=5000,
    ),
    "long": DeepProfile(
        name="long",
        description="55,000 training images (5,000 held out) / all 10,000 test images, 3 "
                    "epochs, 3 seeds, width 64, depths 2-16 (T = 32), PC, iPC, ePC, μPC and "
                    "BP, each inference line at its validated step",
        train_limit=None, test_limit=None, epochs=3, seeds=(0, 1, 2), width=64,
        depths=(2, 4, 8, 16), heat_depth=16, more_steps=128, decay_depths=(4, 8, 16),
        align_gammas=(0.01, 0.03, 0.1, 0.3, 1.0), log_every=20,
        variants=("pc", "ipc", "epc", "mupc", "bp"), heat_gammas=HEAT_GAMMAS,
        gammas=DEPTH_GAMMAS, validation_size=5000,
    ),
    "paper": DeepProfile(
        name="paper",
        description="full Fashion-MNIST, 4 epochs, 5 seeds, width 128, depths 2-64 "
                    "(T = 128), heatmap depth 16 (for a GPU)",
        train_limit=None, test_limit=None, epochs=4, seeds=(0, 1, 2, 3, 4), width=128,
        depths=(2, 4, 8, 16, 32, 64), heat_depth=16, more_steps=512,
        decay_depths=(4, 8, 16, 32), align_gammas=(0.003, 0.01, 0.03, 0.1, 0.3, 1.0),
        log_every=20, heat_gammas=HEAT_GAMMAS, gammas=DEPTH_GAMMAS, validation_size=10000,
    ),
}


def deep_profile(profile: str | Profile | DeepProfile) -> DeepProfile:
    """The DeepProfile of a pcdiag.figures profile (by name; else quick's networks with the
    profile's data size, epochs and seeds)."""
    return family_profile(profile, DEEP_PROFILES, DeepProfile)


#: The deep specs' name prefix (their store folders and lines of the estimate).
PREFIX = "deep-"


def variant_spec(profile, variant: str) -> SweepSpec:
    """One sweep per variant over depth x seed, and `gammas` but for BP (depth: a program
    each; seeds and steps: vmapped), with the profile's validation split held out."""
    d = deep_profile(profile)
    config = VARIANTS[variant].config(d.base()).replace(validation_size=d.validation_size)
    axes = {"depth": d.depths, "seed": d.seeds}
    if variant != "bp" and len(d.gammas) > 1:
        axes = {"depth": d.depths, "gamma": d.gammas, "seed": d.seeds}
    return SweepSpec.make(f"{PREFIX}{variant}", config, cost=RESIDUAL_MLP, **axes)


def remedy_spec(profile, remedy: str) -> SweepSpec:
    """The heatmap's runs: accuracy_vs_depth's sweep where it has them (pc, with PC's one
    step and no validation split), else the profile's seeds x heat_gammas at the heatmap
    depth (one program, vmapped)."""
    d = deep_profile(profile)
    if remedy in d.variants and d.remedy_config(remedy) == VARIANTS[remedy].config(
            d.base().replace(depth=d.heat_depth)):
        return variant_spec(d, remedy)
    axes = {"seed": d.seeds}
    if len(d.heat_gammas) > 1:
        axes["gamma"] = d.heat_gammas
    return SweepSpec.make(f"{PREFIX}{remedy}", d.remedy_config(remedy), cost=RESIDUAL_MLP,
                          **axes)


def align_spec(profile) -> SweepSpec:
    """PC with SGD-momentum weights and bp_alignment over depth x gamma x seed.

    Weight decay 0: with decay, a layer that gets no gradient still moves by lr x decay per
    step (a relative update of 1e-5 with momentum 0.9), a floor that hides the decay."""
    d = deep_profile(profile)
    config = d.base().replace(weight_optimizer="momentum", weight_lr=MOMENTUM_LR,
                              weight_decay=0.0, bp_alignment=True,
                              inference_steps=d.decay_steps, depth=max(d.decay_depths))
    return SweepSpec.make(f"{PREFIX}pc-momentum-align", config, cost=RESIDUAL_MLP,
                          depth=d.decay_depths, gamma=d.align_gammas, seed=d.seeds)


def bp_momentum_spec(profile) -> SweepSpec:
    """BP with the align sweep's weights (SGD momentum, lr MOMENTUM_LR, weight decay 0) at its
    depths x seeds: depth_gamma's reference, so that a drop with depth can be put on PC or
    on the network and budget."""
    d = deep_profile(profile)
    config = d.base().replace(algorithm="bp", weight_optimizer="momentum",
                              weight_lr=MOMENTUM_LR, weight_decay=0.0,
                              inference_steps=d.decay_steps, depth=max(d.decay_depths))
    return SweepSpec.make(f"{PREFIX}bp-momentum", config, cost=RESIDUAL_MLP,
                          depth=d.decay_depths, seed=d.seeds)


def depth_gamma_specs(profile) -> dict[str, SweepSpec]:
    return align_specs(profile) | {"bp": bp_momentum_spec(profile)}


def accuracy_specs(profile) -> dict[str, SweepSpec]:
    return {v: variant_spec(profile, v) for v in deep_profile(profile).variants}


def energy_specs(profile) -> dict[str, SweepSpec]:
    return {r: remedy_spec(profile, r) for r in deep_profile(profile).remedies}


def align_specs(profile) -> dict[str, SweepSpec]:
    return {"align": align_spec(profile)}


def describe_variants(ds: xr.Dataset, configs: Mapping[str, Any], texts: Mapping[str, str]
                       ) -> xr.Dataset:
    """Label the `variant` dim and add the coords that say what each variant ran."""
    names = [str(v) for v in ds["variant"].values]
    ds["variant"].attrs = {"long_name": "variant", "units": "1",
                           "comment": "network / learning-rule combination; its settings are "
                                      "the coords algorithm, parameterization, layer_precision, "
                                      "inference_steps, gamma, gamma_convention and weight_lr "
                                      "along variant"}
    coords = {
        "description": [texts[n] for n in names],
        "algorithm": [configs[n].algorithm for n in names],
        "parameterization": [configs[n].parameterization for n in names],
        "layer_precision": [configs[n].layer_precision or "none" for n in names],
        "inference_steps": [configs[n].inference_steps for n in names],
        "gamma": [configs[n].gamma for n in names],
        "gamma_convention": [configs[n].gamma_convention for n in names],
        "weight_lr": [configs[n].weight_lr for n in names],
    }
    ds = coords_along(ds, "variant", coords, "variant")
    ds["inference_steps"].attrs["long_name"] = "inference steps T"
    return ds


def depth_attrs(ds: xr.Dataset) -> xr.Dataset:
    if "depth" in ds.dims:
        ds["depth"].attrs = {"long_name": "depth L (weight layers)", "units": "1",
                             "comment": "swept config field 'depth'"}
    return ds


def deep_caption(ds: xr.Dataset, *lines: str) -> str:
    """The residual MLP's settings (convention, network, optimizers), then `lines`."""
    cfg = config_of(ds)
    depth = "L" if "depth" in ds.dims else str(cfg.depth)
    sizes = layer_sizes_of(cfg)
    network = (f"Residual MLP [{sizes[0]}, {cfg.width} x ({depth} - 1), {sizes[-1]}] (identity "
               "skips around every hidden layer but the first and last), " + cfg.activation)
    return describe(ds, network, *lines, states="states: plain SGD", steps=False, weights=True)
