#!/usr/bin/env bash
# Device checks of the CUDA backend, for a machine with an NVIDIA GPU:
#   1. configure a fresh build directory with CUDA on and build only the
#      parity tests, the benchmark and `dips` (-j nproc),
#   2. run the gpu-labelled tests (CUDA vs CPU parity of every layer and of
#      whole models),
#   3. generate a small synthetic dataset (`dips gen`) and train DIN and
#      DIEN on it for one epoch with --device=cuda and --device=cpu (same
#      flags), printing samples/s and test AUC of each,
#      Then, where mpirun is available, `dips dist-train --device=cuda` of
#      DIN and DIEN with 1 server + 2 workers (cluster/local.sh),
#   4. run the training-step benchmark (DIN and DIEN steps),
#   5. run the parity tests and short DIN and DIEN trainings again under
#      compute-sanitizer's memcheck, when installed (each capped; last
#      because it is the slowest),
# then print a summary. Target: under 8 minutes on a 16-core H200 machine.
#
# Usage (from anywhere): tests/gpu/run_device_checks.sh
# Environment: DIPS_GPU_BUILD_DIR (default build-gpu), CUDA_ARCH (default
# 90), DIPS_GPU_MEMCHECK=0 to skip step 5, DIPS_GPU_MEMCHECK_SECONDS (default
# 150) to cap it, DIPS_GPU_TRAIN_SAMPLES (default 20000) for the size of
# step 3's training set, DIPS_GPU_BUNDLE=<dir> to skip the apt install and
# step 1 and run the prebuilt binaries of tests/gpu/make_device_bundle.sh
# (for a GPU machine that cannot reach apt).
# Exit status: 0 all checks ran on a GPU and passed; 1 a check failed;
# 2 no usable GPU, so nothing was checked (the build still ran).
set -uo pipefail
cd "$(dirname "$0")/../.."

BUILD_DIR="${DIPS_GPU_BUILD_DIR:-build-gpu}"
ARCH="${CUDA_ARCH:-90}"
LOG_DIR="$BUILD_DIR/device_checks"
START=$(date +%s)
declare -a SUMMARY=()
FAILED=0

elapsed() { echo $(($(date +%s) - START)); }
note() { SUMMARY+=("$(printf '%-28s %s' "$1" "$2")"); }
die() {
  echo "run_device_checks: $*" >&2
  exit 1
}

# ---- Prerequisites and 1. Configure and build -------------------------------
find_cublas_dir() {
  local candidate
  for candidate in /usr/local/cuda/lib64 /usr/local/cuda/lib /usr/local/cuda/targets/x86_64-linux/lib \
      $(python3 -c 'import nvidia, os; print(os.path.join(nvidia.__path__[0], "cu13", "lib"), os.path.join(nvidia.__path__[0], "cublas", "lib"))' 2>/dev/null); do
    [[ -e "$candidate/libcublas.so.13" ]] && { echo "$candidate"; return; }
  done
}
mkdir -p "$LOG_DIR"
if [[ -n "${DIPS_GPU_BUNDLE:-}" ]]; then
  BUNDLE="$(cd "$DIPS_GPU_BUNDLE" && pwd)" || die "no bundle at $DIPS_GPU_BUNDLE"
  DIPS_BIN="$BUNDLE/bin/dips"
  PARITY_BIN="$BUNDLE/bin/cuda_parity_test"
  BENCH_BIN="$BUNDLE/bin/cuda_bench"
  export LD_LIBRARY_PATH="$BUNDLE/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  if ! ldconfig -p 2>/dev/null | grep -q 'libcublas.so.13 '; then
    CUBLAS_DIR="$(find_cublas_dir)"
    [[ -n "$CUBLAS_DIR" ]] || die "libcublas.so.13 not found on this machine"
    export LD_LIBRARY_PATH="$LD_LIBRARY_PATH:$CUBLAS_DIR"
  fi
  if [[ -d "$BUNDLE/mpi" ]]; then
    # The bundle's Open MPI, not one the machine may have: the ranks link
    # the bundle's libmpi, and mpirun must be of the same release.
    export OPAL_PREFIX="$BUNDLE/mpi" PMIX_INSTALL_PREFIX="$BUNDLE/mpi/pmix2"
    export PATH="$BUNDLE/mpi/bin:$PATH"
    # Debian's /etc/openmpi defaults, which do not follow OPAL_PREFIX.
    export OMPI_MCA_mtl='^ofi' OMPI_MCA_btl='^uct,openib,ofi' OMPI_MCA_pml='^ucx' \
      OMPI_MCA_osc='^ucx,pt2pt'
  fi
  echo "== prebuilt bundle: $BUNDLE"
  note "configure + build" "skipped (prebuilt bundle)"
