#!/usr/bin/env bash
# Runs a DIPS job on this machine: S parameter-server ranks + W worker ranks
# under mpirun, all on loopback, oversubscribed if there are fewer cores
# than ranks, and as root if need be.
#
#   cluster/local.sh --servers S --workers W [--timeout SEC] -- [dips flags...]
#
# Runs `$DIPS_BIN $DIPS_SUBCOMMAND --num_servers=S [dips flags...]` on S+W
# ranks; ranks 0..S-1 become servers (see worker/dist/cluster.h).
#   --timeout SEC    mpirun kills the whole job after SEC seconds (default: none)
# Environment:
#   DIPS_BIN         the binary (default: build/dips in this repository)
#   DIPS_SUBCOMMAND  its subcommand (default: dist-train; set it empty to run
#                    a program without one, e.g. a test binary)
#   MPIRUN           the mpirun to use (default: mpirun on PATH)
#   DIPS_MPIRUN_ARGS extra mpirun arguments, split on spaces
# The exit status is mpirun's: 0 if every rank exited 0.
set -euo pipefail

usage() {
  sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2
  exit 2
}

servers=""
workers=""
timeout=""
while (($#)); do
  case "$1" in
    --servers) servers="${2:?--servers needs a value}"; shift 2 ;;
    --workers) workers="${2:?--workers needs a value}"; shift 2 ;;
    --timeout) timeout="${2:?--timeout needs a value}"; shift 2 ;;
    --) shift; break ;;
    -h|--help) usage ;;
    *) echo "local.sh: unknown argument '$1'" >&2; usage ;;
  esac
done
[[ "$servers" =~ ^[1-9][0-9]*$ ]] || { echo "local.sh: --servers must be >= 1" >&2; exit 2; }
[[ "$workers" =~ ^[1-9][0-9]*$ ]] || { echo "local.sh: --workers must be >= 1" >&2; exit 2; }

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin="${DIPS_BIN:-$repo/build/dips}"
subcommand="${DIPS_SUBCOMMAND-dist-train}"
[[ -x "$bin" ]] || { echo "local.sh: $bin is not an executable (set DIPS_BIN)" >&2; exit 2; }

mpirun_args=(
  -np "$((servers + workers))"
  --oversubscribe                    # more ranks than cores is the normal case here
  --bind-to none                     # ranks run their own thread pools
  --mca btl_tcp_if_include lo        # MPI data over loopback only
  --mca oob_tcp_if_include lo        # and mpirun's control channel too
)
if [[ $(id -u) -eq 0 ]]; then mpirun_args+=(--allow-run-as-root); fi
if [[ -n "$timeout" ]]; then mpirun_args+=(--timeout "$timeout"); fi
# shellcheck disable=SC2206  # word splitting is the documented behaviour
if [[ -n "${DIPS_MPIRUN_ARGS:-}" ]]; then mpirun_args+=(${DIPS_MPIRUN_ARGS}); fi

command=("$bin")
if [[ -n "$subcommand" ]]; then command+=("$subcommand"); fi
command+=("--num_servers=$servers" "$@")

exec "${MPIRUN:-mpirun}" "${mpirun_args[@]}" "${command[@]}"
