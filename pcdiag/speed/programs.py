"""pcdiag's compiled training programs, driven by hand (the one speed-benchmark module that reaches
into the training loop): the chunk whose FLOPs are counted, and the first step's energies."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from pcdiag.algorithms import Hyper, Program
from pcdiag.engine import loop


def _program_fns(cfg):
    prog = Program.from_config(cfg)
    return prog, loop.compiled(prog)


def _one_run(cfg):
    """(hyper, keys) of a single run, as pcdiag.train builds them."""
    hyper = jax.tree_util.tree_map(lambda a: a[None], Hyper.from_config(cfg))
    return hyper, jax.random.PRNGKey(cfg.seed)[None]


def _shuffle(fns, state, n_train: int, steps: int, batch: int):
    """The loop's epoch order: (state, order (runs, steps, batch))."""
    return fns.order(state, n_train, steps, batch, steps)(state)


def _chunk_call(fns, state, hyper, data, order, n_valid: int):
    """Call the loop's compiled chunk on `order` (runs, length, batch) from its first step."""
    chunk = fns.chunk(order.shape[1], False, state, hyper, data, order)
    return chunk(state, hyper, data.x, data.y, order, np.int32(0), np.int32(n_valid))


def compiled_chunk(cfg, data):
    """(the compiled training chunk of a single run, its steps, the Net)."""
    prog, fns = _program_fns(cfg)
    hyper, keys = _one_run(cfg)
    steps = data.n_train // cfg.batch_size
    length, _ = loop.chunk_length(steps, loop.chunk_unit(cfg))
    state, order = _shuffle(fns, fns.init(hyper, keys), data.n_train, steps, cfg.batch_size)
    chunk = fns.chunk(length, False, state, hyper, data, order[:, :length])
    return chunk, length, prog.net


def pcdiag_energies(cfg, data) -> tuple[np.ndarray, object]:
    """Energies (T+1, L) of pcdiag's first training step on the first batch; its init params
    (the net's parameter tree, numpy arrays).

    Uses the run's own compiled chunk (full recording) with an order whose first step is
    rows 0..B-1 of the training set (the rest of the chunk is skipped).
    """
    _, fns = _program_fns(cfg)
    hyper, keys = _one_run(cfg)
    state = fns.init(hyper, keys)
    params = jax.tree_util.tree_map(lambda a: np.asarray(a[0]), state.params)
    steps = data.n_train // cfg.batch_size
    length, _ = loop.chunk_length(steps, loop.chunk_unit(cfg))
    state, order0 = _shuffle(fns, state, data.n_train, steps, cfg.batch_size)
    order = jnp.broadcast_to(jnp.arange(cfg.batch_size, dtype=order0.dtype),
                             (1, length, cfg.batch_size))
    _, packed = _chunk_call(fns, state, hyper, data, order, 1)
    return loop.unpack(np.asarray(packed), fns.layout).energy[0, 0], params
