"""PCX (PyPI `pcx` 0.6.3) side of the pcdiag-vs-PCX predictive-coding MLP benchmark.

Runs ONLY inside the pcx virtual environment (pcx 0.6.3 needs jax < 0.5); see README.md.

Usage (spec as JSON on argv[1], or as a path to a .json file, or on stdin):

    "$PCDIAG_PCX_VENV"/bin/python pcx_mlp.py '{"sizes": [784,128,128,10], "batch_size": 128, "T": 8,
        "gamma": 0.1, "weight_lr": 1e-3, "weight_decay": 0.0, "epochs": 3, "data": "fmnist.npz"}'

Spec keys
    sizes          layer widths [d0, d1, ..., dL]; d0 = input, dL = number of classes.
    batch_size     mini-batch size B (the last incomplete batch of each epoch is dropped; pcx needs a fixed shape).
    T              inference (state-update) steps per batch.
    gamma          state learning rate, PER-SAMPLE convention (see "State optimiser" below).
    weight_lr      optax.adamw learning rate.
    weight_decay   optax.adamw weight_decay (default 0.0).
    epochs         number of passes over x_train.
    data           .npz with x_train float32 (N, d0) (already standardised), y_train int (N,);
                   optional x_test, y_test -> test accuracy of a feed-forward pass after training.
    init_weights   optional .npz with W1, b1, ..., WL, bL.  W_l has shape (out, in) = (d_l, d_{l-1}) so that
                   mu_l = act(W_l @ x_{l-1} + b_l) (batched: x @ W_l.T + b_l).  This is exactly pcx's own layout
                   (pcx.nn.Linear wraps equinox.nn.Linear, whose weight is (out_features, in_features) and which
                   computes weight @ x + bias per sample), so the arrays are loaded WITHOUT transposing.
    check_energies optional bool; with init_weights it (after setting the weights, before any training) takes the
                   first batch (x_train[:B], no shuffling), forward-initialises, runs T state steps and reports the
                   per-layer batch-mean energies at t = 0 .. T.
    seed           optional int (default 0): pcx RKG seed (weight init) and numpy shuffling seed.
    shuffle        optional bool (default true): reshuffle the training set each epoch.
    state_grad     optional "mean_scale" (default) | "sum"; two equivalent ways of getting the per-sample state step:
                   "mean_scale": energy = batch MEAN (jax.lax.pmean over the vmapped batch axis, as in the PCX
                       benchmark paper's scripts), state grads multiplied by B via pxu.Optim.step(..., scale_by=B)
                       (pcx 0.6.3's replacement of the paper-era `scale_by_batch_size=True`, which did g * g.shape[0]);
                       optimiser optax.sgd(gamma).  Weight grads are those of the batch-mean energy (unscaled).
                   "sum": energy = batch SUM (jax.lax.psum, as in pcx 0.6.x examples), optax.sgd(gamma) unscaled,
                       weight grads scaled by 1/B (scale_by=1/B) -> gradient of the batch-mean energy.
    eval_batch     optional int (default 1000) test-set chunk size for the feed-forward accuracy.

Model (as the PCX paper's MLP): for hidden l = 1..L-1: x_l = Vode(se_energy)( act(Linear_l(x_{l-1})) ),
output: Vode(ce_energy)( Linear_L(x_{L-1}) ) whose value h is frozen and clamped to one-hot(y) during training;
act = jax.nn.hard_tanh; x_0 = the input batch (clamped, not a Vode).
Training per batch (one pxf.jit-compiled function): forward init (pxu.step(model, STATUS.INIT)), T state steps of
plain SGD on the unfrozen Vode values, then one adamw step on all Linear weights/biases at the final states.

Energy conventions of pcx 0.6.3 (predictive_coding/_energy.py, _vode.py):
    se_energy = 0.5 * (h - u)**2 elementwise (INCLUDES the 1/2); Vode.energy() SUMS over all units of a sample
    (vmapped context: _E.sum()); ce_energy = -(h * log_softmax(u)) summed over units = -y . log_softmax(mu_L).
    The model energy is the sum over Vodes.  Reduction over the batch is the user's choice in the vmapped
    energy function (pmean or psum); this script REPORTS batch means.

Output: ONE JSON line on stdout.
"""
import json
import os
import sys
import time
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pcx as px
import pcx.functional as pxf
import pcx.nn as pxnn
import pcx.predictive_coding as pxc
import pcx.utils as pxu

# ----------------------------------------------------------------------------------------------------------------------
# Model
# ----------------------------------------------------------------------------------------------------------------------


