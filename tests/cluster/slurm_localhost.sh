#!/usr/bin/env bash
# A real, private Slurm on this machine for one batch job: starts munged,
# slurmctld and slurmd (node n1 = this machine's cores) with their config,
# state, logs and sockets in a fresh temp dir, submits one sbatch job, waits
# for it (bounded), prints its output and exits with its exit code. The
# daemons are stopped by PID on every exit path.
#
#   tests/cluster/slurm_localhost.sh [--timeout SEC] [--keep] -- SBATCH_ARGS... SCRIPT [SCRIPT_ARGS...]
#
#   --timeout SEC  how long the job may stay queued or running (default 300);
#                  after that it is cancelled and this script exits 124
#   --keep         keep the temp dir (config, daemon logs) for inspection
# Everything after `--` goes to sbatch unchanged; sbatch exports this
# environment to the job. Needs root (munged/slurmd); exits 77 (skip) if not
# root. Installs Slurm and munge from apt if missing.
set -uo pipefail

timeout_s=300
keep=0
while (($#)); do
  case "$1" in
    --timeout) timeout_s="${2:?--timeout needs a value}"; shift 2 ;;
    --keep) keep=1; shift ;;
    --) shift; break ;;
    *) echo "slurm_localhost: unknown argument '$1'" >&2; exit 2 ;;
  esac
done
(($#)) || { echo "slurm_localhost: nothing to submit after --" >&2; exit 2; }
if [[ $(id -u) -ne 0 ]]; then
  echo "slurm_localhost: SKIP: needs root to run munged and slurmd" >&2
  exit 77
fi

log() { echo "slurm_localhost: $*" >&2; }
now_ms() { echo $(($(date +%s%N) / 1000000)); }
start_ms=$(now_ms)
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"

for tool in munged mungekey slurmctld slurmd sbatch squeue scontrol sinfo; do
  if ! command -v "$tool" >/dev/null; then
    "$repo/scripts/install_deps.sh" --slurm >&2 || { log "installing Slurm failed"; exit 1; }
    break
  fi
done

dir="$(mktemp -d -t dips-slurm.XXXXXX)"
chmod 755 "$dir"   # munged refuses socket dirs others cannot traverse
mkdir -p "$dir"/{munge,state,spool/n1,tmpfs/n1,log,run}
chmod 755 "$dir/munge"
munged_pid=""
slurmctld_pid=""
slurmd_pid=""
job_id=""

# squeue -j lists a finished job too (until MinJobAge), so look at its state.
job_done() {
  local state
  state="$(squeue -h -t all -j "$job_id" -o %T 2>/dev/null)"
  case "$state" in
    PENDING|CONFIGURING|RUNNING|COMPLETING|SUSPENDED|REQUEUED|RESIZING|SIGNALING|STAGE_OUT) return 1 ;;
    *) return 0 ;;  # a final state, or gone from the queue
  esac
}

