"""The compiled training loop for a batch of runs that share one program.

The runs (one per combination of vectorised settings: gamma, weight_lr, momentum,
weight_decay, seed) are vmapped together. An epoch is a few calls of one compiled chunk
function, a lax.scan over batches, so a progress bar can move; the chunk keeps every
`log_every`-th step's record, and the records become numpy once per epoch.

Where JAX sees several devices (the accelerators of one machine), the run axis is sharded
over them (`run_mesh`: a 1-D mesh named "runs" over as many devices as divide the number of
runs; the data are replicated), so one compiled program fills every device. Each device then
computes its own runs; a run's arithmetic is that of the unsharded program (tests/
test_executors.py compares them on a CPU split into two devices).
"""

from __future__ import annotations

import functools
import math
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from pcdiag.algorithms import (
    Hyper,
    Program,
    TrainState,
    init_state,
    records_energy,
    train_step,
)
from pcdiag.algorithms.nudging import epoch_hyper
from pcdiag.engine import checkpoint
from pcdiag.engine.compile_options import jit
from pcdiag.engine.evaluate import EVALUATIONS, mean_image_mse
from pcdiag.records import RunRecords, StepRecord
from pcdiag.tasks import task_of

EVAL_CHUNK = 1000
CHUNKS_PER_EPOCH = 20
#: The random crop's border, in pixels on each side (PCX: RandomCrop(32, padding=4)).
CROP_PADDING = 4


@dataclass
class DeviceData:
    """Train, validation and test sets on the device as one array (train rows first, then
    the validation rows, if any, then the test rows, each set padded with label -1 to a
    multiple of EVAL_CHUNK rows), so one compiled evaluation counts all of them. Without a
    validation split (n_validation 0) the array is the train and test sets alone."""

    x: jax.Array
    y: jax.Array
    n_train: int
    n_test: int
    train_rows: int  # padded: the test set starts here
    #: a black pixel after standardisation, per channel: the random crop's border (None: 0)
    black: tuple[float, ...] | None = None
    n_validation: int = 0
    validation_rows: int = 0  # padded: between the training and the test rows

    @classmethod
    def from_splits(cls, train, test, black: tuple[float, ...] | None = None,
                    validation=None) -> DeviceData:
        # each split padded to a multiple of EVAL_CHUNK rows (images 0, labels -1), written
        # into one array allocated once: the images are copied once, not three times (pad,
        # concatenate), most of a CLI run's 2 s of data loading on full Fashion-MNIST
        splits = [train] + ([validation] if validation is not None else []) + [test]
        rows = [len(s.labels) + (-len(s.labels)) % EVAL_CHUNK for s in splits]
        x = np.zeros((sum(rows), *train.images.shape[1:]),
                     np.result_type(*(s.images for s in splits)))
        y = np.full(sum(rows), -1, np.result_type(*(s.labels for s in splits)))
        for split, start in zip(splits, np.cumsum([0, *rows[:-1]])):
            x[start : start + len(split.labels)] = split.images
            y[start : start + len(split.labels)] = split.labels
        n_validation = len(validation.labels) if validation is not None else 0
        return cls(jnp.asarray(x), jnp.asarray(y), len(train.labels), len(test.labels),
                   rows[0], black, n_validation, rows[1] if validation is not None else 0)

    @property
    def x_train(self) -> jax.Array:
        return self.x[: self.train_rows]

    @property
    def y_train(self) -> jax.Array:
        return self.y[: self.train_rows]

    @property
    def x_validation(self) -> jax.Array:
        return self.x[self.train_rows : self.train_rows + self.validation_rows]

    @property
    def y_validation(self) -> jax.Array:
        return self.y[self.train_rows : self.train_rows + self.validation_rows]

    @property
    def x_test(self) -> jax.Array:
        return self.x[self.train_rows + self.validation_rows :]

    @property
    def y_test(self) -> jax.Array:
        return self.y[self.train_rows + self.validation_rows :]


