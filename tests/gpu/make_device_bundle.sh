#!/usr/bin/env bash
# Builds the CUDA device-check binaries here and packs them, with the shared
# libraries they load, into one archive for a GPU machine that cannot install
# our apt dependencies (a bare CUDA image with no network):
#   <out>/bundle/bin/{dips,cuda_parity_test,cuda_bench}   stripped
#   <out>/bundle/lib/*.so*   every library ldd names, except glibc's own,
#                            libstdc++/libgcc_s (the target's are newer) and
#                            cuBLAS (hundreds of MB; the CUDA image has it)
#   <out>/bundle/mpi/        Open MPI's runtime (mpirun, orted, plugins, help
#                            texts, PMIx), relocatable with OPAL_PREFIX and
#                            PMIX_INSTALL_PREFIX, for `dips dist-train`
#   <out>/bundle.tar.xz      the folder above, compressed
# There, unpack it and run
#   DIPS_GPU_BUNDLE=<dir>/bundle tests/gpu/run_device_checks.sh
# which skips the apt install and the build and runs the same checks.
#
# Needs nvcc here (a CUDA 13 toolkit: the binaries need a driver at least as
# new as this toolkit) and the apt dependencies (scripts/install_deps.sh).
# Usage: tests/gpu/make_device_bundle.sh [out_dir]   (default build-gpubundle)
# Environment: DIPS_GPU_BUILD_DIR (default build-cuda), CUDA_ARCH (default 90).
set -euo pipefail
cd "$(dirname "$0")/../.."

OUT_DIR="${1:-build-gpubundle}"
BUILD_DIR="${DIPS_GPU_BUILD_DIR:-build-cuda}"
ARCH="${CUDA_ARCH:-90}"

cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DDIPS_CUDA=ON \
  -DCMAKE_CUDA_ARCHITECTURES="$ARCH" -DDIPS_BUILD_TESTS=ON -DDIPS_BUILD_BENCH=ON >/dev/null
cmake --build "$BUILD_DIR" -j"$(nproc)" --target cuda_parity_test cuda_bench dips

BINARIES=("$BUILD_DIR/dips" "$BUILD_DIR/tests/gpu/cuda_parity_test" "$BUILD_DIR/bench/cuda_bench")
rm -rf "$OUT_DIR/bundle" "$OUT_DIR/bundle.tar.xz"
mkdir -p "$OUT_DIR/bundle/bin" "$OUT_DIR/bundle/lib"
for binary in "${BINARIES[@]}"; do
  strip -o "$OUT_DIR/bundle/bin/$(basename "$binary")" "$binary"
done
# Open MPI as Debian lays it out under /usr, moved under bundle/mpi: with
# OPAL_PREFIX set, every directory but /etc/openmpi follows the prefix.
MPI="$OUT_DIR/bundle/mpi"
MULTIARCH=lib/x86_64-linux-gnu
mkdir -p "$MPI/bin" "$MPI/$MULTIARCH/openmpi" "$MPI/share"
cp /usr/bin/orterun "$MPI/bin/mpirun"
cp /usr/bin/orted "$MPI/bin/"
cp -a "/usr/$MULTIARCH/openmpi/lib" "$MPI/$MULTIARCH/openmpi/"
cp -a /usr/share/openmpi "$MPI/share/"
mkdir -p "$MPI/pmix2"
cp -a "/usr/$MULTIARCH/pmix2/lib" "/usr/$MULTIARCH/pmix2/share" "$MPI/pmix2/"
find "$MPI" -name '*.a' -delete
PLUGINS=("$MPI/bin/mpirun" "$MPI/bin/orted" $(find "$MPI" -name '*.so'))

# The target's own C runtime must serve these: mixing two glibcs fails.
SYSTEM='/(libc|libm|libdl|libpthread|librt|libresolv|libgcc_s|libstdc\+\+|libcublas|libcublasLt|libcuda)\.so'
# (ldd exits non-zero when a plugin lists a library this machine lacks too:
# such a plugin cannot load anywhere, and Open MPI skips it.)
{ ldd "${BINARIES[@]}" "${PLUGINS[@]}" 2>/dev/null || true; } | awk '/=> \//{print $3}' |
  sort -u | grep -vE "$SYSTEM" | grep -v "^$(cd "$MPI" && pwd)" |
  while read -r lib; do cp -L "$lib" "$OUT_DIR/bundle/lib/"; done
tar -C "$OUT_DIR" -cJf "$OUT_DIR/bundle.tar.xz" bundle
echo "make_device_bundle: $OUT_DIR/bundle.tar.xz ($(du -h "$OUT_DIR/bundle.tar.xz" | cut -f1)," \
  "$(ls "$OUT_DIR/bundle/lib" | wc -l) libraries)"
