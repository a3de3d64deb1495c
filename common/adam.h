// The Adam update rule (Kingma & Ba), shared by the sparse optimiser (one
// embedding row on a server) and the dense optimiser (the flat parameter
// buffer on a worker), so both apply exactly the same arithmetic.
#ifndef DIPS_COMMON_ADAM_H_
#define DIPS_COMMON_ADAM_H_

#include <cmath>
#include <cstddef>
#include <cstdint>

namespace dips {

struct AdamStep {
  float learning_rate;
  float beta1;
  float beta2;
  float epsilon;
  float correction1;  // 1 - beta1^t
  float correction2;  // 1 - beta2^t

  // The coefficients of update number t = updates_before + 1. The bias
  // corrections are computed in double: 1 - 0.999^t in float loses most of
  // its digits to cancellation for small t.
  static AdamStep For(float learning_rate, float beta1, float beta2, float epsilon,
                      int64_t updates_before) {
    const double t = static_cast<double>(updates_before) + 1.0;
    return {learning_rate, beta1, beta2, epsilon,
            static_cast<float>(1.0 - std::pow(double{beta1}, t)),
            static_cast<float>(1.0 - std::pow(double{beta2}, t))};
  }

  // m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g^2;
  // w -= lr * (m / c1) / (sqrt(v / c2) + eps), for n coordinates.
  // grad, m, v and weights do not overlap (one row's, or the dense buffers).
  void Apply(size_t n, const float* grad, float* m, float* v, float* weights) const {
#pragma omp simd
    for (size_t i = 0; i < n; ++i) {
      const float g = grad[i];
      m[i] = beta1 * m[i] + (1.0f - beta1) * g;
      v[i] = beta2 * v[i] + (1.0f - beta2) * g * g;
      weights[i] -= learning_rate * (m[i] / correction1) /
                    (std::sqrt(v[i] / correction2) + epsilon);
    }
  }
};

}  // namespace dips

#endif  // DIPS_COMMON_ADAM_H_
