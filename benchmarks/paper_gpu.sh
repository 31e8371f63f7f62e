#!/usr/bin/env bash
# Time-boxed `paper`-profile runs on one GPU, for the table of book/reproducing_gpu.md.
#
#   OUT=out-dir DATA=gpu-data bash benchmarks/paper_gpu.sh
#
# DATA is a root written by benchmarks/paper_data_subset.py (c10/ and cd/). Each run is the real
# CLI (`python -m eos run NAME --profile paper -o track_steps=K`) under a wall-clock cap, so a
# run that does not finish still leaves its progress bar (steps done, seconds per step) in
# $OUT/NAME.log; a finished one also leaves its provenance (wall time per phase) in
# $OUT/NAME.json. PROFILE=smoke runs the same script in seconds on a CPU.
set -u
PROFILE=${PROFILE:-paper}
: "${OUT:?set OUT}" "${DATA:?set DATA}"
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1 MPLBACKEND=Agg TQDM_MININTERVAL=${TQDM_MININTERVAL:-2}
export EOS_RESULTS_DIR=${EOS_RESULTS_DIR:-/tmp/eos-results}
PY=${PY:-python3}
mkdir -p "$OUT"
{ date -u; nvidia-smi -L 2>/dev/null; $PY -c 'import jax; print("jax", jax.__version__, jax.devices())'; } \
  | tee "$OUT/device.txt"

# run NAME CAP_SECONDS DATA_SUBDIR TRACK_STEPS
run() {
  local name=$1 cap=$2 sub=$3 steps=$4 start
  start=$(date +%s)
  echo "== $name: cap ${cap}s, track_steps=$steps"
  EOS_DATA_DIR=$DATA/$sub timeout -s INT -k 10 "$cap" \
    $PY -m eos run "$name" --profile "$PROFILE" -o track_steps="$steps" >"$OUT/$name.log" 2>&1
  echo "   exit $? after $(( $(date +%s) - start )) s"
  tail -c 600 "$OUT/$name.log" | tr '\r' '\n' | tail -n 4
  EOS_DATA_DIR=$DATA/$sub $PY -m eos show "$name" --profile "$PROFILE" -o track_steps="$steps" \
    --json >"$OUT/$name.json" 2>/dev/null || rm -f "$OUT/$name.json"
}

run mlp-mse-cifar10-lr0.02 "${CAP_MLP:-110}" c10 100
run transformer-mse-sst2-lr0.002 "${CAP_TMSE:-130}" c10 20
run resnet18-mse-cifar10cd-lr0.002 "${CAP_RESNET:-190}" cd 3
run transformer-logistic-sst2-lr0.02 "${CAP_TLOG:-90}" c10 20
