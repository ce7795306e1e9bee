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


def json_fields(profile) -> dict:
    """A profile dataclass's fields as JSON-ready values (tuples as lists)."""
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in profile.__dict__.items()}


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
    curve_epochs: int = 2  # learning_curves: epochs of its own sweep
    curve_train_limit: int | None = 2000  # learning_curves: training images (None: all)
    #: accuracy_vs_gamma_by_width's activations (one row each); the other analysis figures
    #: show the first.
    activations: tuple[str, ...] = ("hard_tanh",)

    def __post_init__(self):
        if self.width not in self.widths:
            raise ValueError(f"width={self.width} must be one of widths {self.widths}")
        if not self.activations:
            raise ValueError("activations must name at least one activation")

    def base(self) -> Config:
        """The analysis model: [784, W, W, 10], the first activation (hard_tanh unless set),
        CE output, forward init, T = 8."""
        return Config(
            depth=3, width=self.width, activation=self.activations[0], output_energy="ce",
            algorithm="pc", inference_steps=8, gamma_convention="per_sample",
            state_optimizer="sgd", train_limit=self.train_limit, test_limit=self.test_limit,
            epochs=self.epochs, log_every=self.log_every, batch_size=64,
        )


GAMMAS = (1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3, 1.0)
#: Weight learning rate per weight optimizer (momentum 0.9 and weight decay 1e-4 for both).
WEIGHT_LR = {"momentum": 1e-2, "adamw": 1e-3}
WEIGHT_OPTIMIZERS = ("momentum", "adamw")
#: accuracy_vs_gamma_pcx: the state momentum of PCX's MLP PC-CE Fashion-MNIST script
#: (examples/s4_1_discriminative_mode/MLP/fmnist/L_PC_CE_fmnist.yaml at liukidar/pcx v0.6.1:
#: optax.sgd(h_lr, momentum=0.4) on the states; its other MLP scripts use 0.1-0.9).
PCX_STATE_MOMENTUM = 0.4

