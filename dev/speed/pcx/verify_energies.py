"""Independent plain-JAX reference for pcx_mlp.py's `check_energies` output (runs in the pcx venv).

Same spec as pcx_mlp.py (needs init_weights).  Re-implements the PC MLP without pcx:
    mu_l = hard_tanh(W_l x_{l-1} + b_l) (hidden), mu_L = W_L x_{L-1} + b_L (output, x_L clamped to one-hot y)
    E = sum_{l<L} 0.5 * ||x_l - mu_l||^2 - y . log_softmax(mu_L)     (per sample)
    forward init x_l = mu_l, then T steps x_l <- x_l - gamma * dE_i/dx_l (per sample, hidden l only)
and prints per-layer batch-mean energies at t = 0..T as JSON, for comparison with pcx_mlp.py.
"""
import json
import sys

import jax
import jax.numpy as jnp
import numpy as np


def main():
    spec = json.loads(sys.argv[1]) if len(sys.argv) > 1 else json.load(sys.stdin)
    sizes, B, T, gamma = spec["sizes"], int(spec["batch_size"]), int(spec["T"]), float(spec["gamma"])
    d = np.load(spec["data"])
    w = np.load(spec["init_weights"])
    L = len(sizes) - 1
    Ws = [jnp.asarray(w[f"W{i}"]) for i in range(1, L + 1)]
    bs = [jnp.asarray(w[f"b{i}"]) for i in range(1, L + 1)]
    x0 = jnp.asarray(d["x_train"][:B])
    y = jax.nn.one_hot(jnp.asarray(d["y_train"][:B]), sizes[-1])

    def layer_E(xs):  # xs: hidden states [x_1..x_{L-1}], each (B, d_l); returns per-sample (B, L)
        prev, Es = x0, []
        for l in range(L - 1):
            mu = jax.nn.hard_tanh(prev @ Ws[l].T + bs[l])
            Es.append(0.5 * jnp.sum((xs[l] - mu) ** 2, axis=1))
            prev = xs[l]
        mu = prev @ Ws[-1].T + bs[-1]
        Es.append(-jnp.sum(y * jax.nn.log_softmax(mu), axis=1))
        return jnp.stack(Es, axis=1)

    xs, prev = [], x0
    for l in range(L - 1):
        prev = jax.nn.hard_tanh(prev @ Ws[l].T + bs[l])
        xs.append(prev)
    # sum over samples -> gradient wrt x_i is the gradient of sample i's own energy (per-sample convention)
    grad = jax.jit(jax.grad(lambda xs: layer_E(xs).sum()))
    traj = [layer_E(xs).mean(0)]
    for _ in range(T):
        g = grad(xs)
        xs = [x - gamma * gx for x, gx in zip(xs, g)]
        traj.append(layer_E(xs).mean(0))
    traj = np.asarray(jnp.stack(traj))
    print(json.dumps({"energies_t0": traj[0].tolist(), "energies_T": traj[-1].tolist(),
                      "energies_traj": traj.tolist()}))


if __name__ == "__main__":
    main()