# Stops a process we started: TERM, up to 10 s of grace, then KILL.
stop_pid() {
  local pid="$1"
  [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null
  for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  log "pid $pid ignored TERM; killing it"
  kill -KILL "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
}

cleanup() {
  local code=$?
  trap - EXIT INT TERM
  if [[ -n "$job_id" && -n "$slurmctld_pid" ]] && ! job_done; then
    log "cancelling job $job_id"
    scancel "$job_id" 2>/dev/null
    for _ in $(seq 100); do job_done && break; sleep 0.1; done
  fi
  if [[ -n "$slurmctld_pid" ]]; then scontrol shutdown >/dev/null 2>&1; fi
  stop_pid "$slurmd_pid"
  stop_pid "$slurmctld_pid"
  stop_pid "$munged_pid"
  if ((code != 0)); then
    for f in "$dir"/log/*.log; do
      [[ -f "$f" ]] || continue
      log "last lines of $(basename "$f"):"
      tail -n 15 "$f" >&2
    done
  fi
  if ((keep)); then log "kept $dir"; else rm -rf "$dir"; fi
  log "total $(($(now_ms) - start_ms)) ms"
  exit "$code"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Two free TCP ports, chosen at random so concurrent runs do not collide,
# and below the kernel's ephemeral range: a port in that range can be taken
# at any moment by an outgoing connection (of an earlier test, say), and
# slurmd then fails to bind it ("Address already in use"). Any socket on the
# port counts, not only listeners.
pick_port() {
  local port low=32768
  read -r low _ < /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || true
  (( low > 11000 )) || low=32768
  for _ in $(seq 50); do
    port=$((10000 + RANDOM % (low - 10000)))
    if ! ss -Htan "sport = :$port" | grep -q . && [[ "$port" != "${1:-}" ]]; then
      echo "$port"; return 0
    fi
  done
  return 1
}
ctld_port=$(pick_port) && slurmd_port=$(pick_port "$ctld_port") || { log "no free port"; exit 1; }

mungekey --create --keyfile="$dir/munge/munge.key" || { log "mungekey failed"; exit 1; }
chmod 600 "$dir/munge/munge.key"
munged --foreground --socket="$dir/munge/munge.socket" --key-file="$dir/munge/munge.key" \
  --pid-file="$dir/run/munged.pid" --log-file="$dir/log/munged.log" \
  --seed-file="$dir/munge/munged.seed" >>"$dir/log/munged.stdout" 2>&1 &
munged_pid=$!

export SLURM_CONF="$dir/slurm.conf"
cat >"$SLURM_CONF" <<CONF
ClusterName=dipstest
SlurmctldHost=localhost(127.0.0.1)
SlurmUser=root
SlurmdUser=root
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$dir/munge/munge.socket
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool/%n
SlurmctldPidFile=$dir/run/slurmctld.pid
SlurmdPidFile=$dir/run/slurmd-%n.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd-%n.log
TmpFS=$dir/tmpfs/%n
MailProg=/bin/true
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
MpiDefault=pmix
SchedulerType=sched/backfill
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
JobAcctGatherType=jobacct_gather/none
ReturnToService=2
NodeName=n1 NodeAddr=127.0.0.1 CPUs=$(nproc) State=UNKNOWN
PartitionName=local Nodes=n1 Default=YES MaxTime=INFINITE State=UP
CONF

# Bounded wait until `$@` succeeds.
wait_for() {
  local what="$1" limit_s="$2"; shift 2
  local deadline=$(($(now_ms) + limit_s * 1000))
  until "$@" >/dev/null 2>&1; do
    if (($(now_ms) > deadline)); then log "timed out after ${limit_s}s waiting for $what"; return 1; fi
    sleep 0.1
  done
}
wait_for "munged's socket" 10 test -S "$dir/munge/munge.socket" || exit 1

slurmctld -D -c -f "$SLURM_CONF" >>"$dir/log/slurmctld.stdout" 2>&1 &
slurmctld_pid=$!
slurmd -D -N n1 -f "$SLURM_CONF" >>"$dir/log/slurmd.stdout" 2>&1 &
slurmd_pid=$!
node_idle() { [[ "$(sinfo -h -n n1 -o %t 2>/dev/null)" == idle ]]; }
wait_for "node n1 to become idle" 30 node_idle || exit 1
log "daemons up after $(($(now_ms) - start_ms)) ms (ports $ctld_port, $slurmd_port)"

job_id="$(sbatch --parsable --output="$dir/job-%j.out" "$@")" || { log "sbatch failed"; exit 1; }
job_id="${job_id%%;*}"
log "submitted job $job_id"
job_start_ms=$(now_ms)
if ! wait_for "job $job_id" "$timeout_s" job_done; then
  cat "$dir/job-$job_id.out" 2>/dev/null
  exit 124
fi
info="$(scontrol -o show job "$job_id" 2>/dev/null)"
state="$(grep -o 'JobState=[A-Z_]*' <<<"$info" | cut -d= -f2)"
exit_code="$(grep -o ' ExitCode=[0-9]*:[0-9]*' <<<"$info" | cut -d= -f2)"
cat "$dir/job-$job_id.out" 2>/dev/null
log "job $job_id: state ${state:-unknown}, exit code ${exit_code:-unknown}, $(($(now_ms) - job_start_ms)) ms from submission to end"
[[ "$state" == COMPLETED && "$exit_code" == 0:0 ]] && exit 0
code="${exit_code%%:*}"
((code > 0)) 2>/dev/null && exit "$code"
exit 1
