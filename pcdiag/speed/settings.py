"""What the speed benchmark runs: the models, the shared hyperparameters, the run settings,
the Config."""

from __future__ import annotations

from dataclasses import dataclass, field

from pcdiag.config import Config
from pcdiag.nets.mlp import layer_sizes
from pcdiag.nets.vgg import vgg_blocks

BATCH = 128
GAMMA = 0.1
WEIGHT_LR = 1e-3
SWEEP_GAMMAS = (0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5)


@dataclass(frozen=True)
class Model:
    """One benchmark network: depth weight layers of `width` hidden units (VGG: channels of
    the first conv stage), T inference steps."""

    name: str
    depth: int
    width: int
    T: int
    net: str = "mlp"

    @property
    def sizes(self) -> list[int]:
        """Units per node, input first (Fashion-MNIST: 784 inputs, 10 classes)."""
        if self.net == "vgg":  # 32 x 32 after the padding; 2x2 pooling in each of 4 stages
            nodes = [(32 >> (i + 1)) ** 2 * c for i, c in enumerate(self.channels)]
            return [28 * 28, *nodes, 10]
        return layer_sizes(self.depth, self.width)

    @property
    def channels(self) -> list[int]:
        """Output channels of the conv layers (VGG only)."""
        return [b.channels for b in vgg_blocks(self.depth, self.width)] if self.net == "vgg" else []


MODELS = (
    Model("mlp3-128", depth=3, width=128, T=8),
    Model("mlp3-1024", depth=3, width=1024, T=8),
    Model("mlp21-128", depth=21, width=128, T=20),
    # PCX's VGG-5 (channels 128, 256, 512, 512) and the same at a quarter of the channels;
    # T = 7 as PCX's VGG-5 recipes
    Model("vgg5-128", depth=5, width=128, T=7, net="vgg"),
    Model("vgg5-32", depth=5, width=32, T=7, net="vgg"),
)
#: The default (full) run: every model but the reduced VGG, which is --quick's.
FULL_MODELS = ("mlp3-128", "mlp3-1024", "mlp21-128", "vgg5-128")
#: Full run on a CPU: training examples per epoch where a full epoch is out of reach
#: (vgg5-128 does ~0.9 TFLOP a step: ~10 s a step on 2 cores, 80 min an epoch).
CPU_FULL_LIMITS = {"vgg5-128": 128 * 3}
#: Rounds of (pcdiag full, off[, bp], PCX) one after another for a model, medians over
#: rounds: the VGG runs are short (few batches), so a load spike would decide a single one.
ROUNDS = {"vgg5-128": 2, "vgg5-32": 3}
#: --quick's rounds: its MLP epochs are 0.1-0.5 s, so one round's ratio moves by 20% with the
#: machine's load (measured: recording off at 0.73 of the plain-JAX step in one round, 0.98
#: as the median of five on the same machine that hour).
QUICK_ROUNDS = {"mlp3-128": 3, "mlp3-1024": 3, "mlp21-128": 3, "vgg5-128": 2, "vgg5-32": 3}


@dataclass
class Settings:
    """What one speed-benchmark run does (from the command line)."""

    quick: bool = False
    pcx: bool = True
    models: tuple[str, ...] = FULL_MODELS
    epochs: int = 4
    train_limit: int | None = None
    test_limit: int | None = None
    sweep_train_limit: int | None = None
    sweep: bool = True
    data_dir: str | None = None
    pcx_venv: str | None = None
    matmul_size: int = 2048
    seed: int = 0
    out: str | None = "bench-out/bench.json"
    train_limits: dict[str, int | None] = field(default_factory=dict)
    rounds: int | None = None  # None: ROUNDS per model, else 1


QUICK = {
    # model -> training examples per epoch in --quick (whole batches of 128)
    "mlp3-128": 128 * 60,
    "mlp3-1024": 128 * 12,
    "mlp21-128": 128 * 12,
    "vgg5-32": 128 * 3,
    "vgg5-128": 128 * 2,
    # --quick runs these unless --models says otherwise (PCX alone takes minutes to compile
    # the depth-21, T=20 model on a 2-core CPU)
    "models": ("mlp3-128", "mlp3-1024", "vgg5-32"),
    "epochs": 3,
    "sweep_train_limit": 128 * 60,
    "test_limit": 1000,
}


#: The norms' cadence of the benchmark's third pcdiag side (Config.norms_every): full
#: recording with the per-t state-gradient norms and the per-step weight / gradient / update
#: norms on every NORMS_EVERY-th step only. Those norms are what full recording costs over
#: the plain-JAX step on the MLPs (dev/speed/README.md), so this side shows full recording
#: with their cost spread over NORMS_EVERY steps.
NORMS_EVERY = 10


def bench_config(model: Model, *, full: bool, epochs: int, train_limit: int | None,
                 test_limit: int | None, data_dir: str | None, seed: int,
                 algorithm: str = "pc", norms_every: int = 1) -> Config:
    """The pcdiag Config of a benchmark run (full recording or recording off; algorithm "bp":
    backprop on the same network and weight optimizer; `norms_every` > 1: full recording
    with the norms on every norms_every-th step)."""
    cfg = Config(
        net=model.net, depth=model.depth, width=model.width, inference_steps=model.T,
        batch_size=BATCH,
        activation="hard_tanh", output_energy="ce", algorithm=algorithm,
        gamma=GAMMA, gamma_convention="per_sample", state_optimizer="sgd",
        weight_optimizer="adamw", weight_lr=WEIGHT_LR, weight_decay=0.0,
        epochs=epochs, train_limit=train_limit, test_limit=test_limit, data_dir=data_dir,
        seed=seed, log_every=1, record_inference=True, norms_every=norms_every,
    )
    if not full:  # per-t records off; per-step records only on each epoch's first step
        cfg = cfg.replace(record_inference=False, log_every=cfg.steps_per_epoch)
    return cfg

