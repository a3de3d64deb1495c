// Embedding gather / scatter-add, pooling over the history axis, the masked
// softmax, and DIEN's last-step read-out.
#include "worker/model/cuda/cuda_internal.h"
#include "worker/model/cuda/cuda_layers.h"

namespace dips {
namespace cuda {
namespace {

constexpr int kWarpsPerBlock = kThreads / 32;

__global__ void GatherKernel(float* out, const float* rows, const int32_t* slots, size_t total,
                             int dim) {
  DIPS_GRID_STRIDE(i, total) {
    const int32_t slot = slots[i / dim];
    out[i] = slot < 0 ? 0.0f : rows[static_cast<size_t>(slot) * dim + i % dim];
  }
}

// Several (i, f) pairs may name the same slot, so the adds must be atomic.
__global__ void ScatterAddKernel(float* drows, const float* dout, const int32_t* slots,
                                 size_t total, int dim) {
  DIPS_GRID_STRIDE(i, total) {
    const int32_t slot = slots[i / dim];
    if (slot >= 0) atomicAdd(drows + static_cast<size_t>(slot) * dim + i % dim, dout[i]);
  }
}

// Pool coefficient of position pos: mask times weight (either may be null).
__device__ inline float Coefficient(const float* weights, const float* mask, size_t pos) {
  const float m = mask != nullptr ? mask[pos] : 1.0f;
  return weights != nullptr ? m * weights[pos] : m;
}

// One thread per (b, d), looping over t in order (as the CPU does).
__global__ void PoolForwardKernel(float* out, const float* values, const float* weights,
                                  const float* mask, int batch, int length, int dim) {
  const size_t total = static_cast<size_t>(batch) * dim;
  DIPS_GRID_STRIDE(i, total) {
    const size_t b = i / dim;
    const int d = static_cast<int>(i % dim);
    float sum = 0.0f;
    for (int t = 0; t < length; ++t) {
      const size_t pos = b * length + t;
      const float c = Coefficient(weights, mask, pos);
      if (c != 0.0f) sum += c * values[pos * dim + d];
    }
    out[i] = sum;
  }
}

__global__ void PoolValuesBackwardKernel(float* dvalues, const float* dout, const float* weights,
                                         const float* mask, int batch, int length, int dim) {
  const size_t total = static_cast<size_t>(batch) * length * dim;
  DIPS_GRID_STRIDE(i, total) {
    const size_t pos = i / dim;
    const float m = mask != nullptr ? mask[pos] : 1.0f;
    if (m == 0.0f) continue;
    const float c = weights != nullptr ? m * weights[pos] : m;
    dvalues[i] += c * dout[(pos / length) * dim + i % dim];
  }
}

// One warp per position: dweights[pos] += m * <dout[b], values[pos]>.
__global__ void PoolWeightsBackwardKernel(float* dweights, const float* dout, const float* values,
                                          const float* mask, int batch, int length, int dim) {
  const size_t positions = static_cast<size_t>(batch) * length;
  const size_t warp = (static_cast<size_t>(blockIdx.x) * blockDim.x + threadIdx.x) / 32;
  const size_t warps = static_cast<size_t>(gridDim.x) * blockDim.x / 32;
  const int lane = threadIdx.x % 32;
  for (size_t pos = warp; pos < positions; pos += warps) {
    const float m = mask != nullptr ? mask[pos] : 1.0f;
    if (m == 0.0f) continue;  // uniform across the warp
    const float* g = dout + (pos / length) * dim;
    const float* v = values + pos * dim;
    float dot = 0.0f;
    for (int d = lane; d < dim; d += 32) dot += g[d] * v[d];
    dot = WarpSum(dot);
    if (lane == 0) dweights[pos] += m * dot;
  }
}

// One warp per sample row.
__global__ void SoftmaxForwardKernel(float* y, const float* x, const float* mask, int batch,
                                     int length) {
  const int b = blockIdx.x * kWarpsPerBlock + threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  if (b >= batch) return;
  const size_t row = static_cast<size_t>(b) * length;
  float max_x = -INFINITY;
  for (int t = lane; t < length; t += 32) {
    if (mask[row + t] != 0.0f) max_x = fmaxf(max_x, x[row + t]);
  }
  max_x = __shfl_sync(0xffffffffu, WarpMax(max_x), 0);
  const bool any = max_x != -INFINITY;
  float sum = 0.0f;
  for (int t = lane; t < length; t += 32) {
    const float e = mask[row + t] != 0.0f ? expf(x[row + t] - max_x) : 0.0f;
    y[row + t] = e;
    sum += e;
  }
  sum = __shfl_sync(0xffffffffu, WarpSum(sum), 0);
  const float inv = any ? 1.0f / sum : 0.0f;
  for (int t = lane; t < length; t += 32) y[row + t] *= inv;
}

__global__ void SoftmaxBackwardKernel(float* dx, const float* dy, const float* y, int batch,
                                      int length) {
  const int b = blockIdx.x * kWarpsPerBlock + threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  if (b >= batch) return;
  const size_t row = static_cast<size_t>(b) * length;
  float dot = 0.0f;
  for (int t = lane; t < length; t += 32) dot += y[row + t] * dy[row + t];
  dot = __shfl_sync(0xffffffffu, WarpSum(dot), 0);
  for (int t = lane; t < length; t += 32) dx[row + t] += y[row + t] * (dy[row + t] - dot);
}

__global__ void LastStepKernel(float* out, const float* seq, int batch, int length, int dim,
                               bool backward) {
  const size_t total = static_cast<size_t>(batch) * dim;
  DIPS_GRID_STRIDE(i, total) {
    const size_t b = i / dim;
    const size_t s = (b * length + length - 1) * dim + i % dim;
    if (backward) {
      out[s] += seq[i];  // out = dseq, seq = dout
    } else {
      out[i] = seq[s];
    }
  }
}

}  // namespace

void embedding_gather(float* out, const float* rows, const int32_t* slots, int num, int fields,
                      int dim, CudaContext* ctx) {
  const size_t total = static_cast<size_t>(num) * fields * dim;
  if (!ctx->ok() || total == 0) return;
  GatherKernel<<<BlocksFor(total), kThreads, 0, StreamOf(ctx)>>>(out, rows, slots, total, dim);
  RecordLaunch(ctx, "EmbeddingGather");
}

void embedding_scatter_add(float* drows, const float* dout, const int32_t* slots, int num,
                           int fields, int dim, CudaContext* ctx) {
  const size_t total = static_cast<size_t>(num) * fields * dim;
  if (!ctx->ok() || total == 0) return;
  ScatterAddKernel<<<BlocksFor(total), kThreads, 0, StreamOf(ctx)>>>(drows, dout, slots, total,
                                                                    dim);
  RecordLaunch(ctx, "EmbeddingScatterAdd");
}

void weighted_sum_pooling_forward(float* out, const float* values, const float* weights,
                                  const float* mask, int batch, int length, int dim,
                                  CudaContext* ctx) {
  const size_t total = static_cast<size_t>(batch) * dim;
  if (!ctx->ok() || total == 0) return;
  PoolForwardKernel<<<BlocksFor(total), kThreads, 0, StreamOf(ctx)>>>(out, values, weights, mask,
                                                                     batch, length, dim);
  RecordLaunch(ctx, "PoolForward");
}

void weighted_sum_pooling_backward(float* dvalues, float* dweights, const float* dout,
                                   const float* values, const float* weights, const float* mask,
                                   int batch, int length, int dim, CudaContext* ctx) {
  const size_t positions = static_cast<size_t>(batch) * length;
  if (!ctx->ok() || positions == 0 || dim <= 0) return;
  if (dvalues != nullptr) {
    const size_t total = positions * dim;
    PoolValuesBackwardKernel<<<BlocksFor(total), kThreads, 0, StreamOf(ctx)>>>(
        dvalues, dout, weights, mask, batch, length, dim);
    RecordLaunch(ctx, "PoolValuesBackward");
  }
  if (dweights != nullptr && weights != nullptr) {
    PoolWeightsBackwardKernel<<<BlocksFor(positions * 32), kThreads, 0, StreamOf(ctx)>>>(
        dweights, dout, values, mask, batch, length, dim);
    RecordLaunch(ctx, "PoolWeightsBackward");
  }
}

void masked_softmax_forward(float* y, const float* x, const float* mask, int batch, int length,
                            CudaContext* ctx) {
  if (!ctx->ok() || batch <= 0 || length <= 0) return;
  const int blocks = (batch + kWarpsPerBlock - 1) / kWarpsPerBlock;
  SoftmaxForwardKernel<<<blocks, kThreads, 0, StreamOf(ctx)>>>(y, x, mask, batch, length);
  RecordLaunch(ctx, "SoftmaxForward");
}

void masked_softmax_backward(float* dx, const float* dy, const float* y, const float* mask,
                             int batch, int length, CudaContext* ctx) {
  // Masked positions have y = 0 and so receive exactly 0, as on the CPU;
  // the mask itself is not needed.
  if (!ctx->ok() || batch <= 0 || length <= 0) return;
  const int blocks = (batch + kWarpsPerBlock - 1) / kWarpsPerBlock;
  SoftmaxBackwardKernel<<<blocks, kThreads, 0, StreamOf(ctx)>>>(dx, dy, y, batch, length);
  RecordLaunch(ctx, "SoftmaxBackward");
}

void last_step_forward(float* out, const float* seq, int batch, int length, int dim,
                       CudaContext* ctx) {
  const size_t total = static_cast<size_t>(batch) * dim;
  if (!ctx->ok() || total == 0 || length <= 0) return;
  LastStepKernel<<<BlocksFor(total), kThreads, 0, StreamOf(ctx)>>>(out, seq, batch, length, dim,
                                                                  false);
  RecordLaunch(ctx, "LastStepForward");
}

void last_step_backward(float* dseq, const float* dout, int batch, int length, int dim,
                        CudaContext* ctx) {
  const size_t total = static_cast<size_t>(batch) * dim;
  if (!ctx->ok() || total == 0 || length <= 0) return;
  LastStepKernel<<<BlocksFor(total), kThreads, 0, StreamOf(ctx)>>>(dseq, dout, batch, length, dim,
                                                                  true);
  RecordLaunch(ctx, "LastStepBackward");
}

}  // namespace cuda
}  // namespace dips
