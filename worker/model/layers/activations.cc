#include "worker/model/layers/activations.h"

// `#pragma omp simd` marks the element-wise loops: at -O2 GCC only vectorises
// loops whose trip count it knows, and these loops have no dependence between
// iterations (outputs never alias inputs of another index).

#include "worker/model/layers/fast_math.h"

namespace dips {

template <typename T>
void sigmoid_forward(T* y, const T* x, size_t n) {
#pragma omp simd
  for (size_t i = 0; i < n; ++i) y[i] = FastSigmoid(x[i]);
}

template <typename T>
void sigmoid_backward(T* dx, const T* dy, const T* y, size_t n) {
#pragma omp simd
  for (size_t i = 0; i < n; ++i) dx[i] += dy[i] * y[i] * (T(1) - y[i]);
}

template <typename T>
void prelu_forward(T* y, const T* x, const T* alpha, int n, int units) {
  for (int i = 0; i < n; ++i) {
    const T* xr = x + static_cast<size_t>(i) * units;
    T* yr = y + static_cast<size_t>(i) * units;
#pragma omp simd
    for (int u = 0; u < units; ++u) yr[u] = xr[u] > T(0) ? xr[u] : alpha[u] * xr[u];
  }
}

template <typename T>
void prelu_backward(T* dx, T* dalpha, const T* dy, const T* x, const T* alpha, int n, int units) {
  // At x == 0 the subgradient of the negative side is used (slope alpha,
  // d/dalpha = x = 0), matching the forward's strict x > 0 test.
  for (int i = 0; i < n; ++i) {
    const T* xr = x + static_cast<size_t>(i) * units;
    const T* dyr = dy + static_cast<size_t>(i) * units;
    if (dx != nullptr) {
      T* dxr = dx + static_cast<size_t>(i) * units;
#pragma omp simd
      for (int u = 0; u < units; ++u) dxr[u] += xr[u] > T(0) ? dyr[u] : alpha[u] * dyr[u];
    }
    if (dalpha != nullptr) {
#pragma omp simd
      for (int u = 0; u < units; ++u) dalpha[u] += xr[u] > T(0) ? T(0) : xr[u] * dyr[u];
    }
  }
}

template <typename T>
void prelu_backward_overwrite(T* dx, T* dalpha, const T* dy, const T* x, const T* alpha, int n,
                              int units) {
  for (int i = 0; i < n; ++i) {
    const T* xr = x + static_cast<size_t>(i) * units;
    const T* dyr = dy + static_cast<size_t>(i) * units;
    T* dxr = dx + static_cast<size_t>(i) * units;
    if (dalpha != nullptr) {
      // One pass over the row for both outputs.
#pragma omp simd
      for (int u = 0; u < units; ++u) {
        const bool positive = xr[u] > T(0);
        dxr[u] = positive ? dyr[u] : alpha[u] * dyr[u];
        dalpha[u] += positive ? T(0) : xr[u] * dyr[u];
      }
    } else {
#pragma omp simd
      for (int u = 0; u < units; ++u) dxr[u] = xr[u] > T(0) ? dyr[u] : alpha[u] * dyr[u];
    }
  }
}

template void sigmoid_forward<float>(float*, const float*, size_t);
template void sigmoid_forward<double>(double*, const double*, size_t);
template void sigmoid_backward<float>(float*, const float*, const float*, size_t);
template void sigmoid_backward<double>(double*, const double*, const double*, size_t);
template void prelu_forward<float>(float*, const float*, const float*, int, int);
template void prelu_forward<double>(double*, const double*, const double*, int, int);
template void prelu_backward<float>(float*, float*, const float*, const float*, const float*, int,
                                    int);
template void prelu_backward<double>(double*, double*, const double*, const double*, const double*,
                                     int, int);
template void prelu_backward_overwrite<float>(float*, float*, const float*, const float*,
                                              const float*, int, int);
template void prelu_backward_overwrite<double>(double*, double*, const double*, const double*,
                                               const double*, int, int);

}  // namespace dips