class PCMLP(pxc.EnergyModule):
    def __init__(self, sizes, act_fn: Callable[[jax.Array], jax.Array]) -> None:
        super().__init__()
        self.act_fn = px.static(act_fn)
        self.nm_classes = px.static(sizes[-1])
        self.layers = [pxnn.Linear(sizes[i], sizes[i + 1]) for i in range(len(sizes) - 1)]
        # hidden: Gaussian (se_energy) vodes; output: categorical (ce_energy) vode, clamped to the target
        self.vodes = [pxc.Vode() for _ in range(len(sizes) - 2)] + [pxc.Vode(pxc.ce_energy)]
        self.vodes[-1].h.frozen = True

    def __call__(self, x, y=None):
        for v, l in zip(self.vodes[:-1], self.layers[:-1]):
            x = v(self.act_fn(l(x)))
        self.vodes[-1](self.layers[-1](x))
        if y is not None:
            self.vodes[-1].set("h", y)
        return self.vodes[-1].get("u")


_VODE_MASK = pxu.M(pxc.VodeParam | pxc.VodeParam.Cache).to((None, 0))


@pxf.vmap(_VODE_MASK, in_axes=(0, 0), out_axes=0, axis_name="batch")
def forward(x, y, *, model: PCMLP):
    return model(x, y)


@pxf.vmap(_VODE_MASK, in_axes=(0,), out_axes=0, axis_name="batch")
def forward_eval(x, *, model: PCMLP):
    return model(x, None)


@pxf.vmap(_VODE_MASK, in_axes=(0,), out_axes=(None, 0), axis_name="batch")
def energy_mean(x, *, model: PCMLP):
    y_ = model(x, None)
    return jax.lax.pmean(model.energy(), "batch"), y_


@pxf.vmap(_VODE_MASK, in_axes=(0,), out_axes=(None, 0), axis_name="batch")
def energy_sum(x, *, model: PCMLP):
    y_ = model(x, None)
    return jax.lax.psum(model.energy(), "batch"), y_


@pxf.vmap(_VODE_MASK, in_axes=(0,), out_axes=None, axis_name="batch")
def layer_energies(x, *, model: PCMLP):
    """Per-Vode (layer 1 .. L) batch-mean energies at the current states."""
    model(x, None)
    return jax.lax.pmean(jnp.stack([v.energy() for v in model.vodes]), "batch")


def _h_mask():
    # NOTE: a fresh mask each time: pxu.M.to(...) mutates the mask object in place.
    return pxu.M_hasnot(pxc.VodeParam, frozen=True)


def _inference_step(x, batch_size, state_grad, *, model, optim_h):
    if state_grad == "mean_scale":
        with pxu.step(model, clear_params=pxc.VodeParam.Cache):
            _, g = pxf.value_and_grad(_h_mask().to([False, True]), has_aux=True)(energy_mean)(x, model=model)
        optim_h.step(model, g["model"], scale_by=float(batch_size))  # per-sample state step
    else:
        with pxu.step(model, clear_params=pxc.VodeParam.Cache):
            _, g = pxf.value_and_grad(_h_mask().to([False, True]), has_aux=True)(energy_sum)(x, model=model)
        optim_h.step(model, g["model"])


@pxf.jit(static_argnums=(0, 1))
def train_on_batch(T: int, state_grad: str, x, y, *, model: PCMLP, optim_w: pxu.Optim, optim_h: pxu.Optim):
    model.train()
    B = x.shape[0]

    # forward initialisation of all Vode values (h, u <- u); output h clamped to the one-hot target
    with pxu.step(model, pxc.STATUS.INIT, clear_params=pxc.VodeParam.Cache):
        forward(x, y, model=model)

    optim_h.init(_h_mask()(model))
    for _ in range(T):
        _inference_step(x, B, state_grad, model=model, optim_h=optim_h)
    optim_h.clear()

    # weight update at the final states
    with pxu.step(model, clear_params=pxc.VodeParam.Cache):
        if state_grad == "mean_scale":
            _, g = pxf.value_and_grad(pxu.M(pxnn.LayerParam).to([False, True]), has_aux=True)(energy_mean)(
                x, model=model)
            optim_w.step(model, g["model"])
        else:
            _, g = pxf.value_and_grad(pxu.M(pxnn.LayerParam).to([False, True]), has_aux=True)(energy_sum)(
                x, model=model)
            optim_w.step(model, g["model"], scale_by=1.0 / B)


@pxf.jit(static_argnums=(0, 1))
def check_energies_on_batch(T: int, state_grad: str, x, y, *, model: PCMLP, optim_h: pxu.Optim):
    """Forward init + T state steps (exactly the inference part of train_on_batch); per-layer energies at t=0..T."""
    model.train()
    B = x.shape[0]
    with pxu.step(model, pxc.STATUS.INIT, clear_params=pxc.VodeParam.Cache):
        forward(x, y, model=model)
    optim_h.init(_h_mask()(model))
    traj = []
    for _ in range(T):
        with pxu.step(model, clear_params=pxc.VodeParam.Cache):
            traj.append(layer_energies(x, model=model))
        _inference_step(x, B, state_grad, model=model, optim_h=optim_h)
    with pxu.step(model, clear_params=pxc.VodeParam.Cache):
        traj.append(layer_energies(x, model=model))
    optim_h.clear()
    return jnp.stack(traj)  # (T+1, L)


