"""Scratch copies of pcdiag, each renamed (pcdiag_<name>) and changed in one place.

Only for measuring proposed core changes side by side in one process (interleave.py); the
copies live in a scratch folder (bench-out/, git-ignored) and are never imported by pcdiag
itself.

    python dev/speed/experiments/variants.py bench-out/variants base,nocond,unroll,nocond+unroll

A name joined with '+' applies several patches. A patch that no longer matches the core
fails loudly (the core moved on: update the patch).
"""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[3] / "pcdiag"

COND_REC = "        return jax.lax.cond(pos < n_valid, real, lambda s: (s, skip), state)"
COND_NOREC = ("            return jax.lax.cond(pos < n_valid, lambda s: real(s)[0], lambda s: s, "
              "state), None")
WEIGHT_STEP = ("    new_params, opt_state, change = _weight_update(prog, hyper, params, opt_state, "
               "grads)")
SCAN_T = "    (z, _, finite), out = jax.lax.scan(step, carry, None, length=prog.inference_steps)"

PATCHES = {
    "base": [],
    "head": [],  # the working tree as it is (make "base" before a change, "head" after it)
    # no per-step lax.cond (every chunk step runs; the padded tail of an epoch's last chunk
    # would train on row 0: fine for timing, not for results)
    "nocond": [("engine/loop.py", COND_REC, "        return real(state)"),
               ("engine/loop.py", COND_NOREC, "            return real(state)[0], None")],
    # no per-step weight / gradient / update norms
    "nonorms": [("algorithms/record.py",
                 "    weight_grad_norm, weight_norm, update_norm = layer_norms(grads, new_params, "
                 "change)",
                 "    weight_grad_norm = weight_norm = update_norm = jnp.zeros(len(grads))")],
    # no per-t state-gradient norms
    "nomeasure": [("algorithms/infer.py", "    norms = jnp.mean(jnp.sqrt(squares), axis=-1)",
                   "    norms = jnp.zeros(len(grads))")],
    # per-array reductions instead of one variadic reduction per group of equal shapes
    "plainsums": [("nets/base.py",
                   """        squares = tuple(arrays[i] * arrays[i] for i in members)
        zeros = tuple(jnp.zeros((), s.dtype) for s in squares)
        sums = jax.lax.reduce(squares, zeros, lambda x, y: tuple(map(jnp.add, x, y)), axes)""",
                   "        sums = [jnp.sum(arrays[i] * arrays[i], axis=axes) for i in members]")],
    # update_norm from new - old (keeps a copy of the old weights each logged step)
    "newold": [("algorithms/record.py", WEIGHT_STEP,
                WEIGHT_STEP + "\n    change = jax.tree_util.tree_map("
                "jnp.subtract, new_params, params)")],
    # one chunk call per epoch also with a progress bar
    "onecall": [("engine/loop.py", "CHUNKS_PER_EPOCH = 20", "CHUNKS_PER_EPOCH = 1")],
    # the T inference steps unrolled
    "unroll": [("algorithms/infer.py", SCAN_T, SCAN_T[:-1] + ", unroll=True)")],
}


def make(dst: Path, name: str) -> Path:
    tag = name.replace("+", "_")
    out = dst / f"pcdiag_{tag}"
    if out.exists():
        shutil.rmtree(out)
    shutil.copytree(SRC, out, ignore=shutil.ignore_patterns("__pycache__", "plot"))
    for f in out.rglob("*.py"):
        text = f.read_text()
        text = re.sub(r"\bfrom pcdiag(\.| import)", rf"from pcdiag_{tag}\1", text)
        text = re.sub(r"\bimport pcdiag\b", f"import pcdiag_{tag}", text)
        f.write_text(text)
    for part in name.split("+"):
        for fname, old, new in PATCHES[part]:
            f = out / fname
            text = f.read_text()
            if old not in text:
                raise SystemExit(f"variant {part}: {fname} no longer has {old.strip()[:70]!r}")
            f.write_text(text.replace(old, new))
    return out


if __name__ == "__main__":
    dst = Path(sys.argv[1])
    dst.mkdir(parents=True, exist_ok=True)
    for name in sys.argv[2].split(","):
        make(dst, name)
    print("made", sys.argv[2], "in", dst)
