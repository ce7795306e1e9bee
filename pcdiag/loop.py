"""The compiled training loop for a batch of runs that share one program.

The runs (one per combination of vectorised settings: gamma, weight_lr, momentum,
weight_decay, seed) are vmapped together. An epoch is a few calls of one compiled chunk
function, a lax.scan over batches, so a progress bar can move; the chunk keeps every
`log_every`-th step's record, and the records become numpy once per epoch.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from pcdiag.model import forward
from pcdiag.train import Hyper, Program, StepRecord, TrainState, init_state, train_step

EVAL_CHUNK = 1000
CHUNKS_PER_EPOCH = 20


@dataclass
class DeviceData:
    """Train and test sets on the device, padded to a multiple of EVAL_CHUNK rows."""

    x_train: jax.Array
    y_train: jax.Array
    x_test: jax.Array
    y_test: jax.Array
    n_train: int
    n_test: int

    @classmethod
    def from_splits(cls, train, test) -> DeviceData:
        def pad(images, labels):
            extra = (-len(labels)) % EVAL_CHUNK
            images = np.pad(images, ((0, extra), (0, 0)))
            labels = np.pad(labels, (0, extra), constant_values=-1)
            return jnp.asarray(images), jnp.asarray(labels)

        x_train, y_train = pad(train.images, train.labels)
        x_test, y_test = pad(test.images, test.labels)
        return cls(x_train, y_train, x_test, y_test, len(train.labels), len(test.labels))


@dataclass
class Timing:
    compile_s: float = 0.0
    train_s: list[float] = field(default_factory=list)  # per epoch, compile excluded


def _correct(params, images, labels, arch):
    """How many rows the feedforward prediction classifies right (padding rows: label -1).

    The count, not a fraction: dividing on the host keeps a run's accuracy bit-equal whether
    it trains alone or inside a vmapped sweep."""

    def correct(chunk):
        x, y = chunk
        return jnp.sum(jnp.argmax(forward(params, x, arch)[-1], axis=-1) == y)

    chunks = (images.reshape(-1, EVAL_CHUNK, images.shape[-1]), labels.reshape(-1, EVAL_CHUNK))
    return jnp.sum(jax.lax.map(correct, chunks))


def _epoch_order(state: TrainState, *, n_train: int, steps: int, batch: int):
    key, sub = jax.random.split(state.key)
    order = jax.random.permutation(sub, n_train)[: steps * batch].reshape(steps, batch)
    return state._replace(key=key), order


def _chunk(prog: Program, guarded: bool, state, hyper, x_train, y_train, order, n_valid):
    """Run len(order) steps, recording every log_every-th. With `guarded`, only the first
    n_valid steps are real (a lax.cond per step, which costs 10-20%: used only when no chunk
    length divides the epoch)."""
    k = prog.log_every
    n_out = prog.sizes[-1]

    def one(state, idx, pos, record):
        def real(s):
            y = jax.nn.one_hot(y_train[idx], n_out, dtype=x_train.dtype)
            return train_step(prog, hyper, s, x_train[idx], y, record)

        if not guarded:
            return real(state)
        if not record:
            return jax.lax.cond(pos < n_valid, lambda s: real(s)[0], lambda s: s, state), None
        shape = jax.eval_shape(real, state)[1]
        skip = jax.tree_util.tree_map(lambda a: jnp.full(a.shape, jnp.nan, a.dtype), shape)
        return jax.lax.cond(pos < n_valid, real, lambda s: (s, skip), state)

    def group(state, xs):
        idx, pos = xs
        state, rec = one(state, idx[0], pos[0], True)
        if k > 1:
            state, _ = jax.lax.scan(
                lambda s, x: one(s, x[0], x[1], False), state, (idx[1:], pos[1:])
            )
        return state, rec

    n = order.shape[0]
    positions = jnp.arange(n).reshape(n // k, k)
    return jax.lax.scan(group, state, (order.reshape(n // k, k, -1), positions))


@dataclass
class Compiled:
    """The jit-compiled, run-vmapped functions for one program, compiled ahead of time once
    per argument signature (so compile time is measured apart and never repeated)."""

    prog: Program
    executables: dict = field(default_factory=dict)

    def __post_init__(self):
        prog = self.prog
        self.init = jax.jit(jax.vmap(partial(init_state, prog)))
        for guarded in (False, True):
            chunk = jax.vmap(partial(_chunk, prog, guarded), in_axes=(0, 0, None, None, 0, None))
            name = "guarded_chunk" if guarded else "chunk"
            setattr(self, name, jax.jit(chunk, donate_argnums=(0,)))
        self.correct = jax.jit(jax.vmap(partial(_correct, arch=prog.arch), in_axes=(0, None, None)))

    def order(self, state: TrainState, n_train: int, steps: int, batch: int):
        """The compiled epoch shuffle: state -> (state with a new key, (runs, steps, batch))."""
        key = ("order", len(state.key), n_train, steps, batch)
        if key not in self.executables:
            order = partial(_epoch_order, n_train=n_train, steps=steps, batch=batch)
            self.executables[key] = jax.jit(jax.vmap(order)).lower(state).compile()
        return self.executables[key]

    def executable(self, name: str, *args):
        """The AOT-compiled `name` for arguments shaped like `args` (arrays or shape specs)."""
        leaves, tree = jax.tree_util.tree_flatten(args)
        key = (name, tree, tuple((leaf.shape, str(leaf.dtype)) for leaf in leaves))
        if key not in self.executables:
            self.executables[key] = getattr(self, name).lower(*args).compile()
        return self.executables[key]


_COMPILED: dict[Program, Compiled] = {}


def compiled(prog: Program) -> Compiled:
    """One set of compiled functions per program, reused by every run and sweep point."""
    if prog not in _COMPILED:
        _COMPILED[prog] = Compiled(prog)
    return _COMPILED[prog]


def chunk_length(steps: int, log_every: int) -> tuple[int, bool]:
    """Steps per compiled call, a multiple of log_every near 1/20 of an epoch, and whether the
    last call of an epoch is partial (then the chunk is guarded). A length that divides the
    epoch, from about half to twice the target, is preferred."""
    target = max(1, math.ceil(steps / log_every / CHUNKS_PER_EPOCH))
    candidates = sorted(range(max(1, target // 2), 2 * target + 3), key=lambda g: abs(g - target))
    for groups in candidates:
        if steps % (groups * log_every) == 0:
            return groups * log_every, False
    return target * log_every, True


def run(
    prog: Program,
    hyper: Hyper,
    keys: jax.Array,
    data: DeviceData,
    epochs: int,
    progress=None,
) -> tuple[dict[str, np.ndarray], Timing]:
    """Train R runs (leading axis of `hyper` and `keys`) and return their records as numpy.

    Step-dim arrays hold the logged steps only (every log_every-th step of each epoch,
    starting at the epoch's first); `progress` is an optional tqdm bar advanced per chunk.
    """
    fns = compiled(prog)
    steps = data.n_train // prog.batch_size
    length, guarded = chunk_length(steps, prog.log_every)
    timing = Timing()
    start = time.perf_counter()
    state = fns.init(hyper, keys)
    order_fn = fns.order(state, data.n_train, steps, prog.batch_size)
    chunk_shape = jax.ShapeDtypeStruct((len(keys), length, prog.batch_size), jnp.int32)
    n_valid_shape = jax.ShapeDtypeStruct((), jnp.int32)
    chunk = fns.executable(
        "guarded_chunk" if guarded else "chunk",
        state, hyper, data.x_train, data.y_train, chunk_shape, n_valid_shape,
    )
    correct_train = fns.executable("correct", state.params, data.x_train, data.y_train)
    correct_test = fns.executable("correct", state.params, data.x_test, data.y_test)
    jax.block_until_ready(state)
    timing.compile_s = time.perf_counter() - start
    logged, step_numbers, epoch_of_step, train_acc, test_acc = [], [], [], [], []
    for epoch in range(epochs):
        start = time.perf_counter()
        state, order = order_fn(state)
        order = np.asarray(order)  # slicing on the host compiles nothing
        pieces = []
        for begin in range(0, steps, length):
            part = order[:, begin : begin + length]
            n_valid = part.shape[1]
            if n_valid < length:
                part = np.pad(part, ((0, 0), (0, length - n_valid), (0, 0)))
            state, records = chunk(state, hyper, data.x_train, data.y_train, part,
                                   jnp.int32(n_valid))
            pieces.append(records)
            if progress is not None:
                progress.update(n_valid * len(keys))
                _describe(progress, records, test_acc, data.n_test, prog.records_energy)
        train_acc.append(correct_train(state.params, data.x_train, data.y_train))
        test_acc.append(correct_test(state.params, data.x_test, data.y_test))
        jax.block_until_ready(test_acc[-1])
        timing.train_s.append(time.perf_counter() - start)
        records = jax.tree_util.tree_map(lambda *a: np.concatenate(a, axis=1), *pieces)
        positions = np.arange(records.train_loss.shape[1]) * prog.log_every
        keep = positions < steps
        logged.append(jax.tree_util.tree_map(lambda a, keep=keep: a[:, keep], records))
        step_numbers.append(epoch * steps + positions[keep])
        epoch_of_step.append(np.full(keep.sum(), epoch + 1))
    out = {
        name: np.concatenate([getattr(r, name) for r in logged], axis=1)
        for name in StepRecord._fields
        if getattr(logged[0], name) is not None
    }
    out["step"] = np.concatenate(step_numbers)
    out["epoch_of_step"] = np.concatenate(epoch_of_step)
    out["train_accuracy"] = np.stack([np.asarray(a) for a in train_acc], axis=1) / data.n_train
    out["test_accuracy"] = np.stack([np.asarray(a) for a in test_acc], axis=1) / data.n_test
    out["diverged_at"] = np.asarray(state.diverged_at)
    _blank_after_divergence(out, steps)
    return out, timing


def _blank_after_divergence(out: dict[str, np.ndarray], steps_per_epoch: int) -> None:
    """A diverged run keeps its place: values after its first non-finite step become NaN."""
    for run, step in enumerate(out["diverged_at"]):
        if step < 0:
            continue
        later = out["step"] > step
        for name in StepRecord._fields:
            if name in out:
                out[name][run, later] = np.nan
        epoch_ends = np.arange(1, out["test_accuracy"].shape[1] + 1) * steps_per_epoch
        for name in ("train_accuracy", "test_accuracy"):
            out[name][run, epoch_ends > step] = np.nan


def _describe(progress, records: StepRecord, test_correct: list, n_test: int,
              has_energy: bool) -> None:
    """Progress-bar text: the first run's last energy (or loss) and its last test accuracy."""
    if has_energy:
        value = float(jnp.sum(records.energy[0, 0, -1]))
        text = {"energy": f"{value:.3g}"}
    else:
        text = {"loss": f"{float(records.train_loss[0, 0]):.3g}"}
    if test_correct:
        text["test_acc"] = f"{float(test_correct[-1][0]) / n_test:.3f}"
    progress.set_postfix(text, refresh=False)