@dataclass
class Timing:
    """Where a run's time went (returned by pcdiag.train_with_timing and the loop)."""

    compile_s: float = 0.0
    train_s: list[float] = field(default_factory=list)  # per epoch, compile excluded
    eval_s: list[float] = field(default_factory=list)  # of train_s: the end-of-epoch accuracy


def _evaluate(params, hyper, images, labels, prog):
    """Each EVAL_CHUNK-row chunk's sum of the task's evaluation (pcdiag.engine.evaluate:
    correct counts, or squared errors), shape (chunks,); padding rows: label -1.

    Sums, not fractions: dividing on the host keeps a run's score bit-equal whether it
    trains alone or inside a vmapped sweep."""
    chunks = (images.reshape(-1, EVAL_CHUNK, *images.shape[1:]), labels.reshape(-1, EVAL_CHUNK))
    return EVALUATIONS[prog.task](prog, hyper, params, *chunks)


def epoch_order(state: TrainState, *, n_train: int, steps: int, batch: int,
                 padded: int | None = None):
    """The epoch's shuffle, (padded, batch) row indices: `steps` real steps, then rows of 0
    up to a whole number of chunks (skipped by the guarded chunk)."""
    key, sub = jax.random.split(state.key)
    order = jax.random.permutation(sub, n_train)[: steps * batch].reshape(steps, batch)
    return state._replace(key=key), jnp.pad(order, ((0, (padded or steps) - steps), (0, 0)))


@functools.cache
def record_layout(prog: Program) -> list[tuple[str, tuple[int, ...]]]:
    """(field, shape) of each StepRecord field a logged step of `prog` fills, in order
    (traced once per program, never compiled; the memory estimate counts from it)."""
    f32 = jax.ShapeDtypeStruct((), jnp.float32)
    hyper = Hyper(*[f32] * len(Hyper._fields))
    key = jax.ShapeDtypeStruct((2,), jnp.uint32)
    x = jax.ShapeDtypeStruct((prog.batch_size, *prog.net.input_shape), jnp.float32)
    y = jax.ShapeDtypeStruct((prog.batch_size, *prog.net.node_shapes[-1]), jnp.float32)

    def logged_step(hyper, key, x, y):
        return train_step(prog, hyper, init_state(prog, hyper, key), x, y, True)[1]

    shapes = jax.eval_shape(logged_step, hyper, key, x, y)
    return [(name, getattr(shapes, name).shape) for name in StepRecord._fields
            if getattr(shapes, name) is not None]


def pack(record: StepRecord) -> jax.Array:
    """A logged step's record as one float32 vector (one write per step instead of one per
    field: each is a kernel, and on a CPU a kernel costs microseconds)."""
    leaves = [getattr(record, name) for name in StepRecord._fields]
    return jnp.concatenate([jnp.ravel(a).astype(jnp.float32) for a in leaves if a is not None])


def unpack(packed: np.ndarray, layout) -> StepRecord:
    """pack's inverse on the host, for any leading axes: (..., P) -> StepRecord of numpy."""
    fields, offset = {}, 0
    for name, shape in layout:
        size = math.prod(shape)
        fields[name] = packed[..., offset : offset + size].reshape(*packed.shape[:-1], *shape)
        offset += size
    return StepRecord(**{name: fields.get(name) for name in StepRecord._fields})


