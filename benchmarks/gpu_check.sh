#!/usr/bin/env bash
# GPU smoke benchmark: pcdiag bench --quick without PCX (PCX 0.6.3 needs jax < 0.5).
#
#   OUT=/some/dir bash benchmarks/gpu_check.sh      (run from the repository root)
#
# Needs a Python with jax[cuda] and pcdiag's dependencies (numpy, optax, xarray, tqdm,
# matplotlib); pcdiag itself runs from this checkout (PYTHONPATH=.). Data: $PCDIAG_DATA, else
# bench-out/data if it holds fashion-mnist/ (copy $PCDIAG_DATA/fashion-mnist there to
# carry it to a machine without the shared folder). About 3 minutes on one H100/H200.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-bench-out}"
mkdir -p "$OUT"
PY="${PYTHON:-python3}"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
if [ -z "${PCDIAG_DATA:-}" ] && [ -d bench-out/data/fashion-mnist ]; then
    export PCDIAG_DATA="$PWD/bench-out/data"
fi
echo "== devices"
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.sm,clocks.max.sm --format=csv || true
"$PY" -c 'import jax; print("jax", jax.__version__, jax.devices())'
echo "== pcdiag bench --quick --no-pcx"
if "$PY" -m pcdiag.cli bench --help >/dev/null 2>&1; then
    "$PY" -m pcdiag.cli bench --quick --no-pcx --models mlp3-128,mlp3-1024,mlp21-128 --out "$OUT/bench_gpu.json"
else  # the CLI does not offer bench yet: the module runs on its own
    "$PY" -m pcdiag.bench --quick --no-pcx --models mlp3-128,mlp3-1024,mlp21-128 --out "$OUT/bench_gpu.json"
fi
