#!/usr/bin/env bash
# DIPS against a PyTorch peer in the same run (issue 6): trains DIN and DIEN
# on the same synthetic data with the same sizes, optimisers, batch and
# epochs, first with `dips train --threads=T`, then with
# bench/peer/torch_din_dien.py (Debian's python3-torch, T intra-op threads),
# one run after the other, and prints samples/s and test AUC side by side
# with the ratio DIPS / PyTorch and whether the targets are met
# (DIPS >= 5x PyTorch's samples/s at equal test AUC, +-0.005).
# bench/peer/README.md says what is compared and how the models correspond.
#
#   bench/peer_bench.sh [--train_samples N] [--test_samples N] [--epochs E]
#                       [--models "din dien"] [--threads T] [--ps]
#
# Options (or the environment variable in brackets):
#   --build_dir DIR      where the dips binary is [PEER_BUILD_DIR, default build]
#   --train_samples N    generated training samples [PEER_TRAIN_SAMPLES, 50000]
#   --test_samples N     generated test samples [PEER_TEST_SAMPLES, 10000]
#   --data_dir DIR       data directory; generated with `dips gen` unless it
#                        already holds train.txt and test.txt
#                        [PEER_DATA_DIR, data/peer-TRAIN-TEST]
#   --epochs E           [PEER_EPOCHS, 1]
#   --models LIST        [PEER_MODELS, "din dien"]
#   --threads T          DIPS replica threads / torch.set_num_threads [PEER_THREADS, 2]
#   --out_dir DIR        metrics and the summary [PEER_OUT_DIR, out/peer]
#   --ps                 also run DIPS through the parameter server
#                        (cluster/local.sh --servers 1 --workers 1) [PEER_PS=1]
#   --torch_args "..."   extra torch_din_dien.py flags [PEER_TORCH_ARGS]
#   --torch_time_limit S stop a PyTorch training run after S seconds and mark it
#                        truncated (its AUC is then not comparable)
#                        [PEER_TORCH_TIME_LIMIT, 480; 0: none]
#   --control_threads L  after the main PyTorch run, throughput-only PyTorch runs
#                        (--control_steps steps, no evaluation) with these thread
#                        counts: on a loaded machine PyTorch's 2-thread OpenMP
#                        can be far slower than 1 thread, so the table also gives
#                        the ratio against the fastest PyTorch run
#                        [PEER_CONTROL_THREADS, "1"; "" for none]
#   --control_steps N    [PEER_CONTROL_STEPS, 100]
#   --dips_args "..."    extra dips flags [PEER_DIPS_ARGS]
# PYTHON (default /usr/bin/python3, the interpreter Debian's torch imports
# under). If torch is missing, it is installed with apt-get when running as
# root; otherwise the script prints the command and stops.
#
# PyTorch's DIEN is the slow part. With the defaults the whole script took 16
# minutes on the shared 2-core machine at load average 6-10 (PyTorch's 2-thread
# DIEN was stopped by the time limit); PyTorch's 2-thread runs are much faster
# on an idle machine (bench/peer/RESULTS_DRAFT.md).
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD_DIR="${PEER_BUILD_DIR:-build}"
TRAIN_SAMPLES="${PEER_TRAIN_SAMPLES:-50000}"
TEST_SAMPLES="${PEER_TEST_SAMPLES:-10000}"
DATA_DIR="${PEER_DATA_DIR:-}"
EPOCHS="${PEER_EPOCHS:-1}"
MODELS="${PEER_MODELS:-din dien}"
THREADS="${PEER_THREADS:-2}"
OUT_DIR="${PEER_OUT_DIR:-out/peer}"
RUN_PS="${PEER_PS:-0}"
TORCH_ARGS="${PEER_TORCH_ARGS:-}"
DIPS_ARGS="${PEER_DIPS_ARGS:-}"
TORCH_TIME_LIMIT="${PEER_TORCH_TIME_LIMIT:-480}"
CONTROL_THREADS="${PEER_CONTROL_THREADS-1}"
CONTROL_STEPS="${PEER_CONTROL_STEPS:-100}"
PYTHON="${PYTHON:-/usr/bin/python3}"

usage() {
  sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2
  exit 2
}

while (($#)); do
  case "$1" in
    --build_dir) BUILD_DIR="${2:?}"; shift 2 ;;
    --train_samples) TRAIN_SAMPLES="${2:?}"; shift 2 ;;
    --test_samples) TEST_SAMPLES="${2:?}"; shift 2 ;;
    --data_dir) DATA_DIR="${2:?}"; shift 2 ;;
    --epochs) EPOCHS="${2:?}"; shift 2 ;;
    --models) MODELS="${2:?}"; shift 2 ;;
    --threads) THREADS="${2:?}"; shift 2 ;;
    --out_dir) OUT_DIR="${2:?}"; shift 2 ;;
    --ps) RUN_PS=1; shift ;;
    --torch_args) TORCH_ARGS="${2?}"; shift 2 ;;
    --dips_args) DIPS_ARGS="${2?}"; shift 2 ;;
    --torch_time_limit) TORCH_TIME_LIMIT="${2:?}"; shift 2 ;;
    --control_threads) CONTROL_THREADS="${2?}"; shift 2 ;;
    --control_steps) CONTROL_STEPS="${2:?}"; shift 2 ;;
    -h|--help) usage ;;
    *) echo "peer_bench.sh: unknown argument '$1'" >&2; usage ;;
  esac
