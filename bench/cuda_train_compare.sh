#!/usr/bin/env bash
# CUDA vs CPU training on the built-in default dataset (`dips gen --seed=1`:
# 300,000 train and 30,000 test samples): DIN for 2 epochs and DIEN for 1,
# one replica thread, default flags otherwise, so each run starts from the
# same initial parameters and reads the same batches in the same order. The
# backends differ only in float summation order, so their test AUCs should
# agree within noise (docs/cuda.md). Prints one line per run:
#   <model> <device> threads <t> samples/s <n> test_auc <auc> test_logloss <ll>
# The devices can run on different machines: the data are generated from the
# seed, so `bench/cuda_train_compare.sh cpu` here and `... cuda` on a GPU
# machine train on identical files.
#
# Usage: bench/cuda_train_compare.sh [device ...]   (default: cuda cpu)
# Environment: DIPS_BIN (default build/dips), DIPS_COMPARE_DIR (default
# out/cuda_compare), DIPS_COMPARE_MODELS (default "din dien"),
# DIPS_COMPARE_THREADS (default "1": replica threads; a list runs each, and
# with more than one replica the runs no longer start identical).
set -euo pipefail
cd "$(dirname "$0")/.."

DIPS_BIN="${DIPS_BIN:-build/dips}"
WORK="${DIPS_COMPARE_DIR:-out/cuda_compare}"
DEVICES=("$@")
[[ ${#DEVICES[@]} -gt 0 ]] || DEVICES=(cuda cpu)
mkdir -p "$WORK"
if [[ ! -f "$WORK/data/train.txt" ]]; then
  "$DIPS_BIN" gen --out_dir="$WORK/data" --seed=1 >"$WORK/gen.log" 2>&1
fi
for model in ${DIPS_COMPARE_MODELS:-din dien}; do
  epochs=1
  [[ "$model" == din ]] && epochs=2
  for device in "${DEVICES[@]}"; do
    for threads in ${DIPS_COMPARE_THREADS:-1}; do
      log="$WORK/train_${model}_${device}_t${threads}.log"
      "$DIPS_BIN" train --model="$model" --device="$device" --threads="$threads" \
        --epochs="$epochs" --train="$WORK/data/train.txt" --test="$WORK/data/test.txt" \
        --log_every_seconds=60 >"$log" 2>&1 ||
        { tail -n 20 "$log"; echo "$model $device FAILED (see $log)"; exit 1; }
      sps=$(grep -o 'train_samples_per_sec=[0-9.]*' "$log" | cut -d= -f2)
      auc=$(grep -o 'test_auc=[0-9.]*' "$log" | tail -n 1 | cut -d= -f2)
      logloss=$(grep -o 'test_logloss=[0-9.]*' "$log" | tail -n 1 | cut -d= -f2)
      echo "$model $device threads $threads samples/s $sps test_auc $auc test_logloss $logloss"
    done
  done
done
