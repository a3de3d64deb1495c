#include "worker/model/layers/loss.h"

#include <cmath>

namespace dips {

template <typename T>
T sigmoid_bce_forward(T* probs, const T* logits, const T* labels, int n) {
  // BCE(y, sigmoid(z)) = max(z, 0) - z*y + log(1 + exp(-|z|)): no exp of a
  // large positive number and no log of 0, for any logit. The mean is
  // accumulated in double so a large float batch does not lose digits.
  double total = 0.0;
  for (int i = 0; i < n; ++i) {
    const T z = logits[i];
    const T e = std::exp(-std::fabs(z));  // in (0, 1]
    probs[i] = z >= T(0) ? T(1) / (T(1) + e) : e / (T(1) + e);
    total += static_cast<double>(z > T(0) ? z : T(0)) - static_cast<double>(z) * labels[i] +
             std::log1p(static_cast<double>(e));
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
