#include "worker/model/layers/dice.h"

// `#pragma omp simd` marks the element-wise loops: at -O2 GCC only vectorises
// loops whose trip count it knows, and these loops have no dependence between
// iterations (outputs never alias inputs of another index).

#include <glog/logging.h>

#include <algorithm>
#include <cmath>

#include "worker/model/layers/activations.h"

namespace dips {
namespace {

// Per-unit column sums are accumulated in blocks of units held on the stack,
// so the inner loop runs over contiguous units (vectorisable) and backward
// needs no heap scratch whatever the width.
constexpr int kUnitBlock = 64;

template <typename T>
bool RowValid(const T* mask, int i) {
  return mask == nullptr || mask[i] != T(0);
}

}  // namespace

template <typename T>
void dice_forward(T* y, DiceCache<T>* cache, const T* x, const T* alpha, const T* mask,
                  bool training, T* moving_mean, T* moving_var, const DiceShape& shape) {
  const int rows = shape.rows;
  const int units = shape.units;
  const size_t total = static_cast<size_t>(rows) * units;
  cache->mean.resize(units);
  cache->var.resize(units);
  cache->inv_std.resize(units);
  cache->normed.resize(total);
  cache->p.resize(total);
  T* mean = cache->mean.data();
  T* var = cache->var.data();

  int valid = 0;
  if (training) {
    for (int i = 0; i < rows; ++i) valid += RowValid(mask, i) ? 1 : 0;
  }
  cache->training = training;
  cache->valid_rows = valid;

  if (training && valid > 0) {
    // Two passes (mean, then squared deviations) rather than E[x^2] - E[x]^2,
    // which cancels badly in float when |mean| >> std.
    std::fill(mean, mean + units, T(0));
    std::fill(var, var + units, T(0));
    for (int i = 0; i < rows; ++i) {
      if (!RowValid(mask, i)) continue;
      const T* xr = x + static_cast<size_t>(i) * units;
#pragma omp simd
      for (int u = 0; u < units; ++u) mean[u] += xr[u];
    }
    const T inv_count = T(1) / T(valid);
    for (int u = 0; u < units; ++u) mean[u] *= inv_count;
    for (int i = 0; i < rows; ++i) {
      if (!RowValid(mask, i)) continue;
      const T* xr = x + static_cast<size_t>(i) * units;
#pragma omp simd
      for (int u = 0; u < units; ++u) {
        const T d = xr[u] - mean[u];
        var[u] += d * d;
      }
    }
    for (int u = 0; u < units; ++u) var[u] *= inv_count;  // biased, as in batch norm
    if (moving_mean != nullptr && moving_var != nullptr) {
      const T m = static_cast<T>(shape.momentum);
      for (int u = 0; u < units; ++u) {
        moving_mean[u] = m * moving_mean[u] + (T(1) - m) * mean[u];
        moving_var[u] = m * moving_var[u] + (T(1) - m) * var[u];
      }
    }
  } else if (moving_mean != nullptr && moving_var != nullptr) {
    // Evaluation, or a training batch without a single valid row (nothing to
    // take statistics from; every output is padding the caller ignores):
    // use the moving averages and leave them alone.
    std::copy(moving_mean, moving_mean + units, mean);
    std::copy(moving_var, moving_var + units, var);
  } else {
    CHECK(training) << "dice_forward in evaluation mode needs the moving averages";
    // Training without valid rows and without moving averages: any finite
    // statistics do, since no output of this call is used.
    std::fill(mean, mean + units, T(0));
    std::fill(var, var + units, T(1));
  }

  const T eps = static_cast<T>(shape.eps);
  T* inv_std = cache->inv_std.data();
  for (int u = 0; u < units; ++u) inv_std[u] = T(1) / std::sqrt(var[u] + eps);
  T* normed = cache->normed.data();
  T* p = cache->p.data();
  for (int i = 0; i < rows; ++i) {
    const size_t off = static_cast<size_t>(i) * units;
#pragma omp simd
    for (int u = 0; u < units; ++u) normed[off + u] = (x[off + u] - mean[u]) * inv_std[u];
  }
  sigmoid_forward(p, normed, total);
  for (int i = 0; i < rows; ++i) {
    const size_t off = static_cast<size_t>(i) * units;
#pragma omp simd
    for (int u = 0; u < units; ++u) {
      y[off + u] = x[off + u] * (alpha[u] + p[off + u] * (T(1) - alpha[u]));
    }
  }
}

// With g = dL/dnormed = dy * x * (1 - alpha) * p * (1 - p), sigma =
// sqrt(var + eps) and c valid rows, the batch-statistics gradient is
//   dx_i = dy_i * (alpha + p_i (1 - alpha))
//        + (g_i - [i valid] * (sum_j g_j + normed_i * sum_j g_j normed_j) / c) / sigma
// where the sums run over ALL rows: a masked row's output still depends on
// mean and var, so its g feeds the valid rows' gradients. A masked row's own
// dx keeps only the first two terms (the exact gradient of its output, since
// it does not enter the statistics); callers that pad usually zero dy there.
template <typename T>
void dice_backward(T* dx, T* dalpha, const T* dy, const DiceCache<T>& cache, const T* x,
                   const T* alpha, const T* mask, const DiceShape& shape) {
  const int rows = shape.rows;
  const int units = shape.units;
  const T* inv_std = cache.inv_std.data();
  const T* normed = cache.normed.data();
  const T* p = cache.p.data();
  const bool through_stats = cache.training && cache.valid_rows > 0;

  if (dalpha != nullptr) {
    for (int i = 0; i < rows; ++i) {
      const size_t off = static_cast<size_t>(i) * units;
#pragma omp simd
      for (int u = 0; u < units; ++u) dalpha[u] += dy[off + u] * x[off + u] * (T(1) - p[off + u]);
    }
  }
  if (dx == nullptr) return;

  const T inv_count = through_stats ? T(1) / T(cache.valid_rows) : T(0);
  for (int u0 = 0; u0 < units; u0 += kUnitBlock) {
    const int nb = std::min(kUnitBlock, units - u0);
    T one_minus_alpha[kUnitBlock];
    T sum_g[kUnitBlock];
    T sum_gn[kUnitBlock];
    for (int u = 0; u < nb; ++u) {
      one_minus_alpha[u] = T(1) - alpha[u0 + u];
      sum_g[u] = T(0);
      sum_gn[u] = T(0);
    }
    if (through_stats) {
      for (int i = 0; i < rows; ++i) {
        const size_t off = static_cast<size_t>(i) * units + u0;
#pragma omp simd
        for (int u = 0; u < nb; ++u) {
          const T pr = p[off + u];
          const T g = dy[off + u] * x[off + u] * one_minus_alpha[u] * pr * (T(1) - pr);
          sum_g[u] += g;
          sum_gn[u] += g * normed[off + u];
        }
      }
      for (int u = 0; u < nb; ++u) {
        sum_g[u] *= inv_count;
        sum_gn[u] *= inv_count;
      }
    }
    for (int i = 0; i < rows; ++i) {
      const size_t off = static_cast<size_t>(i) * units + u0;
      // A masked row did not enter the statistics: no centring terms.
      const T in_stats = through_stats && RowValid(mask, i) ? T(1) : T(0);
#pragma omp simd
      for (int u = 0; u < nb; ++u) {
        const T pr = p[off + u];
        const T d = dy[off + u];
        const T g = d * x[off + u] * one_minus_alpha[u] * pr * (T(1) - pr);
        const T direct = d * (alpha[u0 + u] + pr * one_minus_alpha[u]);
        const T centred = g - in_stats * (sum_g[u] + normed[off + u] * sum_gn[u]);
        dx[off + u] += direct + centred * inv_std[u0 + u];
      }
    }
  }
}

template void dice_forward<float>(float*, DiceCache<float>*, const float*, const float*,
                                  const float*, bool, float*, float*, const DiceShape&);
template void dice_forward<double>(double*, DiceCache<double>*, const double*, const double*,
                                   const double*, bool, double*, double*, const DiceShape&);
template void dice_backward<float>(float*, float*, const float*, const DiceCache<float>&,
                                   const float*, const float*, const float*, const DiceShape&);
template void dice_backward<double>(double*, double*, const double*, const DiceCache<double>&,
                                    const double*, const double*, const double*, const DiceShape&);

}  // namespace dips
