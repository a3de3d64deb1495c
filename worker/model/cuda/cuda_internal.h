// Shared by the CUDA backend's own sources only (not a public header):
// the context's handles, the row-major GEMM wrapper, launch-error
// recording, and the device helpers every kernel file uses.
#ifndef DIPS_WORKER_MODEL_CUDA_CUDA_INTERNAL_H_
#define DIPS_WORKER_MODEL_CUDA_CUDA_INTERNAL_H_

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstddef>

#include "worker/model/cuda/cuda_context.h"

namespace dips {
namespace cuda {

struct CudaContext::Handles {
  cudaStream_t stream = nullptr;
  cublasHandle_t blas = nullptr;
  // Partial sums of the chunked column reductions. One buffer serves every
  // reduction: they run one after another on the stream.
  DeviceBuffer<float> reduce_scratch;
};

inline cudaStream_t StreamOf(CudaContext* ctx) { return ctx->handles()->stream; }

// Records a failed launch (bad configuration, or a sticky error from an
// earlier kernel) in the context. cudaGetLastError does not synchronise.
void RecordLaunch(CudaContext* ctx, const char* kernel);

// Row-major C[m x n] = alpha * op(A)[m x k] * op(B)[k x n] + beta * C with
// the same arguments as worker/model/layers/gemm.h. cuBLAS is column-major:
// a row-major matrix is its transpose seen column-major, so C^T = op(B)^T
// op(A)^T is computed by swapping the operands (and m with n). Strided rows
// (lda > k) work as on the CPU. Full fp32 math (no TF32), set in Create.
void Gemm(CudaContext* ctx, bool trans_a, bool trans_b, int m, int n, int k, float alpha,
          const float* a, int lda, const float* b, int ldb, float beta, float* c, int ldc);

constexpr int kThreads = 256;

// Blocks for a grid-stride loop over n items; capped, since every kernel
// loops, and at least 1 so an empty launch is still valid.
inline int BlocksFor(size_t n, int threads = kThreads) {
  const size_t blocks = (n + threads - 1) / threads;
  return static_cast<int>(std::max<size_t>(1, std::min<size_t>(blocks, 8192)));
}

#ifdef __CUDACC__

// Full-precision exp (nvcc's default: no --use_fast_math), so results track
// the CPU's FastSigmoid / FastTanh to a few ulps.
__device__ inline float DeviceSigmoid(float x) { return 1.0f / (1.0f + expf(-x)); }

__device__ inline float WarpSum(float v) {
  for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_down_sync(0xffffffffu, v, offset);
  return v;  // complete in lane 0
}

__device__ inline float WarpMax(float v) {
  for (int offset = 16; offset > 0; offset >>= 1) {
    v = fmaxf(v, __shfl_down_sync(0xffffffffu, v, offset));
  }
  return v;  // complete in lane 0
}

#define DIPS_GRID_STRIDE(i, n)                                                           \
  for (size_t i = static_cast<size_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < (n); \
       i += static_cast<size_t>(blockDim.x) * gridDim.x)

// Column reductions over a row-major [rows x cols] matrix run in blocks of
// kColTile columns x kRowLanes row lanes: a warp reads 32 adjacent columns
// of one row (coalesced), and the row lanes are summed in shared memory in a
// fixed order, so results are deterministic.
constexpr int kColTile = 32;
constexpr int kRowLanes = 32;  // blocks of 32 x 32 = 1024 threads
// Tall matrices (the GRU's and the attention unit's B*T rows) are cut into
// chunks of this many rows, one block each, so the work spreads over the
// GPU; a second kernel adds the chunks' partial sums in chunk order.
constexpr int kChunkRows = 512;
constexpr int kMaxChunks = 128;

// Block (tile x, chunk y): sum_{r in chunk} f(r, c) for its 32 columns,
// added to out[c] when there is one chunk, else stored in
// partials[chunk * cols + c]. F is a functor with
// `__device__ float operator()(int r, int c) const`.
template <typename F>
__global__ void ColumnSumKernel(float* out, float* partials, int rows, int cols, int chunk_rows,
                                F f) {
  __shared__ float partial[kRowLanes][kColTile + 1];
  const int c = blockIdx.x * kColTile + threadIdx.x;
  const int begin = blockIdx.y * chunk_rows;
  const int end = min(rows, begin + chunk_rows);
  float sum = 0.0f;
  if (c < cols) {
    for (int r = begin + threadIdx.y; r < end; r += kRowLanes) sum += f(r, c);
  }
  partial[threadIdx.y][threadIdx.x] = sum;
  __syncthreads();
  if (threadIdx.y == 0 && c < cols) {
    float total = 0.0f;
    for (int y = 0; y < kRowLanes; ++y) total += partial[y][threadIdx.x];
    if (partials == nullptr) {
      out[c] += total;
    } else {
      partials[static_cast<size_t>(blockIdx.y) * cols + c] = total;
    }
  }
}

// out[c] += sum over chunks of partials[chunk * cols + c], in chunk order
// (dense_layers.cu).
void FinishColumnSums(float* out, const float* partials, int chunks, int cols, CudaContext* ctx);

// out[c] += sum_r f(r, c).
template <typename F>
void ColumnAccumulate(float* out, int rows, int cols, F f, CudaContext* ctx) {
  if (!ctx->ok() || cols <= 0 || rows <= 0) return;
  int chunks = std::min(kMaxChunks, (rows + kChunkRows - 1) / kChunkRows);
  const int chunk_rows = (rows + chunks - 1) / chunks;
  chunks = (rows + chunk_rows - 1) / chunk_rows;  // no empty chunk
  float* partials = nullptr;
  if (chunks > 1) {
    DeviceBuffer<float>* scratch = &ctx->handles()->reduce_scratch;
    if (!scratch->Grow(static_cast<size_t>(chunks) * cols, ctx)) return;
    partials = scratch->data();
  }
  const dim3 block(kColTile, kRowLanes);
  const dim3 grid((cols + kColTile - 1) / kColTile, chunks);
  ColumnSumKernel<<<grid, block, 0, StreamOf(ctx)>>>(out, partials, rows, cols, chunk_rows, f);
  RecordLaunch(ctx, "ColumnAccumulate");
  if (chunks > 1) FinishColumnSums(out, partials, chunks, cols, ctx);
}

// f(r, c) = m[r * cols + c]: the bias gradient of a linear layer.
struct MatrixEntry {
  const float* m;
  int cols;
  __device__ float operator()(int r, int c) const {
    return m[static_cast<size_t>(r) * cols + c];
  }
};

#endif  // __CUDACC__

}  // namespace cuda
}  // namespace dips

#endif  // DIPS_WORKER_MODEL_CUDA_CUDA_INTERNAL_H_
