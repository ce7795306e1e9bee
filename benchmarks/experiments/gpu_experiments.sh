#!/usr/bin/env bash
# The GPU measurements behind benchmarks/README.md's proposals (one device call, ~4 min):
# (1) small model: bare reference vs pcdiag variants, default XLA flags and with XLA's
#     command buffers (CUDA graphs) also capturing while loops and conditionals;
# (2) the 8-gamma sweep (1 full epoch) for the current core and the flat-init variant,
#     with each compile's time.
#   OUT=dir bash benchmarks/experiments/gpu_experiments.sh   (from the repository root)
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT="${OUT:-bench-out}"; mkdir -p "$OUT"
export PYTHONPATH="$PWD" PYTHONUNBUFFERED=1
[ -z "${PCDIAG_DATA:-}" ] && [ -d bench-out/data/fashion-mnist ] && export PCDIAG_DATA="$PWD/bench-out/data"
PY="${PYTHON:-python3}"
E=benchmarks/experiments
"$PY" $E/variants.py /tmp/pcexp base,nocond,flatinit >/dev/null || exit 1
V="ideal,base,nocond"
echo "== (1a) default XLA flags"
timeout 100 "$PY" $E/interleave.py --model mlp3-128 --variants $V --rounds 3 \
    --json "$OUT/exp_flags_default.json" 2>&1 | grep -vi warn
echo "== (1b) command buffers incl. WHILE, CONDITIONAL"
XLA_FLAGS="--xla_gpu_enable_command_buffer=FUSION,CUBLAS,CUBLASLT,CUSTOM_CALL,CUDNN,WHILE,CONDITIONAL --xla_gpu_graph_min_graph_size=1" \
timeout 100 "$PY" $E/interleave.py --model mlp3-128 --variants $V --rounds 3 \
    --json "$OUT/exp_flags_cmdbuf.json" 2>&1 | grep -vi warn
echo "== (2) sweep, 1 full epoch"
for v in base flatinit; do
    timeout 90 "$PY" $E/sweep_time.py --variant $v 2>&1 | grep -vi warn
done