def augment(key: jax.Array, x: jax.Array, fill=0.0) -> jax.Array:
    """PCX's training augmentation of a batch `x` (B, H, W, C), on the device: each image is
    flipped left-right with probability 1/2, then padded with CROP_PADDING pixels of `fill`
    (a scalar or one value per channel) on every side and cropped back to H x W at a uniformly
    random offset, each image its own draw (torchvision's RandomHorizontalFlip, then
    RandomCrop(H, padding=4): a shift by -4..4 pixels each way, the uncovered border `fill`)."""
    b, h, w, c = x.shape
    pad = CROP_PADDING
    flip_key, crop_key = jax.random.split(key)
    flip = jax.random.bernoulli(flip_key, 0.5, (b,))
    x = jnp.where(flip[:, None, None, None], x[:, :, ::-1, :], x)
    fill = jnp.broadcast_to(jnp.asarray(fill, x.dtype), (c,))
    padded = jnp.broadcast_to(fill, (b, h + 2 * pad, w + 2 * pad, c))
    padded = padded.at[:, pad : pad + h, pad : pad + w, :].set(x)
    corner = jax.random.randint(crop_key, (b, 2), 0, 2 * pad + 1)
    return jax.vmap(lambda image, at: jax.lax.dynamic_slice(image, (at[0], at[1], 0),
                                                            (h, w, c)))(padded, corner)


