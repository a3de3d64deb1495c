#!/usr/bin/env bash
# Configures and builds DIPS into ./build (or $DIPS_BUILD_DIR).
# Extra arguments go to cmake's configure step, e.g. -DDIPS_SANITIZE=ON.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR="${DIPS_BUILD_DIR:-build}"
cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE="${DIPS_BUILD_TYPE:-RelWithDebInfo}" "$@" >/dev/null
cmake --build "$BUILD_DIR" -j"$(nproc)"