done
DATA_DIR="${DATA_DIR:-data/peer-${TRAIN_SAMPLES}-${TEST_SAMPLES}}"
DIPS="$BUILD_DIR/dips"
[[ -x "$DIPS" ]] || { echo "peer_bench.sh: $DIPS not found (build first: scripts/build.sh)" >&2; exit 1; }

# --- PyTorch (Debian's python3-torch, CPU) ---------------------------------
if ! "$PYTHON" -c 'import torch, numpy' 2>/dev/null; then
  cmd="apt-get install -y --no-install-recommends python3-torch python3-numpy"
  if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
    echo "peer_bench.sh: installing PyTorch from Debian (~2.5 min): $cmd" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $cmd >/dev/null
  else
    echo "peer_bench.sh: PyTorch is missing; as root run: $cmd" >&2
    exit 1
  fi
fi

# --- data -------------------------------------------------------------------
if [[ ! -f "$DATA_DIR/train.txt" || ! -f "$DATA_DIR/test.txt" ]]; then
  echo "peer_bench.sh: generating $DATA_DIR ($TRAIN_SAMPLES train / $TEST_SAMPLES test)" >&2
  "$DIPS" gen --out_dir="$DATA_DIR" --train_samples="$TRAIN_SAMPLES" \
    --test_samples="$TEST_SAMPLES" --seed=1
fi
mkdir -p "$OUT_DIR"
RUNS="$OUT_DIR/runs.tsv"
: >"$RUNS"

loadavg() { cut -d' ' -f1 /proc/loadavg; }

# Appends "model system file wall_s load_before load_after" to runs.tsv.
run_one() {
  local model="$1" system="$2" file="$3"; shift 3
  local l0 t0 t1
  l0=$(loadavg)
  t0=$(date +%s.%N)
  echo "peer_bench.sh: [$system $model] $*" >&2
  "$@" >"$OUT_DIR/${system}_${model}.log" 2>&1 || {
    echo "peer_bench.sh: [$system $model] failed; log: $OUT_DIR/${system}_${model}.log" >&2
    tail -n 20 "$OUT_DIR/${system}_${model}.log" >&2
    exit 1
  }
  t1=$(date +%s.%N)
  printf '%s\t%s\t%s\t%.1f\t%s\t%s\n' "$model" "$system" "$file" \
    "$(awk "BEGIN { print $t1 - $t0 }")" "$l0" "$(loadavg)" >>"$RUNS"
}

export GLOG_logtostderr=1 OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
for model in $MODELS; do
  f="$OUT_DIR/dips_${model}.jsonl"
  rm -f "$f"
  # shellcheck disable=SC2086
  run_one "$model" dips "$f" "$DIPS" train --model="$model" --train="$DATA_DIR/train.txt" \
    --test="$DATA_DIR/test.txt" --epochs="$EPOCHS" --threads="$THREADS" --seed=1 \
    --metrics_out="$f" $DIPS_ARGS
  if [[ "$RUN_PS" == 1 ]]; then
    f="$OUT_DIR/dips-ps_${model}.jsonl"
    rm -f "$f"
    # shellcheck disable=SC2086
    run_one "$model" dips-ps "$f" env DIPS_BIN="$DIPS" cluster/local.sh --servers 1 --workers 1 \
      -- --model="$model" --train="$DATA_DIR/train.txt" --test="$DATA_DIR/test.txt" \
      --epochs="$EPOCHS" --threads="$THREADS" --seed=1 --metrics_out="$f" $DIPS_ARGS
  fi
  f="$OUT_DIR/pytorch_${model}.json"
  rm -f "$f"
  # shellcheck disable=SC2086
  run_one "$model" pytorch "$f" "$PYTHON" bench/peer/torch_din_dien.py --model="$model" \
    --train="$DATA_DIR/train.txt" --test="$DATA_DIR/test.txt" --epochs="$EPOCHS" \
    --threads="$THREADS" --seed=1 --time_limit_s="$TORCH_TIME_LIMIT" --json_out="$f" $TORCH_ARGS
  for ct in $CONTROL_THREADS; do
    f="$OUT_DIR/pytorch-${ct}t_${model}.json"
    rm -f "$f"
    # shellcheck disable=SC2086
    run_one "$model" "pytorch-${ct}t" "$f" "$PYTHON" bench/peer/torch_din_dien.py \
      --model="$model" --train="$DATA_DIR/train.txt" --test="$DATA_DIR/test.txt" \
      --threads="$ct" --seed=1 --max_steps="$CONTROL_STEPS" --no_eval --json_out="$f" $TORCH_ARGS
  done
done

# --- table ------------------------------------------------------------------
"$PYTHON" bench/peer/table.py "$RUNS" "$OUT_DIR/summary.json" "$DATA_DIR" "$EPOCHS" "$THREADS"