else
  scripts/install_deps.sh || die "installing the apt dependencies failed"
  if ! command -v nvcc >/dev/null 2>&1 && [[ -x /usr/local/cuda/bin/nvcc ]]; then
    export PATH="/usr/local/cuda/bin:$PATH"
  fi
  command -v nvcc >/dev/null 2>&1 || die "nvcc not found (install the CUDA toolkit)"
  echo "== nvcc: $(nvcc --version | tail -n 1)"
  T0=$(elapsed)
  rm -rf "$BUILD_DIR"
  mkdir -p "$LOG_DIR"
  if ! cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DDIPS_CUDA=ON \
      -DCMAKE_CUDA_ARCHITECTURES="$ARCH" -DDIPS_BUILD_TESTS=ON -DDIPS_BUILD_BENCH=ON \
      >"$LOG_DIR/configure.log" 2>&1; then
    cat "$LOG_DIR/configure.log"
    die "configure failed"
  fi
  if ! cmake --build "$BUILD_DIR" -j"$(nproc)" --target cuda_parity_test cuda_bench dips \
      >"$LOG_DIR/build.log" 2>&1; then
    tail -n 60 "$LOG_DIR/build.log"
    die "build failed"
  fi
  note "configure + build" "ok ($(($(elapsed) - T0)) s)"
  DIPS_BIN="$DIPS_BIN"
  PARITY_BIN="$BUILD_DIR/tests/gpu/cuda_parity_test"
  BENCH_BIN="$BENCH_BIN"
fi
if command -v nvidia-smi >/dev/null 2>&1; then
  echo "== GPUs:"
  nvidia-smi -L || true
fi

# ---- 2. Parity tests ---------------------------------------------------------
export GLOG_logtostderr=1
T0=$(elapsed)
"$PARITY_BIN" 2>&1 | tee "$LOG_DIR/parity.log"
PARITY_RC=${PIPESTATUS[0]}
if grep -q "skipped: no GPU" "$LOG_DIR/parity.log"; then
  grep -m1 "skipped: no GPU" "$LOG_DIR/parity.log"
  note "parity tests" "SKIPPED: no usable GPU"
  note "total" "$(elapsed) s"
  printf '\n== Summary\n'
  printf '%s\n' "${SUMMARY[@]}"
  exit 2
fi
if [[ $PARITY_RC -eq 0 ]]; then
  note "parity tests" "passed ($(($(elapsed) - T0)) s)"
else
  note "parity tests" "FAILED (see $LOG_DIR/parity.log)"
  FAILED=1
fi

# ---- 3. dips train --device=cuda vs --device=cpu -----------------------------
T0=$(elapsed)
DATA="$LOG_DIR/data"
if "$DIPS_BIN" gen --out_dir="$DATA" --users=2000 \
    --train_samples="${DIPS_GPU_TRAIN_SAMPLES:-20000}" --test_samples=5000 --compress=false \
    >"$LOG_DIR/gen.log" 2>&1; then
  for model in din dien; do
    for device in cuda cpu; do
      log="$LOG_DIR/train_${model}_${device}.log"
      if timeout 240 "$DIPS_BIN" train --model="$model" --device="$device" \
          --train="$DATA/train.txt" --test="$DATA/test.txt" --epochs=1 --threads=2 \
          --log_every_seconds=30 >"$log" 2>&1; then
        sps=$(grep -o 'train_samples_per_sec=[0-9.]*' "$log" | cut -d= -f2)
        auc=$(grep -o 'test_auc=[0-9.]*' "$log" | cut -d= -f2)
        note "train $model $device" "samples/s ${sps:-?}  test AUC ${auc:-?}"
      else
        tail -n 20 "$log"
        note "train $model $device" "FAILED (see $log)"
        FAILED=1
      fi
    done
  done
  note "training runs time" "$(($(elapsed) - T0)) s"
