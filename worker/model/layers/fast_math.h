// exp, sigmoid and tanh that the compiler can vectorise, for the layers'
// element-wise loops.
//
// Why: glibc's expf / tanhf are opaque scalar calls (its vector variants are
// only declared under -ffast-math, which this project does not use), so a
// loop that calls them stays scalar; in the GRU they were ~30% of the time.
// FastExp(float) is straight-line arithmetic and bit operations, which GCC
// vectorises inside `#pragma omp simd` loops.
//
// Double is the finite-difference reference (tests only), so it keeps libm:
// FastExp(double) is std::exp, exact to an ulp and unclamped (exp(1000) is
// +inf, so FastSigmoid(-1000.0) is exactly 0).
//
// Accuracy of the float versions, measured against std::exp / std::tanh in
// double at every 1/256 step of [-100, 100] (measured maximum in brackets;
// tests/layers/fast_math_test.cc asserts the bounds):
//   FastExp     relative error < 1.5e-7 [9.2e-8] on [-87, 87]. Outside, the
//               input is clamped to +-87: FastExp(x) is e^87 ~ 6.1e37 above
//               and e^-87 ~ 1.6e-38 below (still a normal float).
//   FastSigmoid relative error < 2e-7 [1.3e-7] on [-87, 0); absolute error
//               < 1.2e-7 [8.8e-8] on [0, inf), float's spacing near 1; exactly
//               1 for x >= 17. Below -87 it returns 1 / (1 + e^87) ~ 1.6e-38,
//               neither a (slow) denormal nor 0.
//   FastTanh    absolute error < 2.5e-7 [1.7e-7] everywhere; exactly +-1 for
//               |x| >= 9.1.
// Thread-safe: pure functions.
#ifndef DIPS_WORKER_MODEL_LAYERS_FAST_MATH_H_
#define DIPS_WORKER_MODEL_LAYERS_FAST_MATH_H_

#include <cmath>
#include <cstdint>
#include <cstring>

namespace dips {

// Input clamp of FastExp(float). Symmetric and inside the normal range:
// 2^n stays a normal float for n = round(87 / ln2) = 126, and
// 1 / (1 + e^87) is still above FLT_MIN, so saturated sigmoids never
// produce denormals.
constexpr float kFastExpMaxInput = 87.0f;

// e^x for float. x = n ln2 + r with n = round(x / ln2) and |r| <= ln2 / 2;
// e^r is its Taylor series to degree 7 (remainder r^8 / 8! < 6e-9, under
// float's rounding), and 2^n is written straight into the exponent bits.
inline float FastExp(float x) {
  x = x < -kFastExpMaxInput ? -kFastExpMaxInput : (x > kFastExpMaxInput ? kFastExpMaxInput : x);
  // Round to the nearest integer by adding and subtracting 1.5 * 2^23 (exact
  // without -ffast-math; std::round / std::floor do not vectorise without
  // -fno-trapping-math).
  constexpr float kRound = 12582912.0f;
  const float n = (x * 1.44269504088896341f + kRound) - kRound;
  // ln2 split in a part with 15 significant bits, so n * kLn2Hi is exact for
  // |n| <= 126, and the rest (Cody-Waite): r keeps full precision.
  constexpr float kLn2Hi = 0.693145751953125f;
  constexpr float kLn2Lo = 1.4286068203094173e-06f;
  const float r = (x - n * kLn2Hi) - n * kLn2Lo;
  // Horner form of sum_{k=0}^{7} r^k / k!.
  float p = 1.0f / 5040.0f;
  p = p * r + 1.0f / 720.0f;
  p = p * r + 1.0f / 120.0f;
  p = p * r + 1.0f / 24.0f;
  p = p * r + 1.0f / 6.0f;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  // 2^n in the exponent field; n is in [-126, 126].
  const int32_t bits = (static_cast<int32_t>(n) + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof(scale));
  return p * scale;
}

// The finite-difference reference: libm's exact exp.
inline double FastExp(double x) { return std::exp(x); }

// 1 / (1 + e^-x). e^-x is huge (float, clamped) or +inf (double) for very
// negative x; both give the limit 0 without a branch.
template <typename T>
inline T FastSigmoid(T x) {
  return T(1) / (T(1) + FastExp(-x));
}

// tanh(x) = 1 - 2 / (e^{2x} + 1): an absolute error of about one rounding
// near 0, which is what a GRU state update h + z (hc - h) is sensitive to.
template <typename T>
inline T FastTanh(T x) {
  return T(1) - T(2) / (FastExp(T(2) * x) + T(1));
}

}  // namespace dips

#endif  // DIPS_WORKER_MODEL_LAYERS_FAST_MATH_H_
