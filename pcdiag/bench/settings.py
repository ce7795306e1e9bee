"""What the bench runs: the models, the shared hyperparameters, the run settings, the Config."""

from __future__ import annotations

from dataclasses import dataclass, field

from pcdiag.config import Config
from pcdiag.nets.mlp import layer_sizes

BATCH = 128
GAMMA = 0.1
WEIGHT_LR = 1e-3
SWEEP_GAMMAS = (0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5)


@dataclass(frozen=True)
class Model:
    """One benchmark network: depth weight layers of `width` hidden units, T inference steps."""

    name: str
    depth: int
    width: int
    T: int

    @property
    def sizes(self) -> list[int]:
        return layer_sizes(self.depth, self.width)  # Fashion-MNIST: 784 inputs, 10 classes


MODELS = (
    Model("mlp3-128", depth=3, width=128, T=8),
    Model("mlp3-1024", depth=3, width=1024, T=8),
    Model("mlp21-128", depth=21, width=128, T=20),
)


@dataclass
class Settings:
    """What one bench run does (from the command line)."""

    quick: bool = False
    pcx: bool = True
    models: tuple[str, ...] = tuple(m.name for m in MODELS)
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


QUICK = {
    # model -> training examples per epoch in --quick (whole batches of 128)
    "mlp3-128": 128 * 60,
    "mlp3-1024": 128 * 12,
    "mlp21-128": 128 * 12,
    # --quick runs these unless --models says otherwise (PCX alone takes minutes to compile
    # the depth-21, T=20 model on a 2-core CPU)
    "models": ("mlp3-128", "mlp3-1024"),
    "epochs": 3,
    "sweep_train_limit": 128 * 60,
    "test_limit": 1000,
}


def bench_config(model: Model, *, full: bool, epochs: int, train_limit: int | None,
                 test_limit: int | None, data_dir: str | None, seed: int) -> Config:
    """The pcdiag Config of a benchmark run (full recording or recording off)."""
    cfg = Config(
        depth=model.depth, width=model.width, inference_steps=model.T, batch_size=BATCH,
        activation="hard_tanh", output_energy="ce", algorithm="pc",
        gamma=GAMMA, gamma_convention="per_sample", state_optimizer="sgd",
        weight_optimizer="adamw", weight_lr=WEIGHT_LR, weight_decay=0.0,
        epochs=epochs, train_limit=train_limit, test_limit=test_limit, data_dir=data_dir,
        seed=seed, log_every=1, record_inference=True,
    )
    if not full:  # per-t records off; per-step records only on each epoch's first step
        cfg = cfg.replace(record_inference=False, log_every=cfg.steps_per_epoch)
    return cfg

