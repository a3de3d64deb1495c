#include "worker/model/layers/pooling.h"

// `#pragma omp simd` marks the element-wise loops: at -O2 GCC only vectorises
// loops whose trip count it knows, and these loops have no dependence between
// iterations (outputs never alias inputs of another index).

#include <algorithm>
#include <cmath>
#include <cstddef>

namespace dips {
namespace {

// Weight of position (b, t) in the pooled sum: mask times attention weight.
template <typename T>
T PoolCoefficient(const T* weights, const T* mask, size_t pos) {
  const T m = mask != nullptr ? mask[pos] : T(1);
  return weights != nullptr ? m * weights[pos] : m;
}

}  // namespace

template <typename T>
void weighted_sum_pooling_forward(T* out, const T* values, const T* weights, const T* mask,
                                  int batch, int length, int dim) {
  for (int b = 0; b < batch; ++b) {
    T* o = out + static_cast<size_t>(b) * dim;
    std::fill(o, o + dim, T(0));
    for (int t = 0; t < length; ++t) {
      const size_t pos = static_cast<size_t>(b) * length + t;
      const T c = PoolCoefficient(weights, mask, pos);
      if (c == T(0)) continue;  // padding: skip the row entirely
      const T* v = values + pos * dim;
#pragma omp simd
      for (int d = 0; d < dim; ++d) o[d] += c * v[d];
    }
  }
}

template <typename T>
void weighted_sum_pooling_backward(T* dvalues, T* dweights, const T* dout, const T* values,
                                   const T* weights, const T* mask, int batch, int length,
                                   int dim) {
  for (int b = 0; b < batch; ++b) {
    const T* g = dout + static_cast<size_t>(b) * dim;
    for (int t = 0; t < length; ++t) {
      const size_t pos = static_cast<size_t>(b) * length + t;
      const T m = mask != nullptr ? mask[pos] : T(1);
      if (m == T(0)) continue;
      const T* v = values + pos * dim;
      if (dvalues != nullptr) {
        const T c = weights != nullptr ? m * weights[pos] : m;
        T* dv = dvalues + pos * dim;
#pragma omp simd
        for (int d = 0; d < dim; ++d) dv[d] += c * g[d];
      }
      if (dweights != nullptr && weights != nullptr) {
        T dot = T(0);
#pragma omp simd reduction(+ : dot)
        for (int d = 0; d < dim; ++d) dot += g[d] * v[d];
        dweights[pos] += m * dot;
      }
    }
  }
}

template <typename T>
void sum_and_weighted_pooling_forward(T* sum, T* weighted, const T* values, const T* weights,
                                      const T* mask, int batch, int length, int dim) {
  for (int b = 0; b < batch; ++b) {
    T* s = sum + static_cast<size_t>(b) * dim;
    T* w = weighted + static_cast<size_t>(b) * dim;
    std::fill(s, s + dim, T(0));
    std::fill(w, w + dim, T(0));
    for (int t = 0; t < length; ++t) {
      const size_t pos = static_cast<size_t>(b) * length + t;
      const T m = mask[pos];
      if (m == T(0)) continue;
      const T c = m * weights[pos];
      const T* v = values + pos * dim;
#pragma omp simd
      for (int d = 0; d < dim; ++d) {
        s[d] += m * v[d];
        w[d] += c * v[d];
      }
    }
  }
}

template <typename T>
void sum_and_weighted_pooling_backward(T* dvalues, T* dweights, const T* dsum,
                                       const T* dweighted, const T* values, const T* weights,
                                       const T* mask, int batch, int length, int dim) {
  for (int b = 0; b < batch; ++b) {
    const T* gs = dsum + static_cast<size_t>(b) * dim;
    const T* gw = dweighted + static_cast<size_t>(b) * dim;
    for (int t = 0; t < length; ++t) {
      const size_t pos = static_cast<size_t>(b) * length + t;
      const T m = mask[pos];
      T* dv = dvalues + pos * dim;
      if (m == T(0)) {
        std::fill(dv, dv + dim, T(0));
        dweights[pos] = T(0);
        continue;
      }
      const T c = m * weights[pos];
      const T* v = values + pos * dim;
      T dot = T(0);
#pragma omp simd reduction(+ : dot)
      for (int d = 0; d < dim; ++d) {
        dv[d] = m * gs[d] + c * gw[d];
        dot += gw[d] * v[d];
      }
      dweights[pos] = m * dot;
    }
  }
}

template <typename T>
void masked_softmax_forward(T* y, const T* x, const T* mask, int batch, int length) {
  for (int b = 0; b < batch; ++b) {
    const size_t row = static_cast<size_t>(b) * length;
    // Subtract the max over valid positions so exp never overflows.
    T max_x = T(0);
    bool any = false;
    for (int t = 0; t < length; ++t) {
      if (mask[row + t] == T(0)) continue;
      max_x = any ? std::max(max_x, x[row + t]) : x[row + t];
      any = true;
    }
    T sum = T(0);
    for (int t = 0; t < length; ++t) {
      const T e = mask[row + t] != T(0) ? std::exp(x[row + t] - max_x) : T(0);
      y[row + t] = e;
      sum += e;
    }
    // sum >= 1 when any position is valid (the max contributes exp(0)).
    const T inv = any ? T(1) / sum : T(0);
    for (int t = 0; t < length; ++t) y[row + t] *= inv;
  }
}

template <typename T>
void masked_softmax_backward(T* dx, const T* dy, const T* y, const T* mask, int batch, int length) {
  // dx_t = y_t (dy_t - sum_s y_s dy_s); masked positions have y = 0 and so
  // receive exactly 0.
  for (int b = 0; b < batch; ++b) {
    const size_t row = static_cast<size_t>(b) * length;
    T dot = T(0);
    for (int t = 0; t < length; ++t) dot += y[row + t] * dy[row + t];
    for (int t = 0; t < length; ++t) dx[row + t] += y[row + t] * (dy[row + t] - dot);
  }
}

template void weighted_sum_pooling_forward<float>(float*, const float*, const float*, const float*,
                                                  int, int, int);
template void weighted_sum_pooling_forward<double>(double*, const double*, const double*,
                                                   const double*, int, int, int);
template void weighted_sum_pooling_backward<float>(float*, float*, const float*, const float*,
                                                   const float*, const float*, int, int, int);
template void weighted_sum_pooling_backward<double>(double*, double*, const double*, const double*,
                                                    const double*, const double*, int, int, int);
template void sum_and_weighted_pooling_forward<float>(float*, float*, const float*,
                                                     const float*, const float*, int, int, int);
template void sum_and_weighted_pooling_forward<double>(double*, double*, const double*,
                                                      const double*, const double*, int, int,
                                                      int);
template void sum_and_weighted_pooling_backward<float>(float*, float*, const float*, const float*,
                                                      const float*, const float*, const float*,
                                                      int, int, int);
template void sum_and_weighted_pooling_backward<double>(double*, double*, const double*,
                                                       const double*, const double*,
                                                       const double*, const double*, int, int,
                                                       int);
template void masked_softmax_forward<float>(float*, const float*, const float*, int, int);
template void masked_softmax_forward<double>(double*, const double*, const double*, int, int);
template void masked_softmax_backward<float>(float*, const float*, const float*, const float*, int,
                                             int);
template void masked_softmax_backward<double>(double*, const double*, const double*, const double*,
                                              int, int);

}  // namespace dips
