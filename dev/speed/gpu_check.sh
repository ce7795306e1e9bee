#!/usr/bin/env bash
# GPU smoke run of the speed benchmark: pcdiag speed --quick without PCX (PCX 0.6.3 needs
# jax < 0.5).
#
#   OUT=some/dir bash dev/speed/gpu_check.sh      (run from the repository root)
#
# Needs a Python with jax[cuda] and pcdiag's dependencies (numpy, optax, xarray, tqdm,
# matplotlib); pcdiag itself runs from this checkout (PYTHONPATH=.). Data: $PCDIAG_DATA, else
# bench-out/data if it holds fashion-mnist/ (copy $PCDIAG_DATA/fashion-mnist there to
# carry it to a machine without the shared folder). About 3 minutes on one H100/H200.
set -euo pipefail
cd "$(dirname "$0")/../.."
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
echo "== pcdiag speed --quick --no-pcx"
"$PY" -m pcdiag.speed --quick --no-pcx --models mlp3-128,mlp3-1024,mlp21-128 --out "$OUT/bench_gpu.json"