else
  cat "$LOG_DIR/gen.log"
  note "dips gen" "FAILED (see $LOG_DIR/gen.log)"
  FAILED=1
fi

# ---- 3b. dips dist-train --device=cuda: 1 server + 2 workers under mpirun ----
if command -v mpirun >/dev/null 2>&1 && [[ -f "$DATA/train.txt" ]]; then
  T0=$(elapsed)
  for model in din dien; do
    log="$LOG_DIR/dist_${model}_cuda.log"
    if DIPS_BIN="$DIPS_BIN" cluster/local.sh --servers 1 --workers 2 --timeout 240 -- \
        --model="$model" --device=cuda --train="$DATA/train.txt" --test="$DATA/test.txt" \
        --epochs=1 >"$log" 2>&1; then
      sps=$(grep -o 'job_samples_per_sec=[0-9.]*' "$log" | tail -n 1 | cut -d= -f2)
      auc=$(grep -o 'test_auc=[0-9.]*' "$log" | tail -n 1 | cut -d= -f2)
      note "dist-train $model cuda" "1 server + 2 workers: samples/s ${sps:-?}  test AUC ${auc:-?}"
    else
      tail -n 30 "$log"
      note "dist-train $model cuda" "FAILED (see $log)"
      FAILED=1
    fi
  done
  note "dist-train time" "$(($(elapsed) - T0)) s"
else
  note "dist-train cuda" "skipped (no mpirun)"
fi

# ---- 4. Throughput -----------------------------------------------------------
T0=$(elapsed)
if timeout 120 "$BENCH_BIN" --steps=200 | tee "$LOG_DIR/bench.log"; then
  while read -r line; do note "benchmark" "$line"; done < <(grep "samples/s" "$LOG_DIR/bench.log")
  note "benchmark time" "$(($(elapsed) - T0)) s"
else
  note "benchmark" "FAILED (see $LOG_DIR/bench.log)"
  FAILED=1
fi

# ---- 5. memcheck (out-of-bounds / misaligned accesses, API errors) ----------
# The parity tests, then a short `dips train --device=cuda` of DIN and DIEN,
# which also covers the host-side staging of real, variable-length batches.
memcheck() {  # name, command...
  local name="$1" log="$LOG_DIR/memcheck_$1.log" rc T0
  shift
  T0=$(elapsed)
  timeout "${DIPS_GPU_MEMCHECK_SECONDS:-150}" compute-sanitizer --tool memcheck \
    --error-exitcode 9 "$@" >"$log" 2>&1
  rc=$?
  case $rc in
    0) note "memcheck $name" "clean ($(($(elapsed) - T0)) s)" ;;
    124) note "memcheck $name" "not finished in ${DIPS_GPU_MEMCHECK_SECONDS:-150} s (no verdict)" ;;
    *)
      tail -n 40 "$log"
      note "memcheck $name" "FAILED rc=$rc (see $log)"
      FAILED=1
      ;;
  esac
}
if [[ "${DIPS_GPU_MEMCHECK:-1}" != "0" ]] && command -v compute-sanitizer >/dev/null 2>&1; then
  memcheck parity "$PARITY_BIN" --gtest_brief=1
  if [[ -f "$DATA/train.txt" ]]; then
    head -n 2000 "$DATA/train.txt" >"$LOG_DIR/memcheck_train.txt"
    head -n 500 "$DATA/test.txt" >"$LOG_DIR/memcheck_test.txt"
    for model in din dien; do
      memcheck "train_$model" "$DIPS_BIN" train --model="$model" --device=cuda \
        --train="$LOG_DIR/memcheck_train.txt" --test="$LOG_DIR/memcheck_test.txt" --epochs=1
    done
  fi
elif [[ "${DIPS_GPU_MEMCHECK:-1}" != "0" ]]; then
  note "memcheck" "skipped (compute-sanitizer not installed)"
fi

note "total" "$(elapsed) s"
printf '\n== Summary\n'
printf '%s\n' "${SUMMARY[@]}"
exit $FAILED
