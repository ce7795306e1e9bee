"""How big the experiments behind the figures are: the profiles and the one resolver.

`PROFILES` name the sizes (quick, default, long, paper) and size the analysis figures (data,
epochs, gammas, seeds, widths). Each other family keeps a table of its own sizes under the
same names next to its figures (pcdiag.figures.depth.profile, conv.profile,
remedies.profile); `family_profile` is the one way from a profile name or `Profile` to a
family's entry, so ``--profile quick`` runs every figure at its quick size.
`layer_sizes_of(config)` is the one place that spells out the layer sizes of a config's
network.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, fields, replace
from typing import TypeVar

from pcdiag.config import Config
from pcdiag.figures.errors import FigureError
from pcdiag.nets import build

T = TypeVar("T")

# --------------------------------------------------------------------------- networks


def layer_sizes_of(config: Config) -> list[int]:
    """Units of each node of the network `config` describes, input first (its contract's
    input and node shapes)."""
    net = build(config)
    return [math.prod(net.input_shape)] + [math.prod(shape) for shape in net.node_shapes]


class Sizes:
    """What every family's sizes (a frozen dataclass) share: their fields as JSON, the attr
    (`deep_profile`, `conv_profile`, `remedy_profile`) their figures' data keep."""

    def as_dict(self) -> dict:
        """The fields as JSON-ready values (tuples as lists)."""
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.__dict__.items()}

    def to_json(self) -> str:
        return json.dumps(self.as_dict())


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
    #: learning_curves: images held out of the training file, to choose PC's γ on (0: none)
    curve_validation_size: int = 0
    #: accuracy_vs_gamma_by_width's activations (one row each); the other analysis figures
    #: show the first.
    activations: tuple[str, ...] = ("hard_tanh",)
    #: the figures the profile makes when none are named (--only); () = every figure
    figures: tuple[str, ...] = ()

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

PROFILES = {
    "quick": Profile(
        name="quick",
        description="3000 training / 1000 test images, 1 epoch, 4 gammas, 1 seed, "
                    "widths 32 and 128 (a smoke test: about 2 minutes on a 2-core CPU)",
        train_limit=3000, test_limit=1000, epochs=1, gammas=(1e-3, 1e-2, 0.1, 1.0),
        seeds=(0,), width=128, widths=(32, 128), log_every=1, curve_epochs=2,
        curve_train_limit=2000, curve_validation_size=1000,
    ),
    "default": Profile(
        name="default",
        description="full Fashion-MNIST, 1 epoch, 7 gammas, 3 seeds, widths 32 to 256; "
                    "with the deep, remedies and conv figures about 30 minutes on a 2-core "
                    "CPU (width 512 and up: paper profile)",
        train_limit=None, test_limit=None, epochs=1, gammas=GAMMAS, seeds=(0, 1, 2),
        width=128, widths=(32, 128, 256), log_every=10, curve_epochs=10,
        curve_train_limit=10000, curve_validation_size=5000,
    ),
    # The story at budgets that support it, on 2 CPU cores: its own figure list; the other
    # families' sizes are in their tables under "long" (pcdiag.figures.depth.profile).
    "long": Profile(
        name="long",
        description="the default's conclusions at budgets that reach a plateau, on 2 CPU "
                    "cores: accuracy_vs_depth (PC, iPC, ePC, μPC, BP at validated steps, 3 "
                    "epochs of 55,000 images), learning_curves (10 epochs of 55,000 "
                    "images, BP beside PC) and the three conv figures (one full epoch, T = L, "
                    "validated steps); into figures/long/",
        train_limit=None, test_limit=None, epochs=1, gammas=GAMMAS, seeds=(0, 1, 2),
        width=128, widths=(128,), log_every=20, curve_epochs=10, curve_train_limit=None,
        curve_validation_size=5000,
        figures=("accuracy_vs_depth", "learning_curves", "accuracy_vs_depth_conv",
                 "energy_propagation_conv", "energy_ratio_vs_gamma_conv"),
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
        activations=("hard_tanh", "leaky_relu"), curve_epochs=10, curve_train_limit=50000,
        curve_validation_size=10000,
    ),
}
#: The state step of jpc's published recipes (examples/epc.ipynb and mupc.ipynb): SGD lr 0.5
#: on the batch-mean energy (jpc's energy is a batch mean). remedies_vs_depth runs every recipe
#: with it, energy_propagation its ePC and muPC panels.
RECIPE_GAMMA = 0.5
RECIPE_CONVENTION = "batch_mean"
#: The recipes' batch size, and their state step in the per-sample convention (0.5 / 64).
RECIPE_BATCH = 64
RECIPE_GAMMA_PER_SAMPLE = RECIPE_GAMMA / RECIPE_BATCH


def get_profile(profile: str | Profile) -> Profile:
    if isinstance(profile, Profile):
        return profile
    if profile not in PROFILES:
        raise FigureError(f"unknown profile {profile!r}; known profiles: {', '.join(PROFILES)}")
    return PROFILES[profile]


def family_profile(profile: str | Profile | T, table: dict[str, T], kind: type[T],
                   what: str = "networks") -> T:
    """A family's sizes (`kind`, an entry of `table`) for a pcdiag.figures profile: `profile`
    itself when it is a `kind` already, else the entry of its name; for a custom `Profile`,
    the quick entry (`what` in its description) with the profile's data size, epochs and
    seeds (those fields `kind` has)."""
    if isinstance(profile, kind):
        return profile
    if isinstance(profile, str):
        profile = table[profile] if profile in table else get_profile(profile)
        if isinstance(profile, kind):
            return profile
    if not isinstance(profile, Profile):
        raise FigureError(f"{kind.__name__}: expected a profile name, Profile or "
                          f"{kind.__name__}, got {type(profile).__name__}")
    if profile.name in table:
        return table[profile.name]
    own = {f.name for f in fields(kind)}
    sizes = {k: getattr(profile, k) for k in ("train_limit", "test_limit", "epochs", "seeds")
             if k in own}
    return replace(table["quick"], name=profile.name,
                   description=f"quick's {what}, {profile.description}", **sizes)
