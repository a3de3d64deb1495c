// Lazy Adam (Kingma & Ba 2015, applied only to rows present in a push), two
// state floats per weight: first moment m and second moment v.
//   t = update_count + 1                  (the row's own step, not global)
//   m = beta1 * m + (1 - beta1) * g
//   v = beta2 * v + (1 - beta2) * g^2
//   w -= lr * (m / (1 - beta1^t)) / (sqrt(v / (1 - beta2^t)) + epsilon)
// Using the row's own count keeps the bias correction right for rare keys:
// a key first seen at global step 10^6 still gets the corrected first step.
#include "common/adam.h"
#include "ps/optimizers/optimizers.h"

namespace dips {
namespace sparse_optimizers {

void AdamInitState(int dim, float* state) {
  for (int i = 0; i < 2 * dim; ++i) state[i] = 0.0f;
}

void AdamUpdate(const SparseOptimizerOptions& options, int dim, const float* grad,
                int64_t update_count, float* weights, float* state) {
  // The row's own update count drives the bias correction (lazy Adam).
  AdamApply(AdamStep::For(options.learning_rate, options.beta1, options.beta2, options.epsilon,
                          update_count),
            dim, grad, weights, state);
}

void AdamApply(const AdamStep& step, int dim, const float* grad, float* weights, float* state) {
  step.Apply(static_cast<size_t>(dim), grad, /*m=*/state, /*v=*/state + dim, weights);
}

}  // namespace sparse_optimizers
}  // namespace dips
