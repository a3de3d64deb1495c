#!/usr/bin/env bash
# Checkpoint, crash and resume of `dips dist-train` through cluster/local.sh
# (docs/checkpoints.md).
#
#   crash_resume_test.sh MODE DIPS_BIN
#
# Modes:
#   kill_server  A 2-server DIN job writing a checkpoint every 10 steps
#                loses server rank 1 to SIGKILL after its second checkpoint.
#                The job fails; relaunched with --resume it continues from
#                the newest complete checkpoint written before the kill (its
#                name is checked). Each server dumps its table right after
#                the restore (--dump_rows_after_restore), and `dips
#                checkpoint-diff` must find every row of that checkpoint in
#                the dumps with identical values (count, steps, weights,
#                optimiser state, bitwise). The job finishes with a test AUC
#                within 0.005 of an uninterrupted job's. One worker with
#                synchronous pushes makes the job deterministic
#                (dist_train_test.sh exact_single), so the bound is not at
#                the mercy of the order in which two workers' pushes reach a
#                server.
#   kill_worker  The same with the worker (rank 2) killed.
#   reshard      A checkpoint written by 2 servers is loaded by 3: the
#                resumed job (nothing left to train) scores the restored
#                model with the same test AUC and log loss (to 1e-6) as the
#                job that wrote it, and the 3 shards restore every row the
#                2 wrote, each exactly once.
#   kill_server_tiered, reshard_tiered
#                The same with every server's table tiered (a ~200 KB memory
#                budget, the rest in RocksDB), so shards are checkpointed as
#                RocksDB checkpoints: after the kill each server reopens its
#                own shard's checkpoint as its disk tier (the log line is
#                checked) and checkpoint-diff compares every row; the 3
#                servers of the reshard import the 2 shards' rows by key.
# Every process started here is stopped by PID on exit; every wait is bounded
# (tests/cluster/job_lib.sh).
set -uo pipefail

mode="${1:?mode: kill_server, kill_worker, reshard, kill_server_tiered or reshard_tiered}"
bin="${2:?path to the dips binary}"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
local_sh="$here/../../cluster/local.sh"
export GLOG_logtostderr=1 OMP_NUM_THREADS=1

test_name=crash_resume_test
JOB_TIMEOUT_S=150
source "$here/job_lib.sh"

"$bin" gen --out_dir="$dir/data" --users=1000 --items=2000 --shops=300 --categories=20 \
  --train_samples=16000 --test_samples=4000 >"$dir/gen.log" 2>&1 ||
  { cat "$dir/gen.log"; fail "dips gen failed"; }
flags=(--model=din --train="$dir/data/train.txt" --test="$dir/data/test.txt" --seed=2
       --rpc_timeout_s=20 --sync_timeout_s=30)

tiered=false
scenario="${mode%_tiered}"
if [[ $mode == *_tiered ]]; then
  tiered=true
  flags+=(--table_memory_gb=0.0002 --table_dir="$dir/table")
fi

metric() {  # metric NAME FILE: the value in the last JSON line of a metrics file
  tail -n 1 "$2" | grep -o "\"$1\":[0-9.]*" | cut -d: -f2
}

complete_checkpoints() { ls -d "$dir"/ckpt/ckpt-*/ 2>/dev/null | while read -r d; do
  [[ -f "$d/MANIFEST" ]] && basename "$d"; done; }

