#!/usr/bin/env bash
# Checks that a stuck worker turns into a bounded, clean job failure: runs
# dist_timeout_test through cluster/local.sh and expects mpirun to exit with
# the code the timed-out workers abort with (42), at least one TIMEOUT_OK line
# and no TIMEOUT_FAIL line, all well before the straggler would wake up.
#   timeout_abort_test.sh TEST_BINARY SERVERS WORKERS
set -uo pipefail

binary="${1:?test binary}"
servers="${2:?servers}"
workers="${3:?workers}"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
timeout_ms=2000
straggler_sleep_s=90
limit_s=45   # mpirun's own kill switch, far below the straggler's sleep

start_ms=$(($(date +%s%N) / 1000000))
output="$(DIPS_BIN="$binary" DIPS_SUBCOMMAND="" \
  "$here/../../cluster/local.sh" --servers "$servers" --workers "$workers" --timeout "$limit_s" \
  -- --timeout_ms="$timeout_ms" --straggler_sleep_s="$straggler_sleep_s" 2>&1)"
code=$?
elapsed_ms=$(($(date +%s%N) / 1000000 - start_ms))
echo "$output"
echo "timeout_abort_test: mpirun exit code $code after ${elapsed_ms} ms"

fail() { echo "timeout_abort_test: FAIL: $*" >&2; exit 1; }
[[ $code -eq 42 ]] || fail "expected exit code 42 (abort after DeadlineExceeded), got $code"
grep -q '^TIMEOUT_FAIL' <<<"$output" && fail "a rank reported a failure"
grep -q '^TIMEOUT_OK' <<<"$output" || fail "no worker reported DeadlineExceeded"
((elapsed_ms < 30000)) || fail "the job took ${elapsed_ms} ms; the abort did not tear it down"
echo "timeout_abort_test: PASS"
