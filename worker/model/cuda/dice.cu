// Dice on the device; the algebra and the fallbacks are those of
// worker/model/layers/dice.cc (read its comments for the derivation).
#include <glog/logging.h>

#include "worker/model/cuda/cuda_internal.h"
#include "worker/model/cuda/cuda_layers.h"

namespace dips {
namespace cuda {
namespace {

__device__ inline bool RowValid(const float* mask, int i) {
  return mask == nullptr || mask[i] != 0.0f;
}

// Statistics of one tile of 32 units (block kColTile x kRowLanes). Every
// block counts the valid rows itself (cheap next to the sums), so no block
// waits for another. Two passes, mean then squared deviations, as on the
// CPU (E[x^2] - E[x]^2 cancels badly in float).
__global__ void DiceStatsKernel(float* mean_out, float* var_out, float* inv_std_out,
                                int32_t* valid_out, float* moving_mean, float* moving_var,
                                const float* x, const float* mask, int rows, int units,
                                bool training, float eps, float momentum) {
  __shared__ float partial[kRowLanes][kColTile + 1];
  __shared__ int counts[kRowLanes];
  const int u = blockIdx.x * kColTile + threadIdx.x;
  const bool in_range = u < units;

  int count = 0;
  if (training && threadIdx.x == 0) {
    for (int i = threadIdx.y; i < rows; i += kRowLanes) count += RowValid(mask, i) ? 1 : 0;
    counts[threadIdx.y] = count;
  }
  __syncthreads();
  int valid = 0;
  if (training) {
    for (int y = 0; y < kRowLanes; ++y) valid += counts[y];
  }
  const bool batch_stats = training && valid > 0;

  float mean = 0.0f, var = 1.0f;
  if (batch_stats) {
    const float inv_count = 1.0f / static_cast<float>(valid);
    float sum = 0.0f;
    if (in_range) {
      for (int i = threadIdx.y; i < rows; i += kRowLanes) {
        if (RowValid(mask, i)) sum += x[static_cast<size_t>(i) * units + u];
      }
    }
    partial[threadIdx.y][threadIdx.x] = sum;
    __syncthreads();
    sum = 0.0f;
    for (int y = 0; y < kRowLanes; ++y) sum += partial[y][threadIdx.x];
    mean = sum * inv_count;
    __syncthreads();  // everyone has read `partial` before it is reused

    float sq = 0.0f;
    if (in_range) {
      for (int i = threadIdx.y; i < rows; i += kRowLanes) {
        if (!RowValid(mask, i)) continue;
        const float d = x[static_cast<size_t>(i) * units + u] - mean;
        sq += d * d;
      }
    }
    partial[threadIdx.y][threadIdx.x] = sq;
    __syncthreads();
    sq = 0.0f;
    for (int y = 0; y < kRowLanes; ++y) sq += partial[y][threadIdx.x];
    var = sq * inv_count;  // biased, as in batch norm
  } else if (moving_mean != nullptr && moving_var != nullptr && in_range) {
    // Evaluation, or a training batch without a valid row: moving averages,
    // left unchanged.
    mean = moving_mean[u];
    var = moving_var[u];
  }

  if (threadIdx.y != 0 || !in_range) return;
  if (batch_stats && moving_mean != nullptr && moving_var != nullptr) {
    moving_mean[u] = momentum * moving_mean[u] + (1.0f - momentum) * mean;
    moving_var[u] = momentum * moving_var[u] + (1.0f - momentum) * var;
  }
  mean_out[u] = mean;
  var_out[u] = var;
  inv_std_out[u] = 1.0f / sqrtf(var + eps);
  if (u == 0) *valid_out = valid;
}

__global__ void DiceForwardKernel(float* y, float* normed, float* p, const float* x,
                                  const float* alpha, const float* mean, const float* inv_std,
                                  int rows, int units) {
  const size_t total = static_cast<size_t>(rows) * units;
  DIPS_GRID_STRIDE(i, total) {
    const int u = static_cast<int>(i % units);
    const float n = (x[i] - mean[u]) * inv_std[u];
    const float pr = DeviceSigmoid(n);
    normed[i] = n;
    p[i] = pr;
    y[i] = x[i] * (alpha[u] + pr * (1.0f - alpha[u]));
  }
}

struct DiceAlphaGrad {
  const float* dy;
  const float* x;
  const float* p;
  int units;
  __device__ float operator()(int r, int c) const {
    const size_t i = static_cast<size_t>(r) * units + c;
    return dy[i] * x[i] * (1.0f - p[i]);
  }
};

// g = dL/dnormed; `with_normed` selects sum g (false) or sum g * normed.
struct DiceNormedGrad {
  const float* dy;
  const float* x;
  const float* p;
  const float* normed;
  const float* alpha;
  int units;
  bool with_normed;
  __device__ float operator()(int r, int c) const {
    const size_t i = static_cast<size_t>(r) * units + c;
    const float g = dy[i] * x[i] * (1.0f - alpha[c]) * p[i] * (1.0f - p[i]);
    return with_normed ? g * normed[i] : g;
  }
};

// sums = [sum_g (units), sum_gn (units)], not yet divided by the count.
__global__ void DiceBackwardKernel(float* dx, const float* dy, const float* x, const float* p,
                                   const float* normed, const float* alpha, const float* inv_std,
                                   const float* sums, const int32_t* valid_rows,
                                   const float* mask, bool training, int rows, int units) {
  const int valid = *valid_rows;
  const bool through_stats = training && valid > 0;
  const float inv_count = through_stats ? 1.0f / static_cast<float>(valid) : 0.0f;
  const size_t total = static_cast<size_t>(rows) * units;
  DIPS_GRID_STRIDE(i, total) {
    const int u = static_cast<int>(i % units);
    const int row = static_cast<int>(i / units);
    const float one_minus_alpha = 1.0f - alpha[u];
    const float pr = p[i];
    const float d = dy[i];
    const float g = d * x[i] * one_minus_alpha * pr * (1.0f - pr);
    const float direct = d * (alpha[u] + pr * one_minus_alpha);
    // A masked row did not enter the statistics: no centring terms.
    const float in_stats = through_stats && RowValid(mask, row) ? 1.0f : 0.0f;
    const float centred =
        g - in_stats * (sums[u] * inv_count + normed[i] * (sums[units + u] * inv_count));
    dx[i] += direct + centred * inv_std[u];
  }
}

}  // namespace

void dice_forward(float* y, DiceCache* cache, const float* x, const float* alpha,
                  const float* mask, bool training, float* moving_mean, float* moving_var,
                  const DiceShape& shape, CudaContext* ctx) {
  CHECK(training || (moving_mean != nullptr && moving_var != nullptr))
      << "dice_forward in evaluation mode needs the moving averages";
  const int rows = shape.rows, units = shape.units;
  const size_t total = static_cast<size_t>(rows) * units;
  cache->training = training;
  if (!ctx->ok() || units <= 0) return;
  if (!cache->mean.Grow(units, ctx) || !cache->var.Grow(units, ctx) ||
      !cache->inv_std.Grow(units, ctx) || !cache->normed.Grow(total, ctx) ||
      !cache->p.Grow(total, ctx) || !cache->valid_rows.Grow(1, ctx)) {
    return;
  }
  const dim3 block(kColTile, kRowLanes);
  const int grid = (units + kColTile - 1) / kColTile;
  DiceStatsKernel<<<grid, block, 0, StreamOf(ctx)>>>(
      cache->mean.data(), cache->var.data(), cache->inv_std.data(), cache->valid_rows.data(),
      moving_mean, moving_var, x, mask, rows, units, training, static_cast<float>(shape.eps),
      static_cast<float>(shape.momentum));
  RecordLaunch(ctx, "DiceStats");
  if (total == 0) return;
  DiceForwardKernel<<<BlocksFor(total), kThreads, 0, StreamOf(ctx)>>>(
      y, cache->normed.data(), cache->p.data(), x, alpha, cache->mean.data(),
      cache->inv_std.data(), rows, units);
  RecordLaunch(ctx, "DiceForward");
}

void dice_backward(float* dx, float* dalpha, const float* dy, DiceCache* cache, const float* x,
                   const float* alpha, const float* mask, const DiceShape& shape,
                   CudaContext* ctx) {
  const int rows = shape.rows, units = shape.units;
  const size_t total = static_cast<size_t>(rows) * units;
  if (!ctx->ok() || total == 0) return;
  const float* p = cache->p.data();
  if (dalpha != nullptr) ColumnAccumulate(dalpha, rows, units, DiceAlphaGrad{dy, x, p, units}, ctx);
  if (dx == nullptr) return;
  // The column sums are only used when the statistics were the batch's;
  // computing them regardless keeps the count on the device.
  if (!cache->sums.GrowZeroed(2 * static_cast<size_t>(units), ctx)) return;
  float* sums = cache->sums.data();
  const float* normed = cache->normed.data();
  ColumnAccumulate(sums, rows, units, DiceNormedGrad{dy, x, p, normed, alpha, units, false}, ctx);
  ColumnAccumulate(sums + units, rows, units,
                   DiceNormedGrad{dy, x, p, normed, alpha, units, true}, ctx);
  DiceBackwardKernel<<<BlocksFor(total), kThreads, 0, StreamOf(ctx)>>>(
      dx, dy, x, p, normed, alpha, cache->inv_std.data(), sums, cache->valid_rows.data(), mask,
      cache->training, rows, units);
  RecordLaunch(ctx, "DiceBackward");
}

}  // namespace cuda
}  // namespace dips
