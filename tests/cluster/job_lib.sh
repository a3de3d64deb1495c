# Shared by the cluster test scripts: bounded launching, watching and
# cleanup of one cluster/local.sh job at a time. Source it after setting
# test_name, mode, bin and local_sh; JOB_TIMEOUT_S (default 100) bounds each
# job through mpirun --timeout.
# Every process started here is stopped by PID on exit; every wait is bounded.

log() { echo "${test_name}($mode): $*" >&2; }
fail() { log "FAIL: $*"; exit 1; }
now_ms() { echo $(($(date +%s%N) / 1000000)); }

dir="$(mktemp -d -t "dips-${test_name}.XXXXXX")"
job_pid=""       # mpirun (local.sh execs it)
rank_pids=()     # the job's rank processes, once known

cleanup() {
  local code=$?
  trap - EXIT INT TERM
  # A frozen rank must be thawed to die of anything but SIGKILL; SIGKILL
  # ends it either way. Only PIDs this script found as mpirun's children.
  for pid in "${rank_pids[@]}"; do
    if kill -0 "$pid" 2>/dev/null; then kill -CONT "$pid" 2>/dev/null; kill -KILL "$pid" 2>/dev/null; fi
  done
  if [[ -n "$job_pid" ]] && kill -0 "$job_pid" 2>/dev/null; then
    kill -TERM "$job_pid" 2>/dev/null
    for _ in $(seq 50); do kill -0 "$job_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$job_pid" 2>/dev/null
  fi
  [[ -n "$job_pid" ]] && wait "$job_pid" 2>/dev/null
  rm -rf "$dir"
  exit "$code"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Runs a job to completion (bounded by mpirun's --timeout); output in $out.
run_job() {
  local servers="$1" workers="$2"; shift 2
  out="$(DIPS_BIN="$bin" "$local_sh" --servers "$servers" --workers "$workers" --timeout "${JOB_TIMEOUT_S:-100}" \
    -- "$@" 2>&1)"
  code=$?
}

# Starts a job in the background with its output in $dir/job.out.
start_job() {
  local servers="$1" workers="$2"; shift 2
  DIPS_BIN="$bin" "$local_sh" --servers "$servers" --workers "$workers" --timeout "${JOB_TIMEOUT_S:-100}" \
    -- "$@" >"$dir/job.out" 2>&1 &
  job_pid=$!
}

# Bounded wait until the job's output matches a regular expression.
wait_for_output() {
  local pattern="$1" limit_ms=$(($(now_ms) + $2 * 1000))
  until grep -qE "$pattern" "$dir/job.out" 2>/dev/null; do
    kill -0 "$job_pid" 2>/dev/null || { cat "$dir/job.out"; fail "the job ended before '$pattern'"; }
    (($(now_ms) < limit_ms)) || { cat "$dir/job.out"; fail "no '$pattern' within $2 s"; }
    sleep 0.1
  done
}

# PID of the job's process with MPI world rank $1: mpirun's children carry
# OMPI_COMM_WORLD_RANK in their environment.
rank_pid() {
  local pid
  for pid in $(ps -o pid= --ppid "$job_pid"); do
    rank_pids+=("$pid")
    if tr '\0' '\n' <"/proc/$pid/environ" 2>/dev/null | grep -qx "OMPI_COMM_WORLD_RANK=$1"; then
      echo "$pid"
    fi
  done
}

# Bounded wait for the background job to end; sets code and elapsed_ms
# (since $1, in ms).
wait_job() {
  local since="$1" limit_ms=$(($(now_ms) + $2 * 1000))
  while kill -0 "$job_pid" 2>/dev/null; do
    (($(now_ms) < limit_ms)) || { cat "$dir/job.out"; fail "the job still runs after $2 s"; }
    sleep 0.1
  done
  wait "$job_pid"
  code=$?
  elapsed_ms=$(($(now_ms) - since))
  job_pid=""
}

