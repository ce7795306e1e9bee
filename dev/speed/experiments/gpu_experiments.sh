#!/usr/bin/env bash
# The GPU measurements behind dev/speed/README.md's "where the time goes" (one device call,
# ~2 min on an H200): (1) the small and the deep speed-benchmark model, bare reference vs pcdiag with
# one part of the recording changed or removed; (2) the 8-gamma sweep (1 full epoch), cold
# (compile included) and warm, with each compile's time.
#   OUT=dir bash dev/speed/experiments/gpu_experiments.sh   (from the repository root)
set -uo pipefail
cd "$(dirname "$0")/../../.."
OUT="${OUT:-bench-out}"; mkdir -p "$OUT"
export PYTHONPATH="$PWD" PYTHONUNBUFFERED=1
[ -z "${PCDIAG_DATA:-}" ] && [ -d bench-out/data/fashion-mnist ] && export PCDIAG_DATA="$PWD/bench-out/data"
PY="${PYTHON:-python3}"
E=dev/speed/experiments
"$PY" $E/variants.py bench-out/variants head,head+plainsums,head+nonorms,head+nomeasure >/dev/null || exit 1
echo "== (1) recording parts, mlp3-128 and mlp21-128"
timeout 150 "$PY" $E/interleave.py --model mlp3-128 --rounds 4 \
    --variants ideal,head,head+plainsums@full,head+nonorms@full,head+nomeasure@full \
    --json "$OUT/exp_mlp3.json" 2>&1 | grep -vi warn
timeout 100 "$PY" $E/interleave.py --model mlp21-128 --rounds 3 \
    --variants head,head+plainsums@full --json "$OUT/exp_mlp21.json" 2>&1 | grep -vi warn
echo "== (2) sweep, 1 full epoch"
timeout 100 "$PY" $E/sweep_time.py --variant head 2>&1 | grep -vi warn
