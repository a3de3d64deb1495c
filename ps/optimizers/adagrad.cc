// Adagrad (Duchi et al. 2011), one accumulator float per weight:
//   acc += g^2;  w -= learning_rate * g / sqrt(acc).
// acc starts at adagrad_initial_accumulator (> 0), so the first step is
// bounded by learning_rate * |g| / sqrt(initial) and never divides by zero.
#include <cmath>

#include "ps/optimizers/optimizers.h"

namespace dips {
namespace sparse_optimizers {

void AdagradInitState(const SparseOptimizerOptions& options, int dim, float* state) {
  for (int i = 0; i < dim; ++i) state[i] = options.adagrad_initial_accumulator;
}

void AdagradUpdate(const SparseOptimizerOptions& options, int dim, const float* grad,
                   float* weights, float* state) {
  const float lr = options.learning_rate;
  float* acc = state;
  // One row's weights, accumulators and gradient never overlap.
#pragma omp simd
  for (int i = 0; i < dim; ++i) {
    const float g = grad[i];
    acc[i] += g * g;
    weights[i] -= lr * g / std::sqrt(acc[i]);
  }
}

}  // namespace sparse_optimizers
}  // namespace dips
