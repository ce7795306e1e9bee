"""Per-epoch checkpoints of a batch of runs: resume a killed run exactly, and get the
trained network back for analysis (`load_params`).

Layout of a checkpoint folder DIR (one per compiled batch of runs: a `train`, or one unit of
a sweep)::

    DIR/meta.json            what it is: format, the config of every run (JSON), the treedef
                             of the TrainState, epochs done, seconds spent
    DIR/state.npz            the TrainState after the last finished epoch: every leaf of the
                             run-vmapped (params, optimizer state incl. the schedule count,
                             shuffle key, step, diverged_at), leaf_0000, leaf_0001, ...
    DIR/epoch-0003.npz       epoch 3's records (the logged steps' StepRecord fields) and
                             its correct-prediction counts, so a resumed run returns the same
                             records as an uninterrupted one

Plain numpy files, not orbax: a TrainState here is a few arrays that fit in memory and are
read back on one machine, so `np.savez` of its flattened leaves plus a treedef check serves
(no extra dependency, files any numpy can read). Every file is written to a temporary name,
fsynced and renamed (then the folder fsynced); `state.npz` and `meta.json` are written after
the epoch's record file, so a process killed at any moment leaves the last finished epoch
readable. Restoring the TrainState after epoch k and running epochs k+1.. with the same
compiled program on the same machine gives bit-identical results: the shuffle key and the
optimizer state are part of it.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jax
import numpy as np

from pcdiag.engine.claims import write_atomic
from pcdiag.errors import BadInputError, TransientError

FORMAT = "pcdiag checkpoint"
VERSION = 1
META = "meta.json"
STATE = "state.npz"


class CheckpointError(BadInputError):
    """A checkpoint that cannot be used as asked (never retried: of other runs, another
    format, damaged); the message names the problem and the fix."""


class CheckpointIOError(TransientError, OSError):
    """A checkpoint file the system could not read just now (retried); the message names the
    file and the fix."""


def epoch_file(root: Path, epoch: int) -> Path:
    return root / f"epoch-{epoch:04d}.npz"


@dataclass
class Restored:
    """What a checkpoint gives back to the loop: the TrainState after `epochs_done` epochs,
    each finished epoch's records and counts, and the seconds spent so far."""

    state: Any
    epochs_done: int
    epochs: list[dict[str, np.ndarray]]
    elapsed_s: float


def save_epoch(root: str | os.PathLike, epoch: int, state, records: dict[str, np.ndarray],
               meta: dict) -> None:
    """Write epoch `epoch`'s (1-based) records, then the TrainState after it and the meta."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    write_atomic(epoch_file(root, epoch), lambda h: np.savez(h, **records))
    leaves, treedef = jax.tree_util.tree_flatten(state)
    arrays = {f"leaf_{i:04d}": np.asarray(leaf) for i, leaf in enumerate(leaves)}
    write_atomic(root / STATE, lambda h: np.savez(h, **arrays))
    meta = dict(meta, format=FORMAT, version=VERSION, epochs_done=epoch,
                treedef=str(treedef))
    text = json.dumps(meta, indent=1, sort_keys=True) + "\n"
    write_atomic(root / META, lambda h: h.write(text.encode()))


def read_meta(root: str | os.PathLike) -> dict | None:
    """The checkpoint's meta.json, or None if the folder holds no checkpoint yet."""
    path = Path(root) / META
    if not path.exists():
        return None
    try:
        meta = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        passing = isinstance(error, OSError) and not isinstance(error, PermissionError)
        kind = CheckpointIOError if passing else CheckpointError
        raise kind(f"{path} is unreadable ({error}); delete {Path(root)} to start "
                   "that run over") from None
    if meta.get("format") != FORMAT or meta.get("version") != VERSION:
        raise CheckpointError(f"{path} is not a pcdiag checkpoint of version {VERSION}; "
                              f"delete {Path(root)} or give another folder")
    return meta