@pxf.jit()
def eval_on_batch(x, y, *, model: PCMLP):
    model.eval()
    # clear Vode values before and after: the eval batch size differs from the training one
    with pxu.step(model, pxc.STATUS.INIT,
                  clear_params=(pxc.VodeParam | pxc.VodeParam.Cache, pxc.VodeParam | pxc.VodeParam.Cache)):
        y_ = forward_eval(x, model=model).argmax(axis=-1)
    return (y_ == y).sum()


# ----------------------------------------------------------------------------------------------------------------------
# Driver
# ----------------------------------------------------------------------------------------------------------------------


def _read_spec():
    if len(sys.argv) > 1:
        arg = sys.argv[1]
        if os.path.isfile(arg):
            with open(arg) as f:
                return json.load(f)
        return json.loads(arg)
    return json.loads(sys.stdin.read())


def _block(model):
    model.layers[0].nn.weight.get().block_until_ready()


def _load_weights(model, path, sizes):
    w = np.load(path)
    for i, layer in enumerate(model.layers, start=1):
        W = np.asarray(w[f"W{i}"], dtype=np.float32)
        b = np.asarray(w[f"b{i}"], dtype=np.float32).reshape(-1)
        expect = (sizes[i], sizes[i - 1])  # (out, in): pcx / equinox layout, no transpose
        if W.shape != expect:
            raise ValueError(f"W{i} has shape {W.shape}, expected (out, in) = {expect}")
        if b.shape != (sizes[i],):
            raise ValueError(f"b{i} has shape {b.shape}, expected ({sizes[i]},)")
        assert layer.nn.weight.get().shape == expect
        layer.nn.weight.set(jnp.asarray(W))
        layer.nn.bias.set(jnp.asarray(b))


def main():
    spec = _read_spec()
    sizes = [int(s) for s in spec["sizes"]]
    px.RKG.seed(int(spec.get("seed", 0)))
    model = PCMLP(sizes, jax.nn.hard_tanh)

    def prepare(x):  # (N, ...) images -> (N, d0) rows
        x = np.ascontiguousarray(x, dtype=np.float32).reshape(x.shape[0], -1)
        assert x.shape[1] == sizes[0], (x.shape, sizes)
        return x

    run(spec, model, prepare, lambda m, path: _load_weights(m, path, sizes), sizes[-1], {"sizes": sizes})


