// The Adam update rule (Kingma & Ba), shared by the sparse optimiser (one
// embedding row on a server) and the dense optimiser (the flat parameter
// buffer on a worker), so both apply exactly the same arithmetic.
#ifndef DIPS_COMMON_ADAM_H_
#define DIPS_COMMON_ADAM_H_

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <vector>

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
    return {learning_rate, beta1, beta2, epsilon, Correction(beta1, updates_before),
            Correction(beta2, updates_before)};
  }

  // 1 - beta^t for t = updates_before + 1, rounded to float.
  static float Correction(float beta, int64_t updates_before) {
    const double t = static_cast<double>(updates_before) + 1.0;
    return static_cast<float>(1.0 - std::pow(double{beta}, t));
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

// AdamStep::For for one (beta1, beta2) pair, with the bias corrections of the
// first updates computed once: a sparse table applies Adam to one row at a
// time, each row at its own update count, and two pow calls per row cost
// more than the row's update. Gives the very floats For gives.
class AdamCorrections {
 public:
  // Tabulates updates until both corrections are 1.0f for good, or until
  // max_updates (beyond it, Step calls pow). With beta2 = 0.999 that takes
  // about 18,000 updates (140 KiB).
  AdamCorrections(float beta1, float beta2, int64_t max_updates = int64_t{1} << 18)
      : beta1_(beta1), beta2_(beta2) {
    // Once beta^t < 2^-26, 1 - beta^t and every later value round to 1.0f:
    // float's neighbour below 1 is 1 - 2^-24.
    const double negligible = std::ldexp(1.0, -26);
    for (int64_t before = 0; before < max_updates; ++before) {
      const double t = static_cast<double>(before) + 1.0;
      if (std::pow(double{beta1}, t) < negligible && std::pow(double{beta2}, t) < negligible) {
        saturated_ = true;
        break;
      }
      table_.push_back({AdamStep::Correction(beta1, before), AdamStep::Correction(beta2, before)});
    }
  }

  AdamStep Step(float learning_rate, float epsilon, int64_t updates_before) const {
    if (updates_before >= 0 && static_cast<uint64_t>(updates_before) < table_.size()) {
      const Pair& c = table_[static_cast<size_t>(updates_before)];
      return {learning_rate, beta1_, beta2_, epsilon, c.first, c.second};
    }
    if (saturated_ && updates_before >= 0) {
      return {learning_rate, beta1_, beta2_, epsilon, 1.0f, 1.0f};
    }
    return AdamStep::For(learning_rate, beta1_, beta2_, epsilon, updates_before);
  }

  size_t tabulated() const { return table_.size(); }
  bool saturated() const { return saturated_; }

 private:
  struct Pair {
    float first;   // 1 - beta1^t
    float second;  // 1 - beta2^t
  };
  float beta1_;
  float beta2_;
  std::vector<Pair> table_;  // index: updates before
  bool saturated_ = false;   // every update past the table has corrections 1.0f
};

}  // namespace dips

#endif  // DIPS_COMMON_ADAM_H_