def _state_leaves(root: Path, meta: dict, like) -> list:
    leaves, treedef = jax.tree_util.tree_flatten(like)
    if meta["treedef"] != str(treedef):
        raise CheckpointError(
            f"checkpoint {root} holds a TrainState of another structure than this run's "
            f"(stored {meta['treedef'][:120]}..., expected {str(treedef)[:120]}...); delete "
            "it to start the run over")
    with np.load(root / STATE, allow_pickle=False) as archive:
        stored = [archive[f"leaf_{i:04d}"] for i in range(len(leaves))]
    for i, (a, b) in enumerate(zip(stored, leaves)):
        if a.shape != tuple(b.shape) or a.dtype != np.dtype(b.dtype):
            raise CheckpointError(
                f"checkpoint {root}: leaf {i} is {a.dtype}{list(a.shape)}, this run expects "
                f"{np.dtype(b.dtype)}{list(b.shape)}; delete it to start the run over")
    return stored, treedef


def restore(root: str | os.PathLike, like, identity: dict) -> Restored | None:
    """The checkpoint in `root` for the runs described by `identity` (their configs), with a
    TrainState shaped like `like`; None if there is none. A checkpoint of other runs is an
    error (it would silently continue the wrong training)."""
    root = Path(root)
    meta = read_meta(root)
    if meta is None:
        return None
    for key, value in identity.items():
        if meta.get(key) != value:
            raise CheckpointError(
                f"checkpoint {root} belongs to other runs ({key} differs); give this run "
                "another checkpoint folder or delete that one")
    leaves, treedef = _state_leaves(root, meta, like)
    state = jax.tree_util.tree_unflatten(treedef, [jax.numpy.asarray(a) for a in leaves])
    epochs = []
    for epoch in range(1, meta["epochs_done"] + 1):
        with np.load(epoch_file(root, epoch), allow_pickle=False) as archive:
            epochs.append({name: archive[name] for name in archive.files})
    return Restored(state, meta["epochs_done"], epochs, float(meta.get("elapsed_s", 0.0)))


@dataclass
class Trained:
    """A trained batch of runs read back from a checkpoint (`load_params`).

    `params` has a leading run axis (one entry per config in `configs`, in that order);
    `run(i)` gives run i's parameters, for `net.predict` / `net.forward`."""

    params: Any
    configs: list
    epochs_done: int
    net: Any
    path: Path

    def run(self, index: int = 0):
        return jax.tree_util.tree_map(lambda a: a[index], self.params)

    @property
    def config(self):
        """The first run's config (all runs share every field but the vectorised ones)."""
        return self.configs[0]


def find(path: str | os.PathLike) -> Path:
    """The checkpoint folder `path` names: itself, or the only checkpoint in a store."""
    root = Path(path).expanduser()
    if (root / META).exists():
        return root
    if not root.exists():
        raise FileNotFoundError(f"{root}: no such checkpoint or store folder")
    found = sorted(p.parent for p in root.glob(f"*/{META}"))
    if len(found) == 1:
        return found[0]
    if not found:
        raise CheckpointError(f"{root} holds no checkpoint (no {META} in it or in a folder "
                              "directly below); give the checkpoint_dir of a run")
    raise CheckpointError(f"{root} holds {len(found)} checkpoints ("
                          + ", ".join(p.name for p in found[:4])
                          + "); give one of them")


def load_params(path: str | os.PathLike) -> Trained:
    """The parameters of a checkpointed batch of runs after its last finished epoch, with
    their configs and the built network. `path`: a checkpoint folder (`checkpoint_dir` of
    `pcdiag.train`, a `*.ckpt` folder in a sweep store), or a store holding exactly one."""
    from pcdiag.algorithms import Hyper, Program, init_state
    from pcdiag.config import Config

    root = find(path)
    meta = read_meta(root)
    configs = [Config.from_json(text) for text in meta["configs"]]
    prog = Program.from_config(configs[0])
    hyper = Hyper.of_runs(configs)
    keys = jax.numpy.stack([jax.random.PRNGKey(c.seed) for c in configs])
    like = jax.eval_shape(jax.vmap(lambda h, k: init_state(prog, h, k)), hyper, keys)
    leaves, treedef = _state_leaves(root, meta, like)
    state = jax.tree_util.tree_unflatten(treedef, leaves)
    return Trained(state.params, configs, meta["epochs_done"], prog.net, root)
