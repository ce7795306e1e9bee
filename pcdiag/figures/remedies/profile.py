"""remedies_vs_depth's recipes, sizes per profile and sweeps: each remedy runs at its own
published recipe.

- muPC: thebuckleylab/jpc examples/mupc.ipynb (Innocenti et al. 2025, Fig. 1's network): a
  ReLU residual MLP (skips around every hidden layer but the first and last) in the muPC
  parameterization (N(0, 1) weights, multipliers 1/sqrt(n_0), 1/sqrt(N L), 1/N), width 128,
  squared-error output (jpc.mse_loss), activity SGD lr 0.5 on the batch-mean energy
  (jpc's energy is a batch mean), T = depth, Adam lr 0.1, batch 64, MNIST standardised with
  (0.1307, 0.3081); jpc prints 93.3% test accuracy after 900 iterations at depth 30.
  Differences here: pcdiag's muPC layers have biases (starting at 0), jpc's none.
- ePC: thebuckleylab/jpc examples/epc.ipynb (Goemaere et al. 2025): a plain ReLU MLP
  (no skips, standard parameterization: U(-1/sqrt(fan_in), 1/sqrt(fan_in)), equinox's
  default), width 128, squared-error output, error SGD lr 0.5 on the batch-mean energy,
  T = depth, Adam lr 1e-3, batch 64 (jpc: 91.6% after 300 iterations at depth 10); the
  weight step is the ePC paper's code (cgoemaere/error_based_PC, branch cifar, pc_e.py:
  local at the inferred states, the weight loss divided by min(1, e_lr x iters)):
  epc_weight_update="local_scaled" (EPC_WEIGHT_UPDATE).

PC in each panel is the recipe with the remedy removed (muPC -> parameterization "sp";
ePC -> algorithm "pc"); BP is the recipe's network and Adam, at BP's own learning rate.

Each inference line (PC and the remedy) runs a grid of state steps `gammas` (batch-mean
convention, the recipe's 0.5 among them), seeds and steps vmapped in one program per depth;
the figure shows each line at the step its validation accuracy (median over seeds) picks,
at each depth, on `validation_size` images held out of the MNIST training file
(pcdiag.selection.best_setting), and the recipe's step beside it. BP has no state step.

`REMEDY_PROFILES` holds one `RemedyProfile` per profile name; the sweeps carry the
residual-MLP cost model (pcdiag.figures.cost)."""

from __future__ import annotations

from dataclasses import dataclass

from pcdiag.config import Config
from pcdiag.data.registry import info
from pcdiag.figures.cost import RESIDUAL_MLP
from pcdiag.figures.experiments import SweepSpec
from pcdiag.figures.profiles import (
    RECIPE_BATCH,
    RECIPE_CONVENTION,
    RECIPE_GAMMA,
    Profile,
    Sizes,
    family_profile,
)