case "$scenario" in
  kill_server|kill_worker)
    [[ $scenario == kill_server ]] && victim_rank=1 || victim_rank=2
    run_job 2 1 "${flags[@]}" --epochs=3 --metrics_out="$dir/ref.jsonl"
    ((code == 0)) || { echo "$out"; fail "the uninterrupted job exited $code"; }
    auc_ref="$(metric test_auc "$dir/ref.jsonl")"

    ckpt_flags=(--checkpoint_dir="$dir/ckpt" --checkpoint_every_steps=10 --full_checkpoint_every=2)
    start_job 2 1 "${flags[@]}" --epochs=3 "${ckpt_flags[@]}"
    wait_for_output 'ckpt-000000000020( \(|\) )' 90
    victim="$(rank_pid "$victim_rank")"
    [[ -n "$victim" ]] || fail "no process with rank $victim_rank"
    log "killing rank $victim_rank (pid $victim) with SIGKILL"
    kill -KILL "$victim"
    wait_job "$(now_ms)" 90
    crash_code=$code
    ((crash_code != 0)) || { cat "$dir/job.out"; fail "the job exited 0 although rank $victim_rank died"; }
    newest="$(complete_checkpoints | tail -n 1)"
    [[ -n "$newest" ]] || fail "no complete checkpoint survived the crash"
    log "crashed with exit code $crash_code; newest complete checkpoint: $newest"
    # The resumed job goes on checkpointing and prunes $newest; compare the
    # dumps with a copy of the checkpoints as the crash left them.
    cp -a "$dir/ckpt" "$dir/ckpt-at-crash"

    run_job 2 1 "${flags[@]}" --epochs=3 "${ckpt_flags[@]}" --resume --metrics_out="$dir/resumed.jsonl" \
      --dump_rows_after_restore="$dir/restored"
    echo "$out" | grep -E "resum|restored|checkpoint|test_auc" >&2
    ((code == 0)) || { echo "$out"; fail "the resumed job exited $code"; }
    grep -q "resume: from $newest" <<<"$out" || fail "the resumed job did not start from $newest"
    if $tiered; then
      ls -d "$dir/ckpt-at-crash/$newest"/shard-*.rocksdb >/dev/null 2>&1 ||
        fail "$newest has no RocksDB shard checkpoints"
      opened="$(grep -c "by opening the RocksDB checkpoint" <<<"$out")"
      ((opened == 2)) || fail "$opened of 2 servers reopened their RocksDB checkpoint"
    fi
    diff_out="$("$bin" checkpoint-diff --checkpoint_dir="$dir/ckpt-at-crash" --checkpoint="$newest" \
      --rows_dir="$dir/restored" 2>&1)"
    diff_code=$?
    log "$(grep -m 1 '^checkpoint-diff: [0-9]' <<<"$diff_out")"
    ((diff_code == 0)) || { echo "$diff_out"; fail "the restored rows differ from $newest (exit $diff_code)"; }
    auc_resumed="$(metric test_auc "$dir/resumed.jsonl")"
    log "test AUC uninterrupted $auc_ref, killed and resumed $auc_resumed"
    awk -v a="$auc_ref" -v b="$auc_resumed" \
      'BEGIN { d = a - b; if (d < 0) d = -d; exit !(a > 0.6 && d <= 0.005) }' ||
      fail "resumed AUC $auc_resumed is not within 0.005 of $auc_ref"
    ;;
  reshard)
    run_job 2 2 "${flags[@]}" --epochs=2 --checkpoint_dir="$dir/ckpt" --metrics_out="$dir/two.jsonl"
    ((code == 0)) || { echo "$out"; fail "the 2-server job exited $code"; }
    written="$(grep -o "shard [01] wrote [0-9]* rows" <<<"$out" | awk '{ s += $4 } END { print s }')"
    run_job 3 2 "${flags[@]}" --epochs=2 --checkpoint_dir="$dir/ckpt" --resume \
      --metrics_out="$dir/three.jsonl"
    echo "$out" | grep -E "resum|restored|test_auc" >&2
    ((code == 0)) || { echo "$out"; fail "the 3-server job exited $code"; }
    restored="$(grep -o "restored [0-9]* rows of shard" <<<"$out" | awk '{ s += $2 } END { print s }')"
    log "rows written by 2 shards: $written, restored by 3 shards: $restored"
    [[ -n "$written" && "$written" -gt 0 && "$written" == "$restored" ]] ||
      fail "the 3 shards restored $restored rows of the $written written"
    for m in test_auc test_logloss; do
      a="$(metric "$m" "$dir/two.jsonl")"; b="$(metric "$m" "$dir/three.jsonl")"
      log "$m: 2 servers $a, restored onto 3 servers $b"
      [[ -n "$a" && "$a" == "$b" ]] || fail "$m differs: $a vs $b"
    done
    ;;
  *) fail "unknown mode $mode" ;;
esac
log "PASS"
