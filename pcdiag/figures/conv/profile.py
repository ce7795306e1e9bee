"""The conv figures' networks, their sizes per profile and their sweeps.

The networks (pcdiag.nets.vgg and resnet; `width` = first-stage channels): VGG-5, VGG-7,
VGG-9 and ResNet-10 / ResNet-18 (depth 6 / 10: one / two basic blocks per stage). The
settings that train conv PC on a CPU (measured: VGG-5 width 32, one full Fashion-MNIST
epoch, 0.87 test accuracy for both pc and bp): gelu, batch 128, T = 8, states SGD with
momentum 0.05 and gamma 0.015 (per-sample; PCX's VGG-5 PC-CE), weights AdamW lr 1e-3,
weight decay 1.2e-5, cross-entropy output energy.

`CONV_PROFILES` holds one `ConvProfile` per profile name; a custom `Profile` uses quick's
networks with its own data size and seeds (pcdiag.figures.profiles.family_profile). The
sweeps carry the conv cost model (pcdiag.figures.cost: `CONV`)."""

from __future__ import annotations

import json
from dataclasses import dataclass

import xarray as xr

from pcdiag.config import Config
from pcdiag.figures.captions import describe
from pcdiag.figures.cost import CONV
from pcdiag.figures.experiments import (
    SweepSpec,
    config_of,
    conform,
    coords_along,
    select,
    trim,
)
from pcdiag.figures.profiles import Profile, Sizes, family_profile
from pcdiag.selection import at_best_gamma

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
class ConvProfile(Sizes):
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
    #: inference steps T; 0: each network's number of nodes (T = L, the steps PC's error
    #: front needs to reach node 1)
    inference_steps: int = 8
    batch_size: int = 128
    #: images held out of the end of the training file, to choose the state step on
    validation_size: int = 0
    #: the state steps PC and iPC choose from per network (needs validation_size): the first
    #: seed runs each, and its final validation accuracy picks one
    #: (pcdiag.selection.at_best_gamma); the other seeds run the chosen step. (): every run at
    #: CONV_GAMMA.
    screen_gammas: tuple[float, ...] = ()
    #: the networks iPC runs on (None: every network of `nets`)
    ipc_nets: tuple[str, ...] | None = None

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
        if self.screen_gammas and not self.validation_size:
            raise ValueError(f"screen_gammas={self.screen_gammas} needs validation_size > 0 "
                             "(the split the state step is chosen on)")
        stray = [n for n in (self.ipc_nets or ()) if n not in self.nets]
        if stray:
            raise ValueError(f"ipc_nets={self.ipc_nets}: {stray} not among nets {self.nets}")

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

    def nets_of(self, algorithm: str) -> tuple[str, ...]:
        """The networks `algorithm` runs on, by depth."""
        if algorithm == "ipc" and self.ipc_nets is not None:
            return tuple(n for n in self.ordered_nets if n in self.ipc_nets)
        return self.ordered_nets

    def config(self, algorithm: str, key: str) -> Config:
        """The config of `algorithm` on network `key` (T = its nodes where inference_steps
        is 0)."""
        net, depth, _ = CONV_NETS[key]
        return self.base(net).replace(algorithm=algorithm, depth=depth,
                                      inference_steps=self.inference_steps or depth)

    def base(self, net: str = "vgg") -> Config:
        depth = 5 if net == "vgg" else 6
        return Config(
            dataset=self.dataset, net=net, depth=depth,
            width=self.width if net == "vgg" else self.resnet_width, activation="gelu",
            output_energy="ce", algorithm="pc", inference_steps=self.inference_steps or depth,
            gamma=CONV_GAMMA, gamma_convention="per_sample", state_optimizer="momentum",
            validation_size=self.validation_size,
            state_momentum=CONV_STATE_MOMENTUM, weight_optimizer="adamw",
            weight_lr=CONV_WEIGHT_LR, weight_decay=CONV_WEIGHT_DECAY,
            train_limit=self.train_limit, test_limit=self.test_limit, epochs=self.epochs,
            log_every=self.log_every, batch_size=self.batch_size,
        )


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
    # The conv story at budgets that train, on 2 CPU cores (with the long MLP figures
    # measured at 111 min 39 s in one command, figures/long/README.md): one full epoch, each
    # network's own T = L, PC and iPC at the state step chosen on 5,000 held-out images.
    # iPC runs the VGGs only: its step costs 2.2 times PC's (measured on ResNet-10: 0.49 vs
    # 0.23 s at width 4), about 18 and 50 min for the two ResNets' 5 run-epochs each.
    "long": ConvProfile(
        name="long",
        description="Fashion-MNIST, one full epoch of 55,000 training images (5,000 held out "
                    "to choose γ), the full test set, 3 seeds, VGG and ResNet width 4, 5 "
                    "networks, T = L each; PC and iPC (VGGs) at the step of 0.03, 0.1, 0.3 "
                    "that the first seed validates, BP; VGG-5's γ sweep over 6 steps x 3 seeds",
        dataset="fashion-mnist", train_limit=None, test_limit=None, epochs=1, seeds=(0, 1, 2),
        width=4, resnet_width=4, gammas=CONV_GAMMAS, gamma_seeds=(0, 1, 2), log_every=13,
        algorithms=("pc", "ipc", "bp"), inference_steps=0, validation_size=5000,
        screen_gammas=(0.03, 0.1, 0.3), ipc_nets=("vgg5", "vgg7", "vgg9"),
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
    return family_profile(profile, CONV_PROFILES, ConvProfile, "conv networks")


#: The conv specs' name prefix (their store folders and lines of the estimate).
PREFIX = "conv-"


def family_spec(profile, algorithm: str, net: str) -> SweepSpec:
    """One sweep per algorithm and network family over its depths x seeds (depth: a program
    each; seeds: vmapped)."""
    c = conv_profile(profile)
    depths = c.families()[net]
    config = c.base(net).replace(algorithm=algorithm, depth=depths[0])
    return SweepSpec.make(f"{PREFIX}{algorithm}-{net}", config, cost=CONV, depth=depths,
                          seed=c.seeds)


def gamma_spec(profile) -> SweepSpec:
    """PC on VGG-5 over gamma x seed (one program)."""
    c = conv_profile(profile)
    return SweepSpec.make(f"{PREFIX}pc-vgg5-gamma", c.base("vgg"), cost=CONV, gamma=c.gammas,
                          seed=c.gamma_seeds)


def screen_spec(c: ConvProfile, algorithm: str, key: str) -> SweepSpec:
    """The first seed of `algorithm` on network `key` at every screen step (one program)."""
    return SweepSpec.make(f"{PREFIX}{algorithm}-{key}-screen", c.config(algorithm, key),
                          cost=CONV, gamma=c.screen_gammas, seed=c.seeds[:1])


def rest_spec(c: ConvProfile, algorithm: str, key: str, gamma: float) -> SweepSpec:
    """The other seeds of `algorithm` on network `key` at the step the screen chose."""
    return SweepSpec.make(f"{PREFIX}{algorithm}-{key}", c.config(algorithm, key).replace(
        gamma=gamma), cost=CONV, seed=c.seeds[1:])


def screened(c: ConvProfile, algorithm: str) -> bool:
    """Whether `algorithm`'s state step is chosen per network (ConvProfile.screen_gammas)."""
    return bool(c.screen_gammas) and algorithm != "bp"


def accuracy_specs(profile) -> dict[str, SweepSpec]:
    """Per algorithm: one sweep per network family over depth x seed, or, where the step is
    screened, one screen per network (its other seeds: `accuracy_followups`)."""
    c = conv_profile(profile)
    specs = {}
    for a in c.algorithms:
        if screened(c, a):
            specs.update({f"{a}-{key}-screen": screen_spec(c, a, key) for key in c.nets_of(a)})
        else:
            specs.update({f"{a}-{net}": family_spec(c, a, net) for net in c.families()})
    return specs


def accuracy_followups(profile, results) -> dict[str, SweepSpec]:
    """The seeds after the first of each screened algorithm and network, at the step its
    screen chose (`results`: the screens' Datasets; None: at the grid's first step, which
    costs the same, for the estimate)."""
    c = conv_profile(profile)
    if len(c.seeds) < 2:
        return {}
    specs = {}
    for a in c.algorithms:
        if not screened(c, a):
            continue
        for key in c.nets_of(a):
            gamma = (c.screen_gammas[0] if results is None
                     else chosen_step(results[f"{a}-{key}-screen"])[0])
            specs[f"{a}-{key}"] = rest_spec(c, a, key, gamma)
    return specs


def chosen_step(screen: xr.Dataset) -> tuple[float, bool]:
    """The step a screen chooses and whether some step kept its run ok
    (pcdiag.selection.at_best_gamma)."""
    _, gamma, ok = at_best_gamma(screen, CONV_GAMMA)
    return gamma, ok


def energy_specs(profile) -> dict[str, SweepSpec]:
    c = conv_profile(profile)
    if screened(c, "pc"):
        return {f"pc-{key}-screen": screen_spec(c, "pc", key)
                for key in dict.fromkeys(("vgg5", c.deepest))}
    nets = {CONV_NETS[k][0] for k in ("vgg5", c.deepest)}
    return {f"pc-{net}": family_spec(c, "pc", net) for net in sorted(nets)}


def ratio_specs(profile) -> dict[str, SweepSpec]:
    return {"gamma": gamma_spec(profile)}


def network_coords(ds: xr.Dataset, c: ConvProfile, keys: list[str]) -> xr.Dataset:
    """Label the `network` dim and add what each network is (net, depth, width, text)."""
    ds["network"].attrs = {"long_name": "network", "units": "1",
                           "comment": "key of pcdiag.figures.profiles.CONV_NETS; its settings "
                                      "are the coords net, depth, width along network"}
    coords = {
        "description": [CONV_NETS[k][2] for k in keys],
        "net": [CONV_NETS[k][0] for k in keys],
        "depth": [CONV_NETS[k][1] for k in keys],
        "width": [c.base(CONV_NETS[k][0]).width for k in keys],
    }
    ds = coords_along(ds, "network", coords, "network")
    ds["depth"].attrs["long_name"] = "depth L (weight layers)"
    ds["width"].attrs["comment"] += " (first-stage channels)"
    return ds


def run_of(c: ConvProfile, results, algorithm: str, key: str, keep_t: bool) -> xr.Dataset:
    """`algorithm`'s runs on network `key` over seed: of its family's sweep, or (screened)
    the screen's first seed at the step it chose and the other seeds where `results` has
    them (their followup sweep)."""
    net, depth, _ = CONV_NETS[key]
    if not screened(c, algorithm):
        part = select(results[f"{algorithm}-{net}"], depth=depth)
        part = part.drop_vars("depth").isel(layer=slice(0, depth))
        return trim(part, keep_t=keep_t)
    screen = results[f"{algorithm}-{key}-screen"]
    gamma, _ = chosen_step(screen)
    part = trim(select(screen, gamma=gamma), keep_t=keep_t)
    rest = results.get(f"{algorithm}-{key}")
    if rest is None:
        return part
    rest = trim(rest, keep_t=keep_t)
    rest = rest.drop_vars([v for v in rest.coords if v not in part.coords])
    return conform(xr.concat([part.drop_vars("gamma"), rest], "seed"),
                   config_of(part).replace(seed=c.seeds[0]))


def conv_caption(ds: xr.Dataset, *lines: str) -> str:
    """The conv figures' settings (convention, widths, data, optimizers), then `lines`."""
    cfg = config_of(ds)
    c = json.loads(ds.attrs.get("conv_profile", "{}"))
    resnet = "net" in ds.coords and "resnet" in [str(v) for v in ds["net"].values]
    data = (f"{cfg.n_train} {cfg.dataset} training images (a subset)"
            if cfg.train_limit else f"all {cfg.n_train} {cfg.dataset} training images")
    tests = f"{cfg.test_limit} test images" if cfg.test_limit else "the full test set"
    widths = f"VGG width {c.get('width', cfg.width)}" + (
        f", ResNet width {c.get('resnet_width', '?')}" if resnet else "") + (
        " (first-stage channels)")
    per_net = c.get("inference_steps", 1) == 0  # T = L, each network its own
    states = f"states SGD with momentum {cfg.state_momentum:g}"
    if cfg.validation_size:
        data += f" ({cfg.validation_size} more held out for validation)"
    return describe(ds, f"{widths}; {cfg.activation}", *lines, data=f"{data}, {tests}",
                    states=("T = L (each network's number of nodes), " if per_net else "")
                    + states, weights=True, steps=not per_net,
                    end=" Images padded to 32 x 32.")
