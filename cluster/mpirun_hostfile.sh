#!/usr/bin/env bash
# Runs a DIPS job on the hosts of an OpenMPI hostfile: S parameter-server
# ranks + W worker ranks, servers first.
#
#   cluster/mpirun_hostfile.sh --hostfile FILE --servers S --workers W \
#     [--iface IFACE] [--map-by POLICY] [--timeout SEC] -- [dips flags...]
#
# Runs `$DIPS_BIN $DIPS_SUBCOMMAND --num_servers=S [dips flags...]` on S+W
# ranks. What a real cluster needs, and the option that provides it:
#   --hostfile FILE  one line per host: `node17 slots=8` (slots = ranks it may
#                    take). Every host must see DIPS_BIN and the data at the
#                    same paths (shared file system or identical installs) and
#                    accept password-less ssh from this one.
#   --iface IFACE    the network for both MPI traffic (btl_tcp_if_include) and
#                    mpirun's control channel (oob_tcp_if_include): an
#                    interface name (eth0, ib0) or a CIDR (10.1.0.0/16).
#                    Without it OpenMPI tries every interface, which hangs on
#                    hosts with unroutable ones (docker0, virbr0). The
#                    parameter servers pick their own address; put them on
#                    the same network with the dips flag
#                    --server_bind_host=IFACE (docs/operations.md).
#   --map-by POLICY  rank placement (default: node, round-robin over hosts,
#                    so the S servers land on S different hosts); `slot`
#                    fills each host before the next.
#   --timeout SEC    mpirun kills the whole job after SEC seconds.
# Ranks get no environment from this shell unless forwarded with -x:
#   DIPS_EXPORT_ENV  names to forward, separated by spaces (default:
#                    GLOG_logtostderr OMP_NUM_THREADS, each only if set)
#   DIPS_BIN         the binary (default: build/dips in this repository)
#   DIPS_SUBCOMMAND  its subcommand (default: dist-train; empty for none)
#   MPIRUN           the mpirun to use (default: mpirun on PATH)
#   DIPS_MPIRUN_ARGS extra mpirun arguments, split on spaces (e.g.
#                    "--oversubscribe", "--mca pml ucx" on InfiniBand)
# The exit status is mpirun's: 0 if every rank exited 0.
set -euo pipefail

usage() {
  sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2
  exit 2
}

hostfile=""
servers=""
workers=""
iface=""
map_by=node
timeout=""
while (($#)); do
  case "$1" in
    --hostfile) hostfile="${2:?--hostfile needs a value}"; shift 2 ;;
    --servers) servers="${2:?--servers needs a value}"; shift 2 ;;
    --workers) workers="${2:?--workers needs a value}"; shift 2 ;;
    --iface) iface="${2:?--iface needs a value}"; shift 2 ;;
    --map-by) map_by="${2:?--map-by needs a value}"; shift 2 ;;
    --timeout) timeout="${2:?--timeout needs a value}"; shift 2 ;;
    --) shift; break ;;
    -h|--help) usage ;;
    *) echo "mpirun_hostfile.sh: unknown argument '$1'" >&2; usage ;;
  esac
done
[[ -r "$hostfile" ]] || { echo "mpirun_hostfile.sh: --hostfile FILE is required and readable" >&2; exit 2; }
[[ "$servers" =~ ^[1-9][0-9]*$ ]] || { echo "mpirun_hostfile.sh: --servers must be >= 1" >&2; exit 2; }
[[ "$workers" =~ ^[1-9][0-9]*$ ]] || { echo "mpirun_hostfile.sh: --workers must be >= 1" >&2; exit 2; }

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin="${DIPS_BIN:-$repo/build/dips}"
subcommand="${DIPS_SUBCOMMAND-dist-train}"

mpirun_args=(
  --hostfile "$hostfile"
  -np "$((servers + workers))"
  --map-by "$map_by"
  --bind-to none                     # ranks run their own thread pools
)
if [[ -n "$iface" ]]; then
  mpirun_args+=(--mca btl_tcp_if_include "$iface" --mca oob_tcp_if_include "$iface")
fi
for name in ${DIPS_EXPORT_ENV:-GLOG_logtostderr OMP_NUM_THREADS}; do
  if [[ -n "${!name+set}" ]]; then mpirun_args+=(-x "$name"); fi
done
if [[ $(id -u) -eq 0 ]]; then mpirun_args+=(--allow-run-as-root); fi
if [[ -n "$timeout" ]]; then mpirun_args+=(--timeout "$timeout"); fi
# shellcheck disable=SC2206  # word splitting is the documented behaviour
if [[ -n "${DIPS_MPIRUN_ARGS:-}" ]]; then mpirun_args+=(${DIPS_MPIRUN_ARGS}); fi

command=("$bin")
if [[ -n "$subcommand" ]]; then command+=("$subcommand"); fi
command+=("--num_servers=$servers" "$@")

echo "mpirun_hostfile.sh: ${MPIRUN:-mpirun} ${mpirun_args[*]} ${command[*]}" >&2
exec "${MPIRUN:-mpirun}" "${mpirun_args[@]}" "${command[@]}"
