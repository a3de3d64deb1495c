#include "worker/model/layers/loss.h"

#include <cmath>
#include <type_traits>

#include "worker/model/layers/fast_math.h"

namespace dips {

namespace {

// log(1 + e) for e in (0, 1], in double, as 2 atanh(s) with s = e / (2 + e)
// in (0, 1/3]: the odd series to s^17 leaves a relative error under 2e-10
// (the next term over the sum is at most s^18 / 19), straight-line
// arithmetic that vectorises where std::log1p is a scalar call. Float
// losses only: the double reference keeps libm.
inline double Log1pOfUnitInterval(double e) {
  const double s = e / (2.0 + e);
  const double s2 = s * s;
  double p = 1.0 / 17;
  p = p * s2 + 1.0 / 15;
  p = p * s2 + 1.0 / 13;
  p = p * s2 + 1.0 / 11;
  p = p * s2 + 1.0 / 9;
  p = p * s2 + 1.0 / 7;
  p = p * s2 + 1.0 / 5;
  p = p * s2 + 1.0 / 3;
  p = p * s2 + 1.0;
  return 2.0 * s * p;
}

}  // namespace

template <typename T>
T sigmoid_bce_forward(T* probs, const T* logits, const T* labels, int n) {
  // BCE(y, sigmoid(z)) = max(z, 0) - z*y + log(1 + exp(-|z|)): no exp of a
  // large positive number and no log of 0, for any logit. The mean is
  // accumulated in double so a large float batch does not lose digits.
  double total = 0.0;
  if constexpr (std::is_same_v<T, float>) {
    // The aux loss's ~10^4 logits a batch: FastExp and the series above
    // vectorise (std::exp and std::log1p were scalar calls).
#pragma omp simd reduction(+ : total)
    for (int i = 0; i < n; ++i) {
      const float z = logits[i];
      const float e = FastExp(-std::fabs(z));  // in (0, 1]
      probs[i] = z >= 0.0f ? 1.0f / (1.0f + e) : e / (1.0f + e);
      total += static_cast<double>(z > 0.0f ? z : 0.0f) - static_cast<double>(z) * labels[i] +
               Log1pOfUnitInterval(static_cast<double>(e));
    }
  } else {
    for (int i = 0; i < n; ++i) {
      const T z = logits[i];
      const T e = std::exp(-std::fabs(z));  // in (0, 1]
      probs[i] = z >= T(0) ? T(1) / (T(1) + e) : e / (T(1) + e);
      total += static_cast<double>(z > T(0) ? z : T(0)) - static_cast<double>(z) * labels[i] +
               std::log1p(static_cast<double>(e));
    }
  }
  return n > 0 ? static_cast<T>(total / n) : T(0);
}

template <typename T>
void sigmoid_bce_backward(T* dlogits, const T* probs, const T* labels, int n, T scale) {
  if (n <= 0) return;
  const T k = scale / T(n);
  for (int i = 0; i < n; ++i) dlogits[i] += k * (probs[i] - labels[i]);
}

template float sigmoid_bce_forward<float>(float*, const float*, const float*, int);
template double sigmoid_bce_forward<double>(double*, const double*, const double*, int);
template void sigmoid_bce_backward<float>(float*, const float*, const float*, int, float);
template void sigmoid_bce_backward<double>(double*, const double*, const double*, int, double);

}  // namespace dips
