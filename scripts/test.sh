#!/usr/bin/env bash
# Sets up a fresh Debian 12 machine (apt) and runs every DIPS test.
# Usage: scripts/test.sh [ctest args...]   e.g. scripts/test.sh -L unit
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install_deps.sh --slurm   # Slurm + munge: the cluster tests start a real Slurm
scripts/build.sh
export GLOG_logtostderr=1
cd "${DIPS_BUILD_DIR:-build}"
ctest --output-on-failure --timeout 1500 "$@"
