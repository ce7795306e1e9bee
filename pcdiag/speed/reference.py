"""The plain-JAX limit: the speed benchmark's PC step written directly in JAX + optax, the
minimum any instrumented trainer must do, timed beside pcdiag in the same run.

One jit per epoch: the epoch's shuffle, then a lax.scan over batches; per batch the first
layer's prediction, forward initialisation, a lax.scan over t = 0..T-1 of
value_and_grad(F) and a per-sample SGD step on the states (gamma on the gradient of the
batch-summed F), then value_and_grad of the batch-mean F w.r.t. the weights at x_T and one
AdamW step. Per-layer energies are the scan outputs: (T+1, L) batch sums per step (t = T is
the weight step's own energy), divided by the batch on the host. No vmap over runs, no
finiteness guard, no norms, no packing, no evaluation. Compiled with pcdiag's compiler
options (pcdiag.engine.compile_options: on a CPU, XLA's own convolutions), as pcdiag's
programs are, so both sides run the same kernels.

It starts from pcdiag's initial state (weights and data key), so it draws the same batches
in the same order as pcdiag's loop and its energies must equal pcdiag's full record
(`epoch_energies`; tests/test_bench.py checks them to float32 rounding).
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from pcdiag.engine.compile_options import jit
from pcdiag.nets.mlp import MLP


def _predict_fn(net):
    """mu_l(x_{l-1}) written out for an MLP (x @ W + b, hard_tanh below the output); any
    other network (the VGG) through its own predict."""
    if (isinstance(net, MLP) and net.parameterization == "sp" and not net.skip
            and net.activation == "hard_tanh"):
        act = jax.nn.hard_tanh
        depth = net.depth

        def predict(params, layer, x):
            if x.ndim > 2:
                x = x.reshape(x.shape[0], -1)
            w, b = params[layer - 1]
            z = x @ w + b
            return z if layer == depth else act(z)

        return predict
    return net.predict


def make_epoch(net, *, batch: int, T: int, gamma: float, lr: float, weight_decay: float = 0.0,
               n_train: int):
    """-> (epoch, optimizer): epoch(params, opt_state, key, x, y) -> (params, opt_state, key,
    energies (steps, T+1, L) batch sums), jitted; cross-entropy output clamped to y."""
    predict = _predict_fn(net)
    depth = net.depth
    classes = net.classes
    steps = n_train // batch
    opt = optax.adamw(lr, weight_decay=weight_decay)

    def layer_sums(params, x0, states, y, mu1):
        nodes = (*states, y)
        sums = []
        for layer in range(1, depth + 1):
            mu = mu1 if layer == 1 else predict(params, layer, nodes[layer - 2])
            if layer == depth:
                e = -jnp.sum(y * jax.nn.log_softmax(mu, axis=-1), axis=-1)
            else:
                x = nodes[layer - 1]
                e = 0.5 * jnp.sum((x - mu) ** 2, axis=tuple(range(1, x.ndim)))
            sums.append(jnp.sum(e))
        sums = jnp.stack(sums)
        return jnp.sum(sums), sums

    def step(params, opt_state, x0, y):
        mu1 = predict(params, 1, x0)
        states, x = [], mu1
        for layer in range(2, depth + 1):
            states.append(x)
            x = predict(params, layer, x)
        states = tuple(states)

        def inference(z, _):
            (_, sums), g = jax.value_and_grad(
                lambda z: layer_sums(params, x0, z, y, mu1), has_aux=True)(z)
            return jax.tree_util.tree_map(lambda a, b: a - gamma * b, z, g), sums

        states, sums_t = jax.lax.scan(inference, states, None, length=T)

        def mean_f(p):
            total, sums = layer_sums(p, x0, states, y, predict(p, 1, x0))
            return total / batch, sums

        (_, sums_T), grads = jax.value_and_grad(mean_f, has_aux=True)(params)
        updates, opt_state = opt.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, jnp.concatenate(
            [sums_t, sums_T[None]])

    @jit  # with pcdiag's compiler options, as pcdiag's programs (compile_options)
    def epoch(params, opt_state, key, x, y):
        key, sub = jax.random.split(key)  # pcdiag's epoch order (loop.epoch_order)
        order = jax.random.permutation(sub, n_train)[: steps * batch].reshape(steps, batch)

        def body(carry, idx):
            p, o = carry
            p, o, sums = step(p, o, x[idx], jax.nn.one_hot(y[idx], classes, dtype=x.dtype))
            return (p, o), sums

        (params, opt_state), sums = jax.lax.scan(body, (params, opt_state), order)
        return params, opt_state, key, sums

    return epoch, opt


def _start(cfg, data):
    """pcdiag's initial weights and data key for `cfg` (its loop's init executable), the Net."""
    from pcdiag.speed.programs import _one_run, _program_fns

    prog, fns = _program_fns(cfg)
    hyper, keys = _one_run(cfg)
    state = fns.init(hyper, keys)
    params = jax.tree_util.tree_map(lambda a: a[0], state.params)
    return params, state.key[0], prog.net


def _epoch_fn(cfg, data, net):
    expected = dict(algorithm="pc", output_energy="ce", state_optimizer="sgd",
                    gamma_convention="per_sample", weight_optimizer="adamw",
                    lr_schedule="constant", augment=False)
    wrong = {k: getattr(cfg, k) for k, v in expected.items() if getattr(cfg, k) != v}
    if wrong:
        raise ValueError(f"the plain-JAX reference is the speed benchmark's PC step only: {wrong}")
    return make_epoch(net, batch=cfg.batch_size, T=cfg.inference_steps, gamma=cfg.gamma,
                      lr=cfg.weight_lr, weight_decay=cfg.weight_decay, n_train=data.n_train)


def epoch_energies(cfg, data, epochs: int = 1) -> np.ndarray:
    """The reference's batch-mean energies (epochs x steps, T+1, L) from pcdiag's initial
    state: what pcdiag's full record holds for the same Config."""
    params, key, net = _start(cfg, data)
    epoch, opt = _epoch_fn(cfg, data, net)
    opt_state = opt.init(params)
    out = []
    for _ in range(epochs):
        params, opt_state, key, sums = epoch(params, opt_state, key, data.x, data.y)
        out.append(np.asarray(sums))
    return np.concatenate(out) / np.float32(cfg.batch_size)