#: The recipes' data set (MNIST, standardised).
RECIPE_DATASET = "mnist"
#: Every recipe: activation, output energy, batch size (and the state step: jpc's 0.5 on the
#: batch-mean energy, i.e. 0.5 / 64 per sample, pcdiag.figures.profiles.RECIPE_GAMMA).
RECIPE_ACTIVATION = "relu"
RECIPE_OUTPUT = "se"
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
class RemedyProfile(Sizes):
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
    #: state steps of PC and the remedies, batch-mean convention (RECIPE_GAMMA among them)
    gammas: tuple[float, ...] = (RECIPE_GAMMA,)
    #: images held out of the training file to choose each line's step on (0: none, only
    #: with a single step)
    validation_size: int = 0

    def __post_init__(self):
        if RECIPE_GAMMA not in self.gammas:
            raise ValueError(f"RemedyProfile {self.name!r}: gammas={self.gammas} must contain "
                             f"the recipes' step {RECIPE_GAMMA:g}")
        if len(self.gammas) > 1 and self.validation_size < 1:
            raise ValueError(f"RemedyProfile {self.name!r}: validation_size="
                             f"{self.validation_size} with {len(self.gammas)} steps; a step "
                             "is chosen on a validation split: set validation_size >= 1")
        if not self.depths or not self.seeds:
            raise ValueError(f"RemedyProfile {self.name!r}: depths={self.depths} and "
                             f"seeds={self.seeds} must each name at least one value")
        if min(self.depths) < 3 or sorted(set(self.depths)) != list(self.depths):
            raise ValueError(f"RemedyProfile {self.name!r}: depths={self.depths} must be "
                             "increasing and >= 3 (a residual MLP needs a hidden layer "
                             "between its first and last)")
        steps = (self.train_limit or info(RECIPE_DATASET).n_train) // RECIPE_BATCH
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
            dataset=RECIPE_DATASET, depth=depth, width=self.mupc_width if mupc else self.epc_width,
            activation=RECIPE_ACTIVATION, output_energy=RECIPE_OUTPUT, skip=mupc,
            parameterization="sp", algorithm="pc", inference_steps=depth, gamma=RECIPE_GAMMA,
            gamma_convention=RECIPE_CONVENTION, state_optimizer="sgd", weight_optimizer="adamw",
            weight_lr=MUPC_RECIPE_LR if mupc else EPC_RECIPE_LR, weight_decay=0.0,
            batch_size=RECIPE_BATCH, train_limit=self.train_limit, test_limit=self.test_limit,
            epochs=1, log_every=self.log_every, validation_size=self.validation_size,
        )
        if variant == "bp":
            return base.replace(algorithm="bp", weight_lr=BP_MUPC_LR if mupc else EPC_RECIPE_LR,
                                parameterization="mupc" if mupc else "sp")
        if variant == "remedy":
            return (base.replace(parameterization="mupc") if mupc else
                    base.replace(algorithm="epc", epc_weight_update=EPC_WEIGHT_UPDATE))
        return base


REMEDY_PROFILES = {
    "quick": RemedyProfile(
        name="quick",
        description="640 training / 1,000 test images (10 steps), 1 seed, width 16, depths 4 "
                    "and 8 (a smoke test)",
        train_limit=640, test_limit=1000, seeds=(0,), depths=(4, 8), mupc_width=16,
        epc_width=16, log_every=1, gammas=(0.5, 4.0), validation_size=1000,
    ),
    "default": RemedyProfile(
        name="default",
        description="4,096 training images (one pass: 64 steps of 64), 5,000 held out to "
                    "choose the step on, all 10,000 test images, 3 seeds, 3 state steps, "
                    "width 64, depths 8-64",
        train_limit=4096, test_limit=None, seeds=(0, 1, 2), depths=(8, 16, 32, 64),
        mupc_width=64, epc_width=64, log_every=2, gammas=(0.5, 2.0, 8.0),
        validation_size=5000,
    ),
    "paper": RemedyProfile(
        name="paper",
        description="50,000 MNIST training images (one pass, 781 steps), 10,000 held out, "
                    "3 seeds, 3 state steps, width 128 (the recipes'), depths 8-128 (for a GPU)",
        train_limit=None, test_limit=None, seeds=(0, 1, 2), depths=(8, 16, 32, 64, 128),
        mupc_width=128, epc_width=128, log_every=10, gammas=(0.5, 2.0, 8.0),
        validation_size=10000,
    ),
}


def remedy_profile(profile: str | Profile | RemedyProfile) -> RemedyProfile:
    """The RemedyProfile of a pcdiag.figures profile (by name; else quick's networks with
    the profile's data size and seeds)."""
    return family_profile(profile, REMEDY_PROFILES, RemedyProfile)


#: The spec names' prefix (store folders and lines of the estimate).
PREFIX = "remedy-"


def spec(profile: RemedyProfile, recipe: str, variant: str, depth: int) -> SweepSpec:
    """One program: a recipe's variant at one depth (T = depth), seeds (and, for PC and the
    remedy, the state steps) vmapped."""
    axes = {"seed": profile.seeds}
    if variant != "bp" and len(profile.gammas) > 1:
        axes["gamma"] = profile.gammas
    return SweepSpec.make(f"{PREFIX}{recipe}-{variant}-{depth}",
                          profile.config(recipe, variant, depth), cost=RESIDUAL_MLP, **axes)


def specs(profile) -> dict[str, SweepSpec]:
    r = remedy_profile(profile)
    return {f"{recipe}/{variant}/{depth}": spec(r, recipe, variant, depth)
            for recipe in RECIPES for variant in RECIPE_VARIANTS for depth in r.depths}
