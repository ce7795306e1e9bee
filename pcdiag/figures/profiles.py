"""How big the experiments behind the figures are, and the settings they share.

`PROFILES` size the analysis figures (data, epochs, gammas, seeds, widths); `DEEP_PROFILES`
size the deep-network figures, one `DeepProfile` per profile name, so ``--profile quick``
runs every figure at its quick size. `layer_sizes_of(config)` is the one place that spells
out the layer sizes of the networks these configs describe.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from pcdiag.config import Config
from pcdiag.figures.errors import FigureError
from pcdiag.nets import build

# --------------------------------------------------------------------------- networks


def layer_sizes_of(config: Config) -> list[int]:
    """Units of each node of the network `config` describes, input first (its contract's
    input and node shapes)."""
    net = build(config)
    return [math.prod(net.input_shape)] + [math.prod(shape) for shape in net.node_shapes]


# --------------------------------------------------------------------------- analysis figures


@dataclass(frozen=True)
class Profile:
    """How big the experiments behind the figures are."""

    name: str
    description: str
    train_limit: int | None  # None: the full training set
    test_limit: int | None
    epochs: int
    gammas: tuple[float, ...]
    seeds: tuple[int, ...]
    width: int  # the analysis width (energy and single-width figures)
    widths: tuple[int, ...]  # accuracy_vs_gamma_by_width; must contain `width`
    log_every: int = 1
    energy_gamma: float = 0.1  # the run shown by energy_per_layer (nearest swept gamma)

    def base(self) -> Config:
        """The analysis model: [784, W, W, 10], hard_tanh, CE output, forward init, T = 8."""
        return Config(
            depth=3, width=self.width, activation="hard_tanh", output_energy="ce",
            algorithm="pc", inference_steps=8, gamma_convention="per_sample",
            state_optimizer="sgd", train_limit=self.train_limit, test_limit=self.test_limit,
            epochs=self.epochs, log_every=self.log_every, batch_size=64,
        )


GAMMAS = (1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3, 1.0)
#: Weight learning rate per weight optimizer (momentum 0.9 and weight decay 1e-4 for both).
WEIGHT_LR = {"momentum": 1e-2, "adamw": 1e-3}
WEIGHT_OPTIMIZERS = ("momentum", "adamw")

PROFILES = {
    "quick": Profile(
        name="quick",
        description="3000 training / 1000 test images, 1 epoch, 4 gammas, 1 seed, "
                    "widths 32 and 128 (a smoke test: about 2 minutes on a 2-core CPU)",
        train_limit=3000, test_limit=1000, epochs=1, gammas=(1e-3, 1e-2, 0.1, 1.0),
        seeds=(0,), width=128, widths=(32, 128), log_every=1,
    ),
    "default": Profile(
        name="default",
        description="full Fashion-MNIST, 1 epoch, 7 gammas, 3 seeds, widths 32 to 512 "
                    "(about 20 minutes on a 2-core CPU)",
        train_limit=None, test_limit=None, epochs=1, gammas=GAMMAS, seeds=(0, 1, 2),
        width=128, widths=(32, 128, 256, 512), log_every=10,
    ),
    "paper": Profile(
        name="paper",
        description="full Fashion-MNIST, 8 epochs, 7 gammas, 3 seeds, widths 64 to 4096 "
                    "(for a GPU)",
        train_limit=None, test_limit=None, epochs=8, gammas=GAMMAS, seeds=(0, 1, 2),
        width=128, widths=(64, 128, 256, 512, 1024, 2048, 4096), log_every=20,
    ),
}


def get_profile(profile: str | Profile) -> Profile:
    if isinstance(profile, Profile):
        return profile
    if profile not in PROFILES:
        raise FigureError(f"unknown profile {profile!r}; known profiles: {', '.join(PROFILES)}")
    return PROFILES[profile]


# --------------------------------------------------------------------------- deep figures
#
# The network (every variant): residual MLP [784, W, ..., W, 10] (`skip=True`: identity
# skips around every hidden layer but the first and last), hard_tanh, cross-entropy output
# energy, forward initialisation, plain-SGD states with gamma 0.1 (per-sample convention),
# batch 64. Without skips the standard initialisation makes even backprop fail at depth 32
# (measured: BP 0.10, PC 0.09 test accuracy, 10,000 images), so the comparison would say
# nothing about PC; with skips BP trains at every depth and any gap is the learning rule's.

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
#: energy_propagation's panels: standard PC, then each remedy. "pc", "epc" and "mupc" reuse
#: accuracy_vs_depth's runs at the heatmap depth; the other two are runs of their own.
REMEDIES = ("pc", "pc_more_steps", "epc", "mupc", "precision")


@dataclass(frozen=True)
class DeepProfile:
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
    decay_depths: tuple[int, ...]  # update_decay and bp_alignment
    align_gammas: tuple[float, ...]  # bp_alignment; must contain DEEP_GAMMA
    log_every: int
    variants: tuple[str, ...] = tuple(VARIANTS)
    remedies: tuple[str, ...] = REMEDIES

    def __post_init__(self):
        if self.heat_depth not in self.depths:
            raise ValueError(f"heat_depth={self.heat_depth} must be one of depths {self.depths}")
        if DEEP_GAMMA not in self.align_gammas:
            raise ValueError(f"align_gammas={self.align_gammas} must contain {DEEP_GAMMA}")
        shared = [r for r in self.remedies if r in VARIANTS]
        if not set(shared) <= set(self.variants):
            raise ValueError(f"remedies {shared} reuse accuracy_vs_depth runs: list them in "
                             f"variants too (variants={self.variants})")

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
        """The config of one energy_propagation panel (at the heatmap depth)."""
        base = self.base().replace(depth=self.heat_depth)
        if remedy in VARIANTS:
            return VARIANTS[remedy].config(base)
        if remedy == "pc_more_steps":
            return base.replace(inference_steps=self.more_steps)
        if remedy == "precision":
            return base.replace(layer_precision=PRECISION)
        raise ValueError(f"unknown remedy {remedy!r}; known: {', '.join(REMEDIES)}")

    def as_dict(self) -> dict:
        """The fields as JSON-ready values (tuples as lists): the data's `deep_profile` attr."""
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.__dict__.items()}


