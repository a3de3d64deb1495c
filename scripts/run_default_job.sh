#!/usr/bin/env bash
# The default DIPS job on a fresh Debian 12 machine: installs dependencies,
# builds, generates the built-in synthetic behaviour dataset and trains DIN
# on it with 2 parameter-server ranks and 2 worker ranks under mpirun
# (cluster/local.sh), ending with the test AUC / GAUC / logloss.
# Extra arguments are passed to `dips dist-train` (e.g. --model=dien).
# DIPS_SERVERS / DIPS_WORKERS change the number of ranks.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install_deps.sh
scripts/build.sh
BUILD_DIR="${DIPS_BUILD_DIR:-build}"
DATA_DIR="${DIPS_DATA_DIR:-data/synthetic}"
if [[ ! -f "$DATA_DIR/train.txt" || ! -f "$DATA_DIR/test.txt" ]]; then
  "$BUILD_DIR/dips" gen --out_dir="$DATA_DIR" --seed=1
fi
mkdir -p out
DIPS_BIN="$BUILD_DIR/dips" cluster/local.sh --servers "${DIPS_SERVERS:-2}" \
  --workers "${DIPS_WORKERS:-2}" -- --model=din --train="$DATA_DIR/train.txt" \
  --test="$DATA_DIR/test.txt" --epochs=2 --metrics_out=out/metrics.jsonl "$@"
echo "final evaluation (out/metrics.jsonl): $(tail -n 1 out/metrics.jsonl)"
