"""The generative figures' network, sizes per profile, sweeps and cost model.

Every run is PCX's linear-decoder recipe (pcdiag.tasks.PCX_DECODER: latent 64, hidden width
128, hard_tanh, T = 20 state steps of SGD with momentum 0.45 on the per-sample energy, AdamW
weights, batch 200, pixels x / 255) on Fashion-MNIST, with only the swept field changed:
the state step gamma (generative_mse_vs_gamma), the depth (generative_energy) or the
algorithm (generative_reconstructions: pc's decoder beside bp's autoencoder, PCX's
bp_decoder.py baseline).

generative_reconstructions needs the trained weights, which a sweep's Dataset does not hold:
its spec (`ReconstructionSpec`) trains each algorithm with a checkpoint (pcdiag.train's
checkpoint_dir, in a temporary folder), reads the weights back (pcdiag.load_params) and keeps
the first test images and their reconstructions (pcdiag.algorithms.reconstruct) in the
Dataset it returns, so the figure redraws from its .nc alone.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from pcdiag.config import Config
from pcdiag.data.registry import info
from pcdiag.figures.cost import CostModel, factor
from pcdiag.figures.experiments import SweepSpec
from pcdiag.figures.profiles import Profile, Sizes, family_profile
from pcdiag.tasks import PCX_DECODER

#: PCX's state step (configs/pc_fashionmnist_adamw_hypertune.yaml), per sample.
PCX_GAMMA = PCX_DECODER["gamma"]
DATASET = "fashion-mnist"

# --------------------------------------------------------------------------- cost model

#: Wall seconds per run and image (a training image, or a test image whose latent is
#: inferred at the epoch's end) of PCX's decoder [64, 128, 128, 784], T = 20, batch 200,
#: 12 runs vmapped into one program: measured on the reference machine (2 CPU cores, jax
#: CPU, load about 2.6): 6 gammas x 2 seeds over 10,000 training and 2,000 test images took
#: 19.5 s, pc at depth 8 (2 runs) 10.8 s, one pc run over 60,000 + 2,000 images 15.8 s, bp
#: (the autoencoder) 10.9 s, ipc (12 runs) 20.3 s.
DECODER_IMAGE_S = 6.6e-5
#: Wall seconds to compile one program and load its data (fitted to the same runs).
DECODER_COMPILE_S = 10.0
#: Per run and image, relative to pc: ipc measured 1.04 (vmapped), bp's autoencoder has no
#: inference (one forward and backward pass of twice the layers): 0.2, a guess from its
#: run's wall time being mostly compile.
DECODER_ALGORITHM_FACTOR = {"pc": 1.0, "ipc": 1.05, "bp": 0.2}


def decoder_macs(config: Any) -> int:
    """Multiply-accumulates of one pass through the decoder [latent, W x (depth - 1), 784]."""
    sizes = [config.latent_size] + [config.width] * (config.depth - 1) + [784]
    return sum(a * b for a, b in zip(sizes[:-1], sizes[1:]))


class DecoderCost(CostModel):
    """PCX decoders: DECODER_COMPILE_S per program + runs x images x DECODER_IMAGE_S, scaled
    by the decoder's MACs against [64, 128, 128, 784], by (T + 1) / 21 (not bp) and by the
    algorithm's factor (DECODER_ALGORITHM_FACTOR)."""

    def program_seconds(self, config: Any, runs: int) -> float:
        reference = decoder_macs(Config(**PCX_DECODER))
        scale = decoder_macs(config) / reference
        if config.algorithm != "bp":
            scale *= (config.inference_steps + 1) / (PCX_DECODER["inference_steps"] + 1)
        tests = config.test_limit or info(config.dataset).n_test
        images = config.epochs * (config.n_train + tests)
        per_run = images * DECODER_IMAGE_S * scale * factor(DECODER_ALGORITHM_FACTOR,
                                                            config.algorithm)
        return DECODER_COMPILE_S + runs * per_run


DECODER = DecoderCost()

# --------------------------------------------------------------------------- sizes