PROFILES = {
    "quick": Profile(
        name="quick",
        description="3000 training / 1000 test images, 1 epoch, 4 gammas, 1 seed, "
                    "widths 32 and 128 (a smoke test: about 2 minutes on a 2-core CPU)",
        train_limit=3000, test_limit=1000, epochs=1, gammas=(1e-3, 1e-2, 0.1, 1.0),
        seeds=(0,), width=128, widths=(32, 128), log_every=1, curve_epochs=2,
        curve_train_limit=2000,
    ),
    "default": Profile(
        name="default",
        description="full Fashion-MNIST, 1 epoch, 7 gammas, 3 seeds, widths 32 to 256; "
                    "with the deep, remedies and conv figures about 30 minutes on a 2-core "
                    "CPU (width 512 and up: paper profile)",
        train_limit=None, test_limit=None, epochs=1, gammas=GAMMAS, seeds=(0, 1, 2),
        width=128, widths=(32, 128, 256), log_every=10, curve_epochs=3,
        curve_train_limit=20000,
    ),
    # The PCX paper's Fig. 5 grid (Pinchetti et al. 2024, "Benchmarking predictive coding
    # networks made simple"): widths 512-4096, gamma 1e-3 ... 1, SGD (momentum) vs AdamW
    # weights, hard_tanh and leaky_relu, T = 8, 8 epochs, 3 seeds.
    "paper": Profile(
        name="paper",
        description="the PCX paper's Fig. 5 grid: full Fashion-MNIST, 8 epochs, 7 gammas, 3 "
                    "seeds, widths 512 to 4096, hard_tanh and leaky_relu (for a GPU)",
        train_limit=None, test_limit=None, epochs=8, gammas=GAMMAS, seeds=(0, 1, 2),
        width=512, widths=(512, 1024, 2048, 4096), log_every=20,
        activations=("hard_tanh", "leaky_relu"), curve_epochs=8, curve_train_limit=None,
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
#: accuracy_vs_depth's lines: PC, iPC and BP share every setting but the learning rule. The
#: remedies (muPC, ePC) are compared at their own published recipes in remedies_vs_depth.
DEPTH_VARIANTS = ("pc", "ipc", "bp")
#: energy_propagation's panels: standard PC, then each remedy. "pc" reuses accuracy_vs_depth's
#: runs at the heatmap depth; the others are runs of their own.
REMEDIES = ("pc", "pc_more_steps", "epc", "mupc", "precision")
#: The state step of ePC and muPC in energy_propagation: their published recipes' (jpc's
#: examples/epc.ipynb and examples/mupc.ipynb: SGD lr 0.5 on the batch-mean energy), not PC's.
RECIPE_STATE_STEP = {"epc": 0.5, "mupc": 0.5}
RECIPE_CONVENTION = "batch_mean"


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
    decay_depths: tuple[int, ...]  # update_decay, bp_alignment and depth_gamma
    align_gammas: tuple[float, ...]  # depth_gamma; must contain DEEP_GAMMA
    log_every: int
    variants: tuple[str, ...] = DEPTH_VARIANTS
    remedies: tuple[str, ...] = REMEDIES
    #: bp_alignment's panels (among align_gammas); () = the three nearest DEEP_GAMMA.
    panel_gammas: tuple[float, ...] = ()

    def __post_init__(self):
        if self.heat_depth not in self.depths:
            raise ValueError(f"heat_depth={self.heat_depth} must be one of depths {self.depths}")
        if DEEP_GAMMA not in self.align_gammas:
            raise ValueError(f"align_gammas={self.align_gammas} must contain {DEEP_GAMMA}")
        if not set(self.panel_gammas) <= set(self.align_gammas):
            raise ValueError(f"panel_gammas={self.panel_gammas} must be among align_gammas "
                             f"{self.align_gammas}")
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
        """The config of one energy_propagation panel (at the heatmap depth)."""
        base = self.base().replace(depth=self.heat_depth)
        if remedy in RECIPE_STATE_STEP:
            return VARIANTS[remedy].config(base).replace(
                gamma=RECIPE_STATE_STEP[remedy], gamma_convention=RECIPE_CONVENTION)
        if remedy in VARIANTS:
            return VARIANTS[remedy].config(base)
        if remedy == "pc_more_steps":
            return base.replace(inference_steps=self.more_steps)
        if remedy == "precision":
            return base.replace(layer_precision=PRECISION)
        raise ValueError(f"unknown remedy {remedy!r}; known: {', '.join(REMEDIES)}")

    def as_dict(self) -> dict:
        """The fields as JSON-ready values: the data's `deep_profile` attr."""
        return json_fields(self)


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
                    "depths 2-32 (T = 64), heatmap depth 16, depth x gamma: depths 4-16 x 5 gammas",
        train_limit=10000, test_limit=None, epochs=1, seeds=(0, 1, 2), width=64,
        depths=(2, 4, 8, 16, 32), heat_depth=16, more_steps=256, decay_depths=(4, 8, 16),
        align_gammas=(0.01, 0.03, 0.1, 0.3, 1.0), log_every=5,
    ),
    "paper": DeepProfile(
        name="paper",
        description="full Fashion-MNIST, 4 epochs, 5 seeds, width 128, depths 2-64 "
                    "(T = 128), heatmap depth 16 (for a GPU)",
        train_limit=None, test_limit=None, epochs=4, seeds=(0, 1, 2, 3, 4), width=128,
        depths=(2, 4, 8, 16, 32, 64), heat_depth=16, more_steps=512,
        decay_depths=(4, 8, 16, 32), align_gammas=(0.003, 0.01, 0.03, 0.1, 0.3, 1.0),
        log_every=20,
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


# --------------------------------------------------------------------------- conv figures
#
# The networks (pcdiag.nets.vgg and resnet; `width` = first-stage channels): VGG-5, VGG-7,
# VGG-9 and ResNet-10 / ResNet-18 (depth 6 / 10: one / two basic blocks per stage). The
# settings that train conv PC on a CPU (measured: VGG-5 width 32, one full Fashion-MNIST
# epoch, 0.87 test accuracy for both pc and bp): gelu, batch 128, T = 8, states SGD with
# momentum 0.05 and gamma 0.015 (per-sample; PCX's VGG-5 PC-CE), weights AdamW lr 1e-3,
# weight decay 1.2e-5, cross-entropy output energy.

#: The networks of accuracy_vs_depth_conv: key -> (net, depth, legend text).
CONV_NETS = {
    "vgg5": ("vgg", 5, "VGG-5"),
    "resnet10": ("resnet", 6, "ResNet-10"),
    "vgg7": ("vgg", 7, "VGG-7"),
    "vgg9": ("vgg", 9, "VGG-9"),
    "resnet18": ("resnet", 10, "ResNet-18"),
}
CONV_ALGORITHMS = ("pc", "ipc", "epc", "bp")
CONV_GAMMA = 0.015
CONV_STATE_MOMENTUM = 0.05
CONV_WEIGHT_LR = 1e-3
CONV_WEIGHT_DECAY = 1.2e-5
#: energy_ratio_vs_gamma_conv's state learning rates (per-sample convention).
CONV_GAMMAS = (0.003, 0.01, 0.03, 0.1, 0.3, 1.0)


@dataclass(frozen=True)
class ConvProfile:
    """The sizes of the conv figures for one pcdiag.figures profile."""

    name: str
    description: str
    dataset: str
    train_limit: int | None  # None: the full training set
    test_limit: int | None
    epochs: int
    seeds: tuple[int, ...]  # accuracy_vs_depth_conv (the heatmaps show the first)
    width: int  # VGG first-stage channels
    resnet_width: int  # ResNet first-stage channels
    gammas: tuple[float, ...]  # energy_ratio_vs_gamma_conv (VGG-5)
    gamma_seeds: tuple[int, ...]
    log_every: int
    nets: tuple[str, ...] = tuple(CONV_NETS)
    algorithms: tuple[str, ...] = CONV_ALGORITHMS
    inference_steps: int = 8
    batch_size: int = 128

    def __post_init__(self):
        unknown = [n for n in self.nets if n not in CONV_NETS]
        if unknown or not self.nets:
            raise ValueError(f"nets={self.nets}: unknown network(s) {unknown}; known: "
                             f"{', '.join(CONV_NETS)}")
        bad = [a for a in self.algorithms if a not in CONV_ALGORITHMS]
        if bad or "pc" not in self.algorithms:
            raise ValueError(f"algorithms={self.algorithms} must include 'pc' and be among "
                             f"{', '.join(CONV_ALGORITHMS)}")
        if "vgg5" not in self.nets:
            raise ValueError(f"nets={self.nets} must include 'vgg5' (energy_propagation_conv's "
                             "first panel)")
        if not self.seeds or not self.gamma_seeds or not self.gammas:
            raise ValueError("seeds, gamma_seeds and gammas must each name at least one value")

    @property
    def ordered_nets(self) -> tuple[str, ...]:
        """The networks by depth (the x axis of accuracy_vs_depth_conv)."""
        return tuple(sorted(self.nets, key=lambda n: CONV_NETS[n][1]))

    @property
    def deepest(self) -> str:
        return self.ordered_nets[-1]

    def families(self) -> dict[str, tuple[int, ...]]:
        """net -> its depths in this profile (one sweep per family and algorithm)."""
        out: dict[str, tuple[int, ...]] = {}
        for key in self.ordered_nets:
            net, depth, _ = CONV_NETS[key]
            out[net] = out.get(net, ()) + (depth,)
        return out

    def base(self, net: str = "vgg") -> Config:
        return Config(
            dataset=self.dataset, net=net, depth=5 if net == "vgg" else 6,
            width=self.width if net == "vgg" else self.resnet_width, activation="gelu",
            output_energy="ce", algorithm="pc", inference_steps=self.inference_steps,
            gamma=CONV_GAMMA, gamma_convention="per_sample", state_optimizer="momentum",
            state_momentum=CONV_STATE_MOMENTUM, weight_optimizer="adamw",
            weight_lr=CONV_WEIGHT_LR, weight_decay=CONV_WEIGHT_DECAY,
            train_limit=self.train_limit, test_limit=self.test_limit, epochs=self.epochs,
            log_every=self.log_every, batch_size=self.batch_size,
        )

    def as_dict(self) -> dict:
        """The fields as JSON-ready values: the data's `conv_profile` attr."""
        return json_fields(self)


CONV_PROFILES = {
    "quick": ConvProfile(
        name="quick",
        description="Fashion-MNIST, 512 training / 500 test images, 1 epoch, 1 seed, VGG "
                    "width 4, VGG-5 and VGG-9 only, pc and bp, 3 gammas (a smoke test of the "
                    "pipeline: 4 training steps do not train, accuracy stays at chance; 5 "
                    "programs, about 3.3 minutes estimated on a 2-core CPU)",
        dataset="fashion-mnist", train_limit=512, test_limit=500, epochs=1, seeds=(0,),
        width=4, resnet_width=4, gammas=(0.003, 0.03, 0.3), gamma_seeds=(0,), log_every=1,
        nets=("vgg5", "vgg9"), algorithms=("pc", "bp"),
    ),
    "default": ConvProfile(
        name="default",
        description="Fashion-MNIST, 2,048 training / 1,000 test images, 1 epoch at batch 32 "
                    "(64 weight steps), 3 seeds, VGG width 8, ResNet width 4, 5 networks, pc "
                    "and bp (iPC and ePC: paper profile only; compiling their 10 programs "
                    "would add ~19 min), 6 gammas",
        dataset="fashion-mnist", train_limit=2048, test_limit=1000, epochs=1, seeds=(0, 1, 2),
        width=8, resnet_width=4, gammas=CONV_GAMMAS, gamma_seeds=(0,), log_every=2,
        algorithms=("pc", "bp"), batch_size=32,
    ),
    "paper": ConvProfile(
        name="paper",
        description="CIFAR-10, full data, 5 epochs, 3 seeds, VGG width 128 (PCX's), ResNet "
                    "width 64, 5 networks, pc/ipc/epc/bp, 6 gammas x 3 seeds (for a GPU)",
        dataset="cifar-10", train_limit=None, test_limit=None, epochs=5, seeds=(0, 1, 2),
        width=128, resnet_width=64, gammas=CONV_GAMMAS, gamma_seeds=(0, 1, 2), log_every=20,
    ),
}


def conv_profile(profile: str | Profile | ConvProfile) -> ConvProfile:
    """The ConvProfile of a pcdiag.figures profile (by name; for a custom `Profile`: quick's
    networks with the profile's data size, epochs and seeds)."""
    if isinstance(profile, ConvProfile):
        return profile
    if isinstance(profile, str):
        if profile in CONV_PROFILES:
            return CONV_PROFILES[profile]
        if profile not in PROFILES:
            raise FigureError(f"unknown conv profile {profile!r}; known profiles: "
                              f"{', '.join(CONV_PROFILES)} (or add a ConvProfile to "
                              "pcdiag.figures.profiles.CONV_PROFILES)")
        profile = get_profile(profile)
    if not isinstance(profile, Profile):
        raise FigureError(f"conv profile: expected a profile name, Profile or ConvProfile, "
                          f"got {type(profile).__name__}")
    if profile.name in CONV_PROFILES:
        return CONV_PROFILES[profile.name]
    return replace(CONV_PROFILES["quick"], name=profile.name,
                   description=f"quick's conv networks, {profile.description}",
                   train_limit=profile.train_limit, test_limit=profile.test_limit,
                   epochs=profile.epochs, seeds=profile.seeds)


# --------------------------------------------------------------------------- remedies figure
#
# remedies_vs_depth runs each remedy at its own published recipe (pcdiag.figures.remedies):
#
# - muPC: thebuckleylab/jpc examples/mupc.ipynb (Innocenti et al. 2025, Fig. 1's network): a
#   ReLU residual MLP (skips around every hidden layer but the first and last) in the muPC
#   parameterization (N(0, 1) weights, multipliers 1/sqrt(n_0), 1/sqrt(N L), 1/N), width 128,
#   squared-error output (jpc.mse_loss), activity SGD lr 0.5 on the batch-mean energy
#   (jpc's energy is a batch mean), T = depth, Adam lr 0.1, batch 64, MNIST standardised with
#   (0.1307, 0.3081); jpc prints 93.3% test accuracy after 900 iterations at depth 30.
#   Differences here: pcdiag's muPC layers have biases (starting at 0), jpc's none.
# - ePC: thebuckleylab/jpc examples/epc.ipynb (Goemaere et al. 2025): a plain ReLU MLP
#   (no skips, standard parameterization: U(-1/sqrt(fan_in), 1/sqrt(fan_in)), equinox's
#   default), width 128, squared-error output, error SGD lr 0.5 on the batch-mean energy,
#   T = depth, Adam lr 1e-3, batch 64 (jpc: 91.6% after 300 iterations at depth 10); the
#   weight step is the ePC paper's code (cgoemaere/error_based_PC, branch cifar, pc_e.py:
#   local at the inferred states, the weight loss divided by min(1, e_lr x iters)):
#   epc_weight_update="local_scaled" (EPC_WEIGHT_UPDATE).
#
# PC in each panel is the recipe with the remedy removed (muPC -> parameterization "sp";
# ePC -> algorithm "pc"); BP is the recipe's network and Adam, at BP's own learning rate.

#: Every recipe: activation, output energy, state step (jpc's 0.5 on the batch-mean energy,
#: i.e. 0.5 / 64 per sample), batch size.
RECIPE_ACTIVATION = "relu"
RECIPE_OUTPUT = "se"
RECIPE_GAMMA = 0.5
RECIPE_CONVENTION = "batch_mean"
RECIPE_BATCH = 64
#: Adam learning rates: muPC's (jpc's mupc.ipynb) and ePC's (jpc's epc.ipynb).
MUPC_RECIPE_LR = 0.1
EPC_RECIPE_LR = 1e-3
#: BP on the muPC network: Adam lr 0.1 (muPC's) collapsed at depth 64 (measured: 0.10 test
#: accuracy for 3 of 3 seeds, 1,280 images, width 64); 1e-2 gave 0.58, 1e-3 0.23. On the
#: ePC network BP uses ePC's 1e-3.
BP_MUPC_LR = 1e-2
#: The ePC weight step the figure uses (Config.epc_weight_update; see its docstring).
EPC_WEIGHT_UPDATE = "local_scaled"
#: The two panels, left to right; each has the variants pc, remedy, bp.
RECIPES = ("mupc", "epc")
RECIPE_VARIANTS = ("pc", "remedy", "bp")


@dataclass(frozen=True)
class RemedyProfile:
    """The sizes of remedies_vs_depth for one pcdiag.figures profile."""

    name: str
    description: str
    train_limit: int | None  # None: the full MNIST training set (one epoch)
    test_limit: int | None
    seeds: tuple[int, ...]
    depths: tuple[int, ...]  # one program per depth, recipe and variant; T = depth
    mupc_width: int
    epc_width: int
    log_every: int

    def __post_init__(self):
        if not self.depths or not self.seeds:
            raise ValueError(f"RemedyProfile {self.name!r}: depths={self.depths} and "
                             f"seeds={self.seeds} must each name at least one value")
        if min(self.depths) < 3 or sorted(set(self.depths)) != list(self.depths):
            raise ValueError(f"RemedyProfile {self.name!r}: depths={self.depths} must be "
                             "increasing and >= 3 (a residual MLP needs a hidden layer "
                             "between its first and last)")
        steps = (self.train_limit or 60000) // RECIPE_BATCH
        if steps < self.log_every:
            raise ValueError(f"RemedyProfile {self.name!r}: log_every={self.log_every} is "
                             f"more than the {steps} steps of one epoch; lower log_every")

    def config(self, recipe: str, variant: str, depth: int) -> Config:
        """The run of one panel (`recipe`: mupc | epc), line (`variant`: pc | remedy | bp)
        and depth (T = depth)."""
        if recipe not in RECIPES or variant not in RECIPE_VARIANTS:
            raise ValueError(f"recipe={recipe!r}, variant={variant!r}: recipe must be one of "
                             f"{', '.join(RECIPES)} and variant one of "
                             f"{', '.join(RECIPE_VARIANTS)}")
        mupc = recipe == "mupc"
        base = Config(
            dataset="mnist", depth=depth, width=self.mupc_width if mupc else self.epc_width,
            activation=RECIPE_ACTIVATION, output_energy=RECIPE_OUTPUT, skip=mupc,
            parameterization="sp", algorithm="pc", inference_steps=depth, gamma=RECIPE_GAMMA,
            gamma_convention=RECIPE_CONVENTION, state_optimizer="sgd", weight_optimizer="adamw",
            weight_lr=MUPC_RECIPE_LR if mupc else EPC_RECIPE_LR, weight_decay=0.0,
            batch_size=RECIPE_BATCH, train_limit=self.train_limit, test_limit=self.test_limit,
            epochs=1, log_every=self.log_every,
        )
        if variant == "bp":
            return base.replace(algorithm="bp", weight_lr=BP_MUPC_LR if mupc else EPC_RECIPE_LR,
                                parameterization="mupc" if mupc else "sp")
        if variant == "remedy":
            return (base.replace(parameterization="mupc") if mupc else
                    base.replace(algorithm="epc", epc_weight_update=EPC_WEIGHT_UPDATE))
        return base

    def as_dict(self) -> dict:
        """The fields as JSON-ready values: the data's `remedy_profile` attr."""
        return json_fields(self)


REMEDY_PROFILES = {
    "quick": RemedyProfile(
        name="quick",
        description="640 training / 1,000 test images (10 steps), 1 seed, width 16, depths 4 "
                    "and 8 (a smoke test)",
        train_limit=640, test_limit=1000, seeds=(0,), depths=(4, 8), mupc_width=16,
        epc_width=16, log_every=1,
    ),
    "default": RemedyProfile(
        name="default",
        description="4,096 training images (one pass: 64 steps of 64), all 10,000 test "
                    "images, 3 seeds, width 64, depths 8-64 (about 7 minutes on a 2-core CPU)",
        train_limit=4096, test_limit=None, seeds=(0, 1, 2), depths=(8, 16, 32, 64),
        mupc_width=64, epc_width=64, log_every=2,
    ),
    "paper": RemedyProfile(
        name="paper",
        description="one full MNIST epoch (937 steps), 3 seeds, width 128 (the recipes'), "
                    "depths 8-128 (for a GPU)",
        train_limit=None, test_limit=None, seeds=(0, 1, 2), depths=(8, 16, 32, 64, 128),
        mupc_width=128, epc_width=128, log_every=10,
    ),
}


def remedy_profile(profile: str | Profile | RemedyProfile) -> RemedyProfile:
    """The RemedyProfile of a pcdiag.figures profile (by name; else quick's networks with
    the profile's data size and seeds)."""
    if isinstance(profile, RemedyProfile):
        return profile
    if isinstance(profile, str):
        profile = get_profile(profile)
    if not isinstance(profile, Profile):
        raise FigureError(f"remedy_profile: expected a profile name, Profile or "
                          f"RemedyProfile, got {type(profile).__name__}")
    if profile.name in REMEDY_PROFILES:
        return REMEDY_PROFILES[profile.name]
    return replace(REMEDY_PROFILES["quick"], name=profile.name,
                   description=f"quick's networks, {profile.description}",
                   train_limit=profile.train_limit, test_limit=profile.test_limit,
                   seeds=profile.seeds)
