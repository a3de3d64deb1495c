#!/usr/bin/env bash
# `dips train --device=...` from the command line: an unknown device is a
# usage error (exit 2), and --device=cuda on a machine without a usable GPU
# (or in a build without the CUDA backend) exits 1 with
#   --device=cuda: this build has no CUDA backend
#   --device=cuda: no usable GPU: <reason>
# and is never a crash (signal, core dump). Where a GPU is usable the
# command trains instead, and the test says so and passes.
# Usage: device_flag_test.sh <path to dips>
set -uo pipefail
DIPS="$1"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
fail() {
  echo "FAIL: $*"
  [[ -f "$TMP/out" ]] && cat "$TMP/out"
  exit 1
}

"$DIPS" gen --out_dir="$TMP/data" --users=40 --train_samples=300 --test_samples=60 \
  --compress=false >"$TMP/out" 2>&1 || fail "dips gen"
TRAIN=(--train="$TMP/data/train.txt" --test="$TMP/data/test.txt" --epochs=1 --batch_size=32
       --log_every_seconds=1000)

"$DIPS" train --device=tpu "${TRAIN[@]}" >"$TMP/out" 2>&1
rc=$?
[[ $rc -eq 2 ]] || fail "--device=tpu: exit $rc, expected 2"
grep -q -- "--device: unknown device 'tpu'" "$TMP/out" || fail "--device=tpu: no clear message"

"$DIPS" train --device=cpu "${TRAIN[@]}" >"$TMP/out" 2>&1 || fail "--device=cpu did not train"
grep -q "test_auc=" "$TMP/out" || fail "--device=cpu: no test AUC"

"$DIPS" train --device=cuda "${TRAIN[@]}" >"$TMP/out" 2>&1
rc=$?
if [[ $rc -eq 0 ]]; then
  grep -q "test_auc=" "$TMP/out" || fail "--device=cuda exited 0 without a test AUC"
  echo "skipped: a usable GPU is present; --device=cuda trained"
  exit 0
fi
[[ $rc -eq 1 ]] || fail "--device=cuda: exit $rc, expected 1 (>= 128 is a crash)"
grep -Eq -- "--device=cuda: (this build has no CUDA backend|no usable GPU: .+)" "$TMP/out" ||
  fail "--device=cuda: not the expected message"
grep -Eo -- "--device=cuda: .*" "$TMP/out" | head -n 1
echo "PASS"
