"""Scratch copies of pcdiag, each renamed (pcdiag_<name>) and changed in one place.

Only for measuring proposed core changes side by side in one process (interleave.py); the
copies live outside the repository and are never imported by pcdiag itself.

    python benchmarks/experiments/variants.py /tmp/pcexp base,nocond,unroll,nocond+unroll

A name joined with '+' applies several patches. A patch that no longer matches the core
fails loudly (the core moved on: update the patch).
"""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "pcdiag"

COND_REC = "        return jax.lax.cond(pos < n_valid, real, lambda s: (s, skip), state)"
COND_NOREC = ("            return jax.lax.cond(pos < n_valid, lambda s: real(s)[0], lambda s: s, "
              "state), None")
SCAN_T = "    (z, _, finite), out = jax.lax.scan(step, carry, None, length=prog.inference_steps)"

PATCHES = {
    "base": [],
    # no per-step lax.cond (every chunk step runs; the padded tail of an epoch's last chunk
    # would train on row 0: fine for timing, not for results)
    "nocond": [("loop.py", COND_REC, "        return real(state)"),
               ("loop.py", COND_NOREC, "            return real(state)[0], None")],
    # no per-step weight / gradient / update norms
    "nonorms": [("train.py", """        layer_norms(grads),
        layer_norms(new_params),
        layer_norms(delta),""", """        jnp.zeros(len(grads)),
        jnp.zeros(len(grads)),
        jnp.zeros(len(grads)),""")],
    # no per-t state-gradient norms
    "nomeasure": [("infer.py",
                   "    norms = [jnp.mean(jnp.sqrt(jnp.sum(g * g, axis=-1))) for g in grads]",
                   "    norms = [jnp.zeros(()) for g in grads]")],
    # "sp" init from ONE uniform draw for all layers (other values than today's per-layer
    # draws; same distribution): XLA compiles one threefry kernel instead of 2 per layer
    "flatinit": [("model.py", '''    params = []
    for key_l, n_in''', '''    if parameterization != "mupc":
        total = sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:]))
        draw = jax.random.uniform(key, (total,), minval=-1.0, maxval=1.0)
        out, i = [], 0
        for n_in, n_out in zip(sizes[:-1], sizes[1:]):
            bound = 1.0 / math.sqrt(n_in)
            weight = draw[i:i + n_in * n_out].reshape(n_in, n_out) * bound
            i += n_in * n_out
            out.append((weight, draw[i:i + n_out] * bound))
            i += n_out
        return tuple(out)
    params = []
    for key_l, n_in''')],
    # the T inference steps unrolled
    "unroll": [("infer.py", SCAN_T, SCAN_T[:-1] + ", unroll=True)")],
}


def make(dst: Path, name: str) -> Path:
    tag = name.replace("+", "_")
    out = dst / f"pcdiag_{tag}"
    if out.exists():
        shutil.rmtree(out)
    shutil.copytree(SRC, out, ignore=shutil.ignore_patterns("__pycache__", "plot"))
    for f in out.glob("*.py"):
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