def run(spec, model, prepare, load_weights, n_classes, describe):
    """Everything after building the model (shared with pcx_vgg.py): load the npz (inputs through `prepare`),
    set the init weights (`load_weights(model, path)`), the energy check, the timed epochs, the test accuracy;
    prints the JSON line. The model's `layers[0].nn.weight` is what a timing blocks on."""
    B = int(spec["batch_size"])
    T = int(spec["T"])
    gamma = float(spec["gamma"])
    weight_lr = float(spec["weight_lr"])
    weight_decay = float(spec.get("weight_decay", 0.0))
    epochs = int(spec.get("epochs", 1))
    seed = int(spec.get("seed", 0))
    shuffle = bool(spec.get("shuffle", True))
    state_grad = spec.get("state_grad", "mean_scale")
    if state_grad not in ("mean_scale", "sum"):
        raise ValueError("state_grad must be 'mean_scale' or 'sum'")
    eval_bs = int(spec.get("eval_batch", 1000))

    data = np.load(spec["data"])
    x_train = prepare(data["x_train"])
    y_train = np.asarray(data["y_train"]).astype(np.int32)
    nb = x_train.shape[0] // B
    if nb < 1:
        raise ValueError("fewer training samples than one batch")

    # Materialise the Vode shapes once (as the pcx examples do) so the optimiser can be built on the weights.
    with pxu.step(model, pxc.STATUS.INIT, clear_params=pxc.VodeParam.Cache):
        forward(jnp.zeros((B, *x_train.shape[1:]), jnp.float32), jnp.zeros((B, n_classes), jnp.float32), model=model)

    if spec.get("init_weights"):
        load_weights(model, spec["init_weights"])

    optim_h = pxu.Optim(lambda: optax.sgd(gamma))
    optim_w = pxu.Optim(lambda: optax.adamw(weight_lr, weight_decay=weight_decay), pxu.M(pxnn.LayerParam)(model))

    out = {
        "framework": "pcx",
        "pcx_version": _pcx_version(),
        "jax_version": jax.__version__,
        "jaxlib_version": _jaxlib_version(),
        "device": str(jax.devices()[0]),
        "platform": jax.devices()[0].platform,
        "device_kind": getattr(jax.devices()[0], "device_kind", None),
        **describe, "batch_size": B, "T": T, "gamma": gamma, "weight_lr": weight_lr,
        "weight_decay": weight_decay, "epochs": epochs, "state_grad": state_grad,
        "state_optimizer": ("optax.sgd(gamma) with pxu.Optim.step(scale_by=batch_size) on grads of the batch-MEAN "
                            "energy" if state_grad == "mean_scale" else
                            "optax.sgd(gamma) on grads of the batch-SUM energy (weights: scale_by=1/B)"),
        "weight_optimizer": "optax.adamw(weight_lr, weight_decay=weight_decay)",
        "energy_convention": "E_l = 0.5*sum_units (x_l - mu_l)^2 per sample (pcx se_energy incl. 1/2, summed over "
                             "units); E_L = -y.log_softmax(mu_L); reported as batch means",
        "batches_per_epoch": nb,
    }

    if spec.get("check_energies"):
        if not spec.get("init_weights"):
            raise ValueError("check_energies needs init_weights")
        xb = jnp.asarray(x_train[:B])
        yb = jax.nn.one_hot(jnp.asarray(y_train[:B]), n_classes)
        traj = np.asarray(check_energies_on_batch(T, state_grad, xb, yb, model=model, optim_h=optim_h))
        out["energies_t0"] = [float(e) for e in traj[0]]
        out["energies_T"] = [float(e) for e in traj[-1]]
        out["energies_traj"] = [[float(e) for e in row] for row in traj]
        out["energy_total_t0"] = float(traj[0].sum())
        out["energy_total_T"] = float(traj[-1].sum())
        # the check does not change weights; states are re-initialised by the next train call
        if epochs <= 0:
            print(json.dumps(out))
            return

    rng = np.random.default_rng(seed)
    x_dev = jnp.asarray(x_train)
    y_dev = jax.nn.one_hot(jnp.asarray(y_train), n_classes)

    epoch_times, epoch_cpu_times, first_call_s = [], [], None
    for e in range(epochs):
        idx = rng.permutation(x_train.shape[0]) if shuffle else np.arange(x_train.shape[0])
        idx = jnp.asarray(idx[: nb * B].reshape(nb, B))
        _block(model)
        t0, c0 = time.perf_counter(), time.process_time()
        for i in range(nb):
            bi = idx[i]
            train_on_batch(T, state_grad, x_dev[bi], y_dev[bi], model=model, optim_w=optim_w, optim_h=optim_h)
            if e == 0 and i == 0:
                _block(model)
                first_call_s = time.perf_counter() - t0
        _block(model)
        epoch_times.append(time.perf_counter() - t0)
        epoch_cpu_times.append(time.process_time() - c0)

    if epochs > 0:
        steady_per_batch = None
        if epochs >= 2:
            steady = epoch_times[1:]
            sps = [nb * B / t for t in steady]
            samples_per_s = float(np.median(sps))
            steady_per_batch = float(np.median(steady)) / nb
            basis = "median over epochs 2..E"
        elif nb >= 2:
            rest = epoch_times[0] - first_call_s
            samples_per_s = (nb - 1) * B / rest
            steady_per_batch = rest / (nb - 1)
            basis = "epoch 1 excluding the first (compiling) batch"
        else:
            samples_per_s, basis = B / epoch_times[0], "single batch incl. compile"
        out.update({
            "epoch_times_s": epoch_times,
            "first_call_s": first_call_s,
            "compile_time_s": (first_call_s - steady_per_batch) if steady_per_batch is not None else None,
            "compile_time_epoch_s": (epoch_times[0] - float(np.median(epoch_times[1:]))) if epochs >= 2 else None,
            "samples_per_s": samples_per_s,
            "samples_per_s_best": (nb * B / min(epoch_times[1:])) if epochs >= 2 else None,
            "epoch_cpu_s": epoch_cpu_times,
            "samples_per_s_basis": basis,
        })

    if "x_test" in data.files and "y_test" in data.files and epochs > 0:
        x_test = prepare(data["x_test"])
        y_test = np.asarray(data["y_test"]).astype(np.int32)
        correct, n = 0, 0
        nt = x_test.shape[0]
        for s in range(0, nt, eval_bs):
            xb, yb = x_test[s:s + eval_bs], y_test[s:s + eval_bs]
            correct += int(eval_on_batch(jnp.asarray(xb), jnp.asarray(yb), model=model))
            n += xb.shape[0]
        out["test_accuracy"] = correct / n

    print(json.dumps(out))


def _pcx_version():
    try:
        from importlib.metadata import version
        return version("pcx")
    except Exception:
        return None


def _jaxlib_version():
    try:
        import jaxlib
        return jaxlib.__version__
    except Exception:
        return None


if __name__ == "__main__":
    main()
