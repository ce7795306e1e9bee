"""The suite's standard tiny networks, defined once. A test that needs a trained network
takes one of these configs (or the session fixtures in conftest.py that train them once
per test run), so that its compiled program is shared with the other modules' instead of
compiled again for a size of its own.

- SHORT: depth 3, width 64, T = 8, two epochs of 10 steps on 320 real Fashion-MNIST images:
  the run of the Dataset contract, the sweep tests and the trainer tests.
- DIVERGING: depth 2, width 8, T = 3, linear activation (unbounded states), sgd weights; on
  DIVERGING_AXES one run of each state optimizer diverges (gamma = weight_lr = 10 with sgd
  states: at step 5 of 8): the store and divergence tests.
"""

import os
from pathlib import Path

from pcdiag import Config

DATA = Path(
    os.environ.get("PCDIAG_DATA") or Path(__file__).resolve().parents[2] / "shared" / "data"
)
SHORT = Config(data_dir=str(DATA), train_limit=320, test_limit=1000, depth=3, width=64,
               batch_size=32, inference_steps=8, seed=1, epochs=2)
#: the gamma x seed grid swept over SHORT (4 runs vmapped in one program)
GAMMAS, SEEDS = [0.05, 0.2], [1, 2]
DIVERGING = Config(train_limit=256, test_limit=200, width=8, depth=2, inference_steps=3,
                   batch_size=32, weight_optimizer="sgd", activation="linear",
                   data_dir=str(DATA))
DIVERGING_AXES = {"state_optimizer": ["sgd", "adam"], "gamma": [0.1, 10.0],
                  "weight_lr": [0.01, 10.0]}