def time_reference(cfg, data) -> dict[str, Any]:
    """Throughput of the reference over cfg.epochs epochs (the first compiles), measured as
    pcdiag's: median over epochs 2..E, per epoch the call and the energies copied to the host."""
    params, key, net = _start(cfg, data)
    epoch, opt = _epoch_fn(cfg, data, net)
    start = time.perf_counter()
    opt_state = opt.init(params)
    compiled = epoch.lower(params, opt_state, key, data.x, data.y).compile()
    compile_s = time.perf_counter() - start
    epoch_s, energies = [], None
    for _ in range(cfg.epochs):
        start = time.perf_counter()
        params, opt_state, key, sums = compiled(params, opt_state, key, data.x, data.y)
        sums = np.asarray(sums)
        epoch_s.append(time.perf_counter() - start)
        if energies is None:
            energies = sums / np.float32(cfg.batch_size)
    steady = epoch_s[1:]
    samples = (data.n_train // cfg.batch_size) * cfg.batch_size
    return {
        "samples_per_s": samples / statistics.median(steady),
        "samples_per_s_best": samples / min(steady),
        "samples_per_s_epochs": [samples / t for t in steady],
        "epoch_s": epoch_s,
        "compile_s": compile_s + epoch_s[0] - statistics.median(steady),
        "timing_basis": "one jitted epoch call + energies to the host",
        "first_epoch_energies": energies,
    }