DEEP_PROFILES = {
    "quick": DeepProfile(
        name="quick",
        description="2,000 training / 1,000 test images, 1 epoch, 1 seed, width 32, depths "
                    "2-8 (T = 16), heatmap depth 8",
        train_limit=2000, test_limit=1000, epochs=1, seeds=(0,), width=32,
        depths=(2, 4, 8), heat_depth=8, more_steps=64, decay_depths=(4, 8),
        align_gammas=(0.03, 0.1, 0.3), log_every=2,
    ),
    "default": DeepProfile(
        name="default",
        description="10,000 training / 10,000 test images, 1 epoch, 3 seeds, width 64, "
                    "depths 2-32 (T = 64), heatmap depth 16",
        train_limit=10000, test_limit=None, epochs=1, seeds=(0, 1, 2), width=64,
        depths=(2, 4, 8, 16, 32), heat_depth=16, more_steps=256, decay_depths=(4, 8, 16),
        align_gammas=(0.03, 0.1, 0.3), log_every=5,
    ),
    "paper": DeepProfile(
        name="paper",
        description="full Fashion-MNIST, 4 epochs, 5 seeds, width 128, depths 2-64 "
                    "(T = 128), heatmap depth 16 (for a GPU)",
        train_limit=None, test_limit=None, epochs=4, seeds=(0, 1, 2, 3, 4), width=128,
        depths=(2, 4, 8, 16, 32, 64), heat_depth=16, more_steps=512,
        decay_depths=(4, 8, 16, 32), align_gammas=(0.01, 0.03, 0.1, 0.3), log_every=20,
    ),
}


def deep_profile(profile: str | Profile | DeepProfile) -> DeepProfile:
    """The DeepProfile of a pcdiag.figures profile (by name; else quick's networks with the
    profile's data size, epochs and seeds)."""
    if isinstance(profile, DeepProfile):
        return profile
    if isinstance(profile, str):
        profile = get_profile(profile)
    if profile.name in DEEP_PROFILES:
        return DEEP_PROFILES[profile.name]
    return replace(DEEP_PROFILES["quick"], name=profile.name,
                   description=f"quick's networks, {profile.description}",
                   train_limit=profile.train_limit, test_limit=profile.test_limit,
                   epochs=profile.epochs, seeds=profile.seeds)
