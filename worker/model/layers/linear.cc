#include "worker/model/layers/linear.h"

// `#pragma omp simd` marks the element-wise loops: at -O2 GCC only vectorises
// loops whose trip count it knows, and these loops have no dependence between
// iterations (outputs never alias inputs of another index).

#include <algorithm>
#include <cstddef>

#include "worker/model/layers/gemm.h"

namespace dips {

template <typename T>
void linear_forward(T* y, const T* x, const T* w, const T* b, int n, int in, int out) {
  // Seed y with the bias so the GEMM can add into it (beta = 1) instead of a
  // second pass over y.
  T beta = T(0);
  if (b != nullptr) {
    for (int i = 0; i < n; ++i) {
      std::copy(b, b + out, y + static_cast<size_t>(i) * out);
    }
    beta = T(1);
  }
  Gemm(false, false, n, out, in, T(1), x, in, w, out, beta, y, out);
}

template <typename T>
void linear_backward(T* dx, T* dw, T* db, const T* dy, const T* x, const T* w, int n, int in,
                     int out) {
  if (dx != nullptr) {
    // dx[n x in] += dy[n x out] . w^T
    Gemm(false, true, n, in, out, T(1), dy, out, w, out, T(1), dx, in);
  }
  if (dw != nullptr) {
    // dw[in x out] += x^T . dy
    Gemm(true, false, in, out, n, T(1), x, in, dy, out, T(1), dw, out);
  }
  if (db != nullptr) {
    for (int i = 0; i < n; ++i) {
      const T* row = dy + static_cast<size_t>(i) * out;
#pragma omp simd
      for (int j = 0; j < out; ++j) db[j] += row[j];
    }
  }
}

template void linear_forward<float>(float*, const float*, const float*, const float*, int, int,
                                    int);
template void linear_forward<double>(double*, const double*, const double*, const double*, int, int,
                                     int);
template void linear_backward<float>(float*, float*, float*, const float*, const float*,
                                     const float*, int, int, int);
template void linear_backward<double>(double*, double*, double*, const double*, const double*,
                                      const double*, int, int, int);

}  // namespace dips