@dataclass(frozen=True)
class GenerativeProfile(Sizes):
    """The generative figures' sizes for one pcdiag.figures profile."""

    name: str
    description: str
    train_limit: int | None  # None: all 60,000 training images
    test_limit: int | None
    epochs: int
    seeds: tuple[int, ...]
    gammas: tuple[float, ...]  # generative_mse_vs_gamma; must contain PCX_GAMMA
    algorithms: tuple[str, ...]  # generative_mse_vs_gamma's lines
    depths: tuple[int, ...]  # generative_energy (width 128); must start at 3
    log_every: int
    recon_train_limit: int | None  # generative_reconstructions' two runs
    recon_epochs: int
    shown: int  # test images drawn by generative_reconstructions

    def __post_init__(self):
        if PCX_GAMMA not in self.gammas:
            raise ValueError(f"GenerativeProfile {self.name!r}: gammas={self.gammas} must "
                             f"contain PCX's gamma {PCX_GAMMA!r} (PCX_GAMMA)")
        if not self.depths or self.depths[0] != PCX_DECODER["depth"]:
            raise ValueError(f"GenerativeProfile {self.name!r}: depths={self.depths} must "
                             f"start at PCX's depth {PCX_DECODER['depth']}")
        if not self.seeds or not self.algorithms or self.shown < 1:
            raise ValueError(f"GenerativeProfile {self.name!r}: seeds, algorithms and "
                             "shown must each be non-empty (shown >= 1)")

    def config(self, **changes) -> Config:
        """PCX's decoder recipe at this profile's data size, epochs and logging."""
        return Config(**{**PCX_DECODER, "dataset": DATASET, "train_limit": self.train_limit,
                         "test_limit": self.test_limit, "epochs": self.epochs,
                         "log_every": self.log_every, **changes})


GENERATIVE_PROFILES = {
    "quick": GenerativeProfile(
        name="quick",
        description="1,000 training / 200 test images, 1 epoch, 3 gammas, 1 seed, pc only, "
                    "depths 3 and 5 (a smoke test)",
        train_limit=1000, test_limit=200, epochs=1, seeds=(0,),
        gammas=(0.003, PCX_GAMMA, 0.1), algorithms=("pc",), depths=(3, 5), log_every=1,
        recon_train_limit=1000, recon_epochs=1, shown=6,
    ),
    "default": GenerativeProfile(
        name="default",
        description="30,000 training / 2,000 test images, 1 epoch (150 steps), 6 gammas, 2 "
                    "seeds, pc and ipc, depths 3, 5, 8; reconstructions after one full epoch "
                    "(about 3 minutes on a 2-core CPU)",
        train_limit=30000, test_limit=2000, epochs=1, seeds=(0, 1),
        gammas=(0.003, 0.006, PCX_GAMMA, 0.03, 0.1, 0.3), algorithms=("pc", "ipc"),
        depths=(3, 5, 8), log_every=5, recon_train_limit=None, recon_epochs=1, shown=8,
    ),
    # PCX trains its decoders 30 epochs on the full training set (Pinchetti et al. 2024,
    # appendix C.1) and reports the test MSE over all 10,000 test images.
    "paper": GenerativeProfile(
        name="paper",
        description="PCX's size: the full Fashion-MNIST, 30 epochs, 6 gammas, 3 seeds, pc "
                    "and ipc, depths 3, 5, 8, 12 (for a GPU)",
        train_limit=None, test_limit=None, epochs=30, seeds=(0, 1, 2),
        gammas=(0.003, 0.006, PCX_GAMMA, 0.03, 0.1, 0.3), algorithms=("pc", "ipc"),
        depths=(3, 5, 8, 12), log_every=50, recon_train_limit=None, recon_epochs=30,
        shown=10,
    ),
}


def generative_profile(profile: str | Profile | GenerativeProfile) -> GenerativeProfile:
    """The GenerativeProfile of a pcdiag.figures profile (by name; else quick's with the
    profile's data size, epochs and seeds)."""
    return family_profile(profile, GENERATIVE_PROFILES, GenerativeProfile, "decoders")


# --------------------------------------------------------------------------- sweeps

PREFIX = "gen-"


