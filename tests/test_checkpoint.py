"""Per-epoch checkpoints (pcdiag.engine.checkpoint): a sweep killed with SIGKILL in a later
epoch resumes from its last finished epoch and returns the same Dataset as an uninterrupted
run; the trained network comes back with pcdiag.load_params."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

import pcdiag
from pcdiag.config import Config
from pcdiag.dataset import VOLATILE_ATTRS
from pcdiag.engine.checkpoint import CheckpointError, read_meta

DATA = Path(
    os.environ.get("PCDIAG_DATA") or Path(__file__).resolve().parents[2] / "shared" / "data"
)
REPO = Path(__file__).resolve().parents[1]
#: a small net with a nudged, scheduled recipe (so beta per epoch and the schedule count must
#: survive the restart too); epochs long enough (~1 s) to be killed in the middle of the run
CONFIG = dict(data_dir=str(DATA), train_limit=2048, test_limit=500, depth=3, width=64,
              batch_size=32, epochs=5, inference_steps=10, output_energy="se", log_every=4,
              lr_schedule="warmup_cosine", nudging="positive", nudge_beta=0.6,
              nudge_beta_step=0.1, state_optimizer="momentum", weight_optimizer="adamw")
SEEDS = [0, 1]
SCRIPT = textwrap.dedent("""
    import sys, pcdiag
    cfg = pcdiag.Config(**{config})
    ds = pcdiag.sweep(cfg, seed={seeds}, store=sys.argv[1], checkpoints=True)
    pcdiag.save(ds, sys.argv[2])
""")


def _strip(ds: xr.Dataset) -> xr.Dataset:
    ds = ds.copy()
    for name in VOLATILE_ATTRS:
        ds.attrs.pop(name, None)
    return ds


def _start(store: Path, out: Path) -> subprocess.Popen:
    code = SCRIPT.format(config=repr(CONFIG), seeds=SEEDS)
    env = dict(os.environ, PYTHONPATH=str(REPO), PCDIAG_XLA_CACHE="off")
    return subprocess.Popen([sys.executable, "-c", code, str(store), str(out)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


@pytest.mark.slow  # a killed subprocess; the in-process resume test is default
def test_sweep_killed_in_a_later_epoch_resumes_to_the_same_dataset(tmp_path):
    store, out = tmp_path / "store", tmp_path / "resumed.nc"
    proc = _start(store, out)
    deadline = time.monotonic() + 240
    ckpts = []
    while time.monotonic() < deadline and proc.poll() is None:
        ckpts = [p.parent for p in store.glob("*.ckpt/meta.json")]
        if ckpts and read_meta(ckpts[0])["epochs_done"] >= 2:
            break
        time.sleep(0.02)
    assert proc.poll() is None, proc.communicate()[0].decode()[-2000:]
    assert ckpts, "no checkpoint of epoch 2 appeared"
    os.kill(proc.pid, signal.SIGKILL)  # in epoch 3 or later: a later epoch than the first
    proc.wait()
    done = read_meta(ckpts[0])["epochs_done"]
    assert 2 <= done < CONFIG["epochs"], done
    assert not out.exists() and not list(store.glob("unit-*.npz"))

    again = _start(store, out)  # resumes from the last finished epoch
    log = again.communicate(timeout=300)[0].decode()
    assert again.returncode == 0, log[-2000:]
    resumed = pcdiag.open_dataset(out)

    reference = pcdiag.sweep(Config(**CONFIG), seed=SEEDS)  # uninterrupted, no checkpoints
    xr.testing.assert_identical(_strip(resumed), _strip(reference))

    # the trained networks come back: their feedforward test accuracy is the Dataset's
    trained = pcdiag.load_params(store)
    assert trained.epochs_done == CONFIG["epochs"]
    assert [c.seed for c in trained.configs] == SEEDS
    data = pcdiag.load_device_data(trained.config)
    for i in range(len(SEEDS)):
        logits = trained.net.forward(trained.run(i), data.x_test[: data.n_test])[-1]
        correct = np.asarray(np.argmax(logits, -1) == data.y_test[: data.n_test])
        assert correct.sum() / data.n_test == float(reference.test_accuracy.isel(seed=i,
                                                                                 epoch=-1))


def test_train_checkpoint_and_a_foreign_checkpoint_is_refused(tmp_path):
    cfg = Config(data_dir=str(DATA), train_limit=256, test_limit=200, depth=2, width=16,
                 batch_size=32, epochs=2, inference_steps=3)
    ds = pcdiag.train(cfg, checkpoint_dir=tmp_path / "ckpt")
    meta = json.loads((tmp_path / "ckpt" / "meta.json").read_text())
    assert meta["epochs_done"] == 2 and meta["elapsed_s"] > 0
    trained = pcdiag.load_params(tmp_path / "ckpt")
    assert trained.config.seed == cfg.seed and trained.net.depth == 2
    # a finished checkpoint of the same run gives the same Dataset again without training
    xr.testing.assert_identical(_strip(pcdiag.train(cfg, checkpoint_dir=tmp_path / "ckpt")),
                                _strip(ds))
    with pytest.raises(CheckpointError, match="belongs to other runs"):
        pcdiag.train(cfg.replace(gamma=0.05), checkpoint_dir=tmp_path / "ckpt")
    with pytest.raises(pcdiag.ConfigError, match="checkpoints=True needs a store"):
        pcdiag.sweep(cfg, seed=[0, 1], checkpoints=True)