def _chunk(prog: Program, guarded: bool, length: int, state, hyper, x, y, order, start,
           n_valid, *, black=None):
    """Run steps start .. start + length - 1 of the epoch `order` (on the device: a call sends
    two scalars, not indices), recording every log_every-th (its norms on every
    norms_every-th of those: `length` is a multiple of both). With `guarded`, only the first
    n_valid steps are real (a lax.cond per step, which costs 10-20%: used only when no chunk
    length divides the epoch). With `prog.augment`, each step's batch is augmented (see
    `augment`; border `black`) with a key folded from the run's key and its step number."""
    order = jax.lax.dynamic_slice_in_dim(order, start, length)
    k, m = prog.log_every, prog.norms_every
    task = task_of(prog)

    def one(state, idx, pos, record, norms=True):
        def real(s):
            batch = x[idx]
            if prog.augment:  # static: without it the program is unchanged
                batch = augment(jax.random.fold_in(s.key, s.step), batch,
                                0.0 if black is None else black)
            batch, target = task.batch(prog, batch, y[idx])
            return train_step(prog, hyper, s, batch, target, record, norms)

        if not guarded:
            return real(state)
        if not record:
            return jax.lax.cond(pos < n_valid, lambda s: real(s)[0], lambda s: s, state), None
        shape = jax.eval_shape(real, state)[1]
        skip = jax.tree_util.tree_map(lambda a: jnp.full(a.shape, jnp.nan, a.dtype), shape)
        return jax.lax.cond(pos < n_valid, real, lambda s: (s, skip), state)

    def group(state, xs, norms=True):  # a logged step, then k - 1 unlogged ones
        idx, pos = xs
        state, rec = one(state, idx[0], pos[0], True, norms)
        if k > 1:
            state, _ = jax.lax.scan(
                lambda s, x: one(s, x[0], x[1], False), state, (idx[1:], pos[1:])
            )
        return state, pack(rec)

    n = order.shape[0]
    if m == 1:
        positions = jnp.arange(n).reshape(n // k, k)
        return jax.lax.scan(group, state, (order.reshape(n // k, k, -1), positions))

    def norm_group(state, xs):  # m logged groups, the first one recording its norms
        idx, pos = xs
        state, first = group(state, (idx[0], pos[0]))
        state, rest = jax.lax.scan(lambda s, x: group(s, x, norms=False), state,
                                   (idx[1:], pos[1:]))
        return state, jnp.concatenate([first[None], rest])

    positions = jnp.arange(n).reshape(n // (k * m), m, k)
    state, packed = jax.lax.scan(norm_group, state,
                                 (order.reshape(n // (k * m), m, k, -1), positions))
    return state, packed.reshape(n // k, packed.shape[-1])


def run_mesh(runs: int, devices=None) -> Mesh | None:
    """The mesh a unit of `runs` vmapped runs is sharded over: the first d of `devices`
    (default: every local device), d the largest number of them that divides `runs`; None
    when that is one device (then nothing is sharded)."""
    devices = jax.local_devices() if devices is None else list(devices)
    d = max(k for k in range(1, len(devices) + 1) if runs % k == 0)
    return None if d == 1 else Mesh(np.array(devices[:d]), ("runs",))


@dataclass
class Compiled:
    """The jit-compiled, run-vmapped functions for one program, compiled ahead of time once
    per argument signature (so compile time is measured apart and never repeated), and per
    mesh when the runs are sharded (`mesh`: see run_mesh)."""

    prog: Program
    mesh: Mesh | None = None
    executables: dict = field(default_factory=dict)

    def __post_init__(self):
        prog = self.prog
        #: runs one after another inside the program instead of vmapped (see over_runs)
        self.sequential = self.mesh is None and not prog.net.vmap_runs
        self.init = self._jit(jax.vmap(partial(init_state, prog)), "rr", "r")
        self.evaluate = self._jit(
            over_runs(partial(_evaluate, prog=prog), (0, 0, None, None), False,
                      self.sequential), "rr..", "r")
        self.layout = record_layout(prog)

    def _jit(self, fn, args: str, out: str, **kwargs):
        """jax.jit, with each argument and result sharded over the mesh's runs ("r") or
        replicated (".") when there is a mesh."""
        if self.mesh is None:
            return jit(fn, **kwargs)
        spec = {"r": NamedSharding(self.mesh, P("runs")), ".": NamedSharding(self.mesh, P())}
        outs = tuple(spec[c] for c in out)
        return jit(fn, in_shardings=tuple(spec[c] for c in args),
                   out_shardings=outs[0] if len(outs) == 1 else outs, **kwargs)

    def put(self, value, *, sharded: bool):
        """`value` on the mesh: its runs sharded, or replicated (as is without a mesh)."""
        if self.mesh is None:
            return value
        return jax.device_put(value, NamedSharding(self.mesh, P("runs") if sharded else P()))

    def order(self, state: TrainState, n_train: int, steps: int, batch: int, padded: int):
        """The compiled epoch shuffle: state -> (state with a new key, (runs, padded, batch))."""
        order = partial(epoch_order, n_train=n_train, steps=steps, batch=batch, padded=padded)
        return self._aot(("order", n_train, steps, batch, padded),
                         lambda: self._jit(jax.vmap(order), "r", "rr"), state)

    def chunk(self, length: int, guarded: bool, state, hyper, data: DeviceData, order):
        """The compiled chunk of `length` steps for these arguments: called as
        (state, hyper, data.x, data.y, order, start, n_valid) -> (state, packed records)."""
        scalar = jax.ShapeDtypeStruct((), jnp.int32)
        black = data.black if self.prog.augment else None
        one_run = jax.tree_util.tree_leaves(order)[0].shape[0] == 1
        chunk = over_runs(partial(_chunk, self.prog, guarded, length, black=black),
                          (0, 0, None, None, 0, None, None), one_run, self.sequential)
        return self._aot(("chunk", length, guarded, black),
                         lambda: self._jit(chunk, "rr..r..", "rr", donate_argnums=(0,)),
                         state, hyper, data.x, data.y, order, scalar, scalar)

    def executable(self, name: str, *args):
        """The AOT-compiled `name` for arguments shaped like `args` (arrays or shape specs)."""
        return self._aot((name,), lambda: getattr(self, name), *args)

    def _aot(self, key: tuple, jitted, *args):
        """The executable of `jitted()` for arguments shaped like `args`, compiled ahead of
        time on first use and kept under `key` and the arguments' structure and shapes."""
        leaves, tree = jax.tree_util.tree_flatten(args)
        key = (*key, tree, tuple((leaf.shape, str(leaf.dtype)) for leaf in leaves))
        if key not in self.executables:
            self.executables[key] = jitted().lower(*args).compile()
        return self.executables[key]


def over_runs(fn, in_axes: tuple, one_run: bool, sequential: bool = False):
    """`fn` mapped over the runs axis (axis 0 of the arguments `in_axes` marks 0): jax.vmap;
    with `sequential`, jax.lax.map (the runs one after another in the one program, for a Net
    whose `vmap_runs` is False); or for a single run `fn` on that run's arrays, its outputs
    given the axis back. A vmap over a runs axis of one batches every dot, and XLA:CPU then
    computes each weight gradient transposed and copies it back, every step and layer
    (dev/speed/README.md)."""
    if sequential and not one_run:
        def mapped(*args):
            def one(per_run):
                it = iter(per_run)
                return fn(*(next(it) if axis == 0 else a for a, axis in zip(args, in_axes)))
            return jax.lax.map(one, [a for a, axis in zip(args, in_axes) if axis == 0])

        mapped.__name__ = getattr(fn, "__name__", None) or getattr(fn.func, "__name__", "runs")
        return mapped
    if not one_run:
        return jax.vmap(fn, in_axes=in_axes)

    def single(*args):
        args = [a if axis is None else jax.tree_util.tree_map(lambda v: v[0], a)
                for a, axis in zip(args, in_axes)]
        return jax.tree_util.tree_map(lambda v: v[None], fn(*args))

    # jit names its program (and its entry in the on-disk XLA cache) after the function, as
    # vmap does: after the wrapped one, through a partial
    single.__name__ = getattr(fn, "__name__", None) or getattr(fn.func, "__name__", "single")
    return single


_COMPILED: dict[tuple[Program, Mesh | None], Compiled] = {}


def compiled(prog: Program, mesh: Mesh | None = None) -> Compiled:
    """One set of compiled functions per program (and mesh), reused by every run and sweep
    point."""
    if (prog, mesh) not in _COMPILED:
        _COMPILED[prog, mesh] = Compiled(prog, mesh)
    return _COMPILED[prog, mesh]


def chunk_unit(cfg) -> int:
    """The steps a chunk's length is a multiple of, for a Config or Program: log_every, times
    norms_every so that every chunk starts a group of logged steps on a norm step."""
    return cfg.log_every * cfg.norms_every


def chunk_length(steps: int, log_every: int, calls: int = CHUNKS_PER_EPOCH) -> tuple[int, bool]:
    """Steps per compiled call, a multiple of log_every near 1/`calls` of an epoch, and whether
    the last call of an epoch is partial (then the chunk is guarded). A length that divides
    the epoch, from about half to twice the target, is preferred."""
    target = max(1, math.ceil(steps / log_every / calls))
    candidates = sorted(range(max(1, target // 2), 2 * target + 3), key=lambda g: abs(g - target))
    for groups in candidates:
        if steps % (groups * log_every) == 0:
            return groups * log_every, False
    return target * log_every, True


def _compile_together(jobs):
    """Run the compile jobs side by side: XLA compiles without holding the GIL, so the four
    executables of a run take about as long as the slowest (the chunk) where cores allow."""
    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        return [f.result() for f in [pool.submit(job) for job in jobs]]


def run(
    prog: Program,
    hyper: Hyper,
    keys: jax.Array,
    data: DeviceData,
    epochs: int,
    progress=None,
    checkpoint_dir=None,
    checkpoint_meta: dict | None = None,
    devices=None,
) -> tuple[RunRecords, Timing]:
    """Train R runs (leading axis of `hyper` and `keys`) and return their records as numpy
    (runs first).

    Step-dim arrays hold the logged steps only (every log_every-th step of each epoch,
    starting at the epoch's first); `progress` is an optional tqdm bar advanced per chunk.
    With `checkpoint_dir`, the TrainState and the epoch's records are saved there at each
    epoch's end (pcdiag.engine.checkpoint), and a checkpoint already there (of the same runs:
    `checkpoint_meta`, e.g. their configs, must match) is resumed from its last epoch; the
    records returned are the same as an uninterrupted run's. The runs are sharded over
    `devices` (default: every local device; see run_mesh).
    """
    timing = Timing()
    start = time.perf_counter()  # compile time includes record_layout's trace of the step
    fns = compiled(prog, run_mesh(len(keys), devices))
    hyper, keys = fns.put(hyper, sharded=True), fns.put(keys, sharded=True)
    x, y = fns.put(data.x, sharded=False), fns.put(data.y, sharded=False)
    layout = fns.layout
    steps = data.n_train // prog.batch_size
    # a progress bar moves per call; without one an epoch is a single call
    calls = CHUNKS_PER_EPOCH if progress is not None else 1
    length, guarded = chunk_length(steps, chunk_unit(prog), calls)
    padded = math.ceil(steps / length) * length
    shape = jax.eval_shape(fns.init, hyper, keys)
    order_shape = jax.ShapeDtypeStruct((len(keys), padded, prog.batch_size), jnp.int32)
    task = task_of(prog)
    # the evaluation's rows: training rows (where the task evaluates them), then the
    # validation rows, then the test rows, in chunks of EVAL_CHUNK
    eval_from = 0 if "train" in task.score.splits else data.train_rows
    x_eval, y_eval = (x, y) if eval_from == 0 else (x[eval_from:], y[eval_from:])
    init, order_fn, chunk, evaluate = _compile_together([
        lambda: fns.executable("init", hyper, keys),
        lambda: fns.order(shape, data.n_train, steps, prog.batch_size, padded),
        lambda: fns.chunk(length, guarded, shape, hyper, data, order_shape),
        lambda: fns.executable("evaluate", shape.params, hyper, x_eval, y_eval),
    ])
    state = init(hyper, keys)
    restored = None
    if checkpoint_dir is not None:
        restored = checkpoint.restore(checkpoint_dir, shape, checkpoint_meta or {})
        if restored is not None:
            state = fns.put(restored.state, sharded=True)
    # (start, valid steps) of each call, on the device once
    bounds = [(begin, min(length, steps - begin)) for begin in range(0, steps, length)]
    scalars = [tuple(fns.put(jax.device_put(np.int32(v)), sharded=False) for v in b)
               for b in bounds]
    jax.block_until_ready((state, scalars))
    timing.compile_s = time.perf_counter() - start
    logged, step_numbers, epoch_of_step = [], [], []
    splits = {"train": (0, data.train_rows, data.n_train),
              "validation": (data.train_rows, data.train_rows + data.validation_rows,
                             data.n_validation),
              "test": (data.train_rows + data.validation_rows, None, data.n_test)}
    evaluated = [name for name in splits if (name in task.score.splits or name == "validation")
                 and splits[name][2]]  # validation: where there is a split
    sums = {name: [] for name in evaluated}  # per epoch, (runs,) sums of the evaluation
    first, elapsed = 0, timing.compile_s
    if restored is not None:
        first, elapsed = restored.epochs_done, restored.elapsed_s + timing.compile_s
        for done in restored.epochs:
            logged.append(StepRecord(**{name: done.get(name) for name in StepRecord._fields}))
            step_numbers.append(done["_step"])
            epoch_of_step.append(done["_epoch_of_step"])
            for name in evaluated:
                sums[name].append(done[f"_{name}_correct"])
        if progress is not None:
            progress.update(first * steps * len(keys))
    for epoch in range(first, epochs):
        start = time.perf_counter()
        state, order = order_fn(state)
        # nudging's beta of this epoch, sharded like the runs
        epoch_hyper_ = fns.put(epoch_hyper(fns.prog, hyper, epoch), sharded=True)
        pieces = []
        for (_, n_valid), (begin_arg, n_valid_arg) in zip(bounds, scalars):
            state, records = chunk(state, epoch_hyper_, x, y, order, begin_arg, n_valid_arg)
            pieces.append(records)
            if progress is not None:
                progress.update(n_valid * len(keys))
                last = (n_valid - 1) // prog.log_every  # the last real logged step
                _describe(progress, unpack(np.asarray(records[:1, last : last + 1]), layout),
                          sums["test"], data.n_test * task.per_example(prog.net), task.score.name,
                          records_energy(prog))
        jax.block_until_ready(state)
        trained = time.perf_counter()
        chunk_sums = np.asarray(evaluate(state.params, hyper, x_eval, y_eval))  # (runs, chunks)
        for name in evaluated:
            begin, end, _ = splits[name]
            rows = slice((begin - eval_from) // EVAL_CHUNK,
                         None if end is None else (end - eval_from) // EVAL_CHUNK)
            sums[name].append(chunk_sums[:, rows].sum(axis=1))
        timing.train_s.append(time.perf_counter() - start)
        timing.eval_s.append(time.perf_counter() - trained)
        records = unpack(np.concatenate(pieces, axis=1), layout)
        positions = np.arange(records.train_loss.shape[1]) * prog.log_every
        keep = positions < steps
        logged.append(jax.tree_util.tree_map(lambda a, keep=keep: a[:, keep], records))
        step_numbers.append(epoch * steps + positions[keep])
        epoch_of_step.append(np.full(keep.sum(), epoch + 1))
        if checkpoint_dir is not None:
            elapsed += timing.train_s[-1]
            saved = {name: getattr(logged[-1], name) for name in StepRecord._fields
                     if getattr(logged[-1], name) is not None}
            saved.update(_step=step_numbers[-1], _epoch_of_step=epoch_of_step[-1])
            saved.update({f"_{name}_correct": np.asarray(sums[name][-1]) for name in evaluated})
            checkpoint.save_epoch(checkpoint_dir, epoch + 1, state, saved,
                                  dict(checkpoint_meta or {}, elapsed_s=elapsed))
    values = {
        name: np.concatenate([getattr(r, name) for r in logged], axis=1)
        for name in StepRecord._fields
        if getattr(logged[0], name) is not None
    }
    per_example = task.per_example(prog.net)
    for name in evaluated:
        values[f"{name}_{task.score.name}"] = np.stack(
            [np.asarray(a) for a in sums[name]], axis=1) / (splits[name][2] * per_example)
    if prog.task == "generation":
        n_train = data.n_train
        trivial = mean_image_mse(data.x_train[:n_train], data.x_test[: data.n_test])
        values["mean_image_mse"] = np.full(len(keys), trivial)
    values["diverged_at"] = np.asarray(state.diverged_at)
    out = RunRecords(np.concatenate(step_numbers), np.concatenate(epoch_of_step), values)
    _blank_after_divergence(out, steps)
    return out, timing


def _blank_after_divergence(out: RunRecords, steps_per_epoch: int) -> None:
    """A diverged run keeps its place: values after its first non-finite step become NaN."""
    for run, step in enumerate(out["diverged_at"]):
        if step < 0:
            continue
        later = out.step > step
        for name in StepRecord._fields:
            if name in out:
                out[name][run, later] = np.nan
        epoch_ends = None
        for name in ("train_accuracy", "test_accuracy", "validation_accuracy", "test_mse",
                     "validation_mse"):
            if name in out and epoch_ends is None:
                epoch_ends = np.arange(1, out[name].shape[1] + 1) * steps_per_epoch
            if name in out:
                out[name][run, epoch_ends > step] = np.nan


def _describe(progress, records: StepRecord, test_sums: list, divisor: int, score: str,
              has_energy: bool) -> None:
    """Progress-bar text: the first run's last energy (or loss) and its last test score."""
    if has_energy:
        value = float(np.sum(records.energy[0, 0, -1]))
        text = {"energy": f"{value:.3g}"}
    else:
        text = {"loss": f"{float(records.train_loss[0, 0]):.3g}"}
    if test_sums:
        name = "test_acc" if score == "accuracy" else f"test_{score}"
        text[name] = f"{float(test_sums[-1][0]) / divisor:.3{'f' if score == 'accuracy' else 'g'}}"
    progress.set_postfix(text, refresh=False)