def gamma_spec(g: GenerativeProfile, algorithm: str) -> SweepSpec:
    """generative_mse_vs_gamma's line `algorithm`: gammas x seeds vmapped in one program
    (its pc sweep also gives generative_energy its depth-3 runs, at PCX_GAMMA)."""
    return SweepSpec.make(f"{PREFIX}{algorithm}-gamma", g.config(algorithm=algorithm),
                          cost=DECODER, gamma=g.gammas, seed=g.seeds)


def depth_spec(g: GenerativeProfile, depth: int) -> SweepSpec:
    """generative_energy's decoder of `depth` layers at PCX_GAMMA, seeds vmapped."""
    return SweepSpec.make(f"{PREFIX}depth-{depth}", g.config(depth=depth), cost=DECODER,
                          seed=g.seeds)


def energy_specs(profile) -> dict[str, SweepSpec]:
    g = generative_profile(profile)
    specs = {"depth/3": gamma_spec(g, "pc")}
    specs.update({f"depth/{d}": depth_spec(g, d) for d in g.depths[1:]})
    return specs


def gamma_specs(profile) -> dict[str, SweepSpec]:
    g = generative_profile(profile)
    return {a: gamma_spec(g, a) for a in g.algorithms}


# --------------------------------------------------------------------------- reconstructions


@dataclass(frozen=True)
class ReconstructionSpec(SweepSpec):
    """Train each algorithm once with a checkpoint and return a Dataset over `algorithm`
    holding its run records and the first `shown` test images (`original`, pixels) with
    their reconstructions (`reconstruction`, algorithm x pixels); priced by `cost` as the
    SweepSpec it is (one program per algorithm)."""

    shown: int = 8

    def run(self, *, progress: bool = False, store: Path | None = None,
            executor=None) -> xr.Dataset:
        import pcdiag
        from pcdiag.figures.experiments import combine, trim

        algorithms = dict(self.axes)["algorithm"]
        parts, recons, original = {}, [], None
        with tempfile.TemporaryDirectory() as tmp:
            for algorithm in algorithms:
                config = self.config.replace(algorithm=algorithm)
                folder = Path(tmp) / algorithm
                ds = trim(pcdiag.train(config, progress=progress, checkpoint_dir=folder),
                          keep_t=False)
                original, recon, labels = reconstruct_first(
                    config, pcdiag.load_params(folder), self.shown)
                recons.append(recon)
                # the run's records over epochs only (a Dataset keeps its layer coordinate)
                per_layer = [v for v in ds.data_vars if "layer" in ds[v].dims]
                parts[algorithm] = ds.drop_vars(per_layer).drop_dims(
                    [d for d in ("step",) if d in ds.dims])
        ds = combine(parts, "algorithm")  # image and pixel are added after: not sweep dims
        ds["reconstruction"] = (("algorithm", "image", "pixel"), np.stack(recons))
        ds["original"] = (("image", "pixel"), original)
        ds["label"] = (("image",), labels)
        return ds


def reconstruct_first(config: Config, trained,
                      shown: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The first `shown` test images of `config`'s data and their reconstructions by the
    trained run (pcdiag.load_params), flattened to (shown, pixels), float32, and the
    images' class labels."""
    import jax.numpy as jnp

    from pcdiag.algorithms import Hyper, Program
    from pcdiag.algorithms.reconstruct import reconstruct
    from pcdiag.data import load

    _, test = load(config.dataset, config.data_dir, train_limit=shown, test_limit=shown,
                   normalisation=config.normalisation)
    prog = Program.from_config(config)
    recon = reconstruct(prog, Hyper.from_config(config), trained.run(0),
                        jnp.asarray(test.images))
    return (test.images.reshape(shown, -1).astype(np.float32),
            np.asarray(recon, np.float32).reshape(shown, -1), np.asarray(test.labels))


def reconstruction_specs(profile) -> dict[str, SweepSpec]:
    g = generative_profile(profile)
    config = g.config(train_limit=g.recon_train_limit, epochs=g.recon_epochs, seed=g.seeds[0])
    spec = ReconstructionSpec(f"{PREFIX}reconstructions", config,
                              (("algorithm", ("pc", "bp")),), DECODER, g.shown)
    return {"reconstructions": spec}
