// Lazy Adam (Kingma & Ba 2015, applied only to rows present in a push), two
// state floats per weight: first moment m and second moment v.
//   t = update_count + 1                  (the row's own step, not global)
//   m = beta1 * m + (1 - beta1) * g
//   v = beta2 * v + (1 - beta2) * g^2
//   w -= lr * (m / (1 - beta1^t)) / (sqrt(v / (1 - beta2^t)) + epsilon)
// Using the row's own count keeps the bias correction right for rare keys:
// a key first seen at global step 10^6 still gets the corrected first step.
#include <cmath>

#include "ps/optimizers/optimizers.h"

namespace dips {
namespace sparse_optimizers {

void AdamInitState(int dim, float* state) {
  for (int i = 0; i < 2 * dim; ++i) state[i] = 0.0f;
}

void AdamUpdate(const SparseOptimizerOptions& options, int dim, const float* grad,
                int64_t update_count, float* weights, float* state) {
  const double t = static_cast<double>(update_count) + 1.0;
  // 1 - beta^t in double: for beta2 = 0.999 and small t the float version
  // loses most of its digits to cancellation.
  const float correction1 = static_cast<float>(1.0 - std::pow(double{options.beta1}, t));
  const float correction2 = static_cast<float>(1.0 - std::pow(double{options.beta2}, t));
  const float b1 = options.beta1;
  const float b2 = options.beta2;
  const float lr = options.learning_rate;
  const float eps = options.epsilon;
  float* m = state;
  float* v = state + dim;
  for (int i = 0; i < dim; ++i) {
    const float g = grad[i];
    m[i] = b1 * m[i] + (1.0f - b1) * g;
    v[i] = b2 * v[i] + (1.0f - b2) * g * g;
    const float m_hat = m[i] / correction1;
    const float v_hat = v[i] / correction2;
    weights[i] -= lr * m_hat / (std::sqrt(v_hat) + eps);
  }
}

}  // namespace sparse_optimizers
}  // namespace dips
