#include "worker/model/layers/activations.h"

// `#pragma omp simd` marks the element-wise loops: at -O2 GCC only vectorises
// loops whose trip count it knows, and these loops have no dependence between
// iterations (outputs never alias inputs of another index).

#include <cmath>
#include <cstdint>

namespace dips {
namespace {

// exp for the float sigmoid. glibc's expf is a scalar call, which keeps every
// loop around it scalar; this one is straight-line arithmetic the compiler
// vectorises. exp(x) = 2^n * exp(r) with n = round(x / ln2) and |r| <= ln2/2,
// where exp(r) is its Taylor series to degree 7 (remainder below 6e-9, under
// float's 6e-8 epsilon). ln2 is split in two (the first part exact in float)
// so r = x - n*ln2 loses no bits. Inputs are clamped to the range where 2^n
// stays a normal float; sigmoid only needs the limits there. Rounding uses
// the 1.5 * 2^23 trick because std::floor does not vectorise without
// -fno-trapping-math.
inline float SigmoidExp(float x) {
  constexpr float kLog2e = 1.44269504088896341f;
  constexpr float kLn2Hi = 0.693359375f;
  constexpr float kLn2Lo = -2.12194440e-4f;
  constexpr float kRound = 12582912.0f;  // 1.5 * 2^23: adding it rounds to an integer
  x = x < -87.0f ? -87.0f : (x > 88.0f ? 88.0f : x);
  const float n = (x * kLog2e + kRound) - kRound;
  const float r = (x - n * kLn2Hi) - n * kLn2Lo;
  float p = 1.0f / 5040.0f;
  p = p * r + 1.0f / 720.0f;
  p = p * r + 1.0f / 120.0f;
  p = p * r + 1.0f / 24.0f;
  p = p * r + 1.0f / 6.0f;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  // 2^n built directly in the exponent field; n is in [-126, 127].
  const int32_t bits = (static_cast<int32_t>(n) + 127) << 23;
  return p * __builtin_bit_cast(float, bits);
}

// Double is the finite-difference reference: keep libm's exact exp.
inline double SigmoidExp(double x) { return std::exp(x); }

}  // namespace

template <typename T>
void sigmoid_forward(T* y, const T* x, size_t n) {
  // exp(-x) -> +inf (double) or a huge finite value (float, clamped) for very
  // negative x; both give the correct limit 0 without a branch.
#pragma omp simd
  for (size_t i = 0; i < n; ++i) y[i] = T(1) / (T(1) + SigmoidExp(-x[i]));
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

}  // namespace dips
