// Accuracy of the vectorisable float exp / sigmoid / tanh (fast_math.h)
// against libm in double, over a dense grid that runs past the input clamp.
// The bounds are the ones fast_math.h documents; the reference values come
// from std::exp / std::tanh in double, whose own error (~1e-16) is far below.
#include <gtest/gtest.h>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstdio>

#include "worker/model/layers/fast_math.h"

namespace dips {
namespace {

// Every 1/256 in [-100, 100]: exact floats, dense enough to hit every range
// reduction interval (width ln2 ~ 177 steps) many times, and past +-87.
constexpr int kStepsPerUnit = 256;
constexpr int kLimit = 100;

template <typename F>
void ForEachGridPoint(F f) {
  for (int i = -kLimit * kStepsPerUnit; i <= kLimit * kStepsPerUnit; ++i) {
    f(static_cast<float>(i) / kStepsPerUnit);
  }
}

TEST(FastMathTest, ExpRelativeErrorInsideClamp) {
  double worst = 0.0;
  ForEachGridPoint([&](float x) {
    if (std::fabs(x) > kFastExpMaxInput) return;
    const double want = std::exp(static_cast<double>(x));
    worst = std::max(worst, std::fabs(FastExp(x) - want) / want);
  });
  std::printf("[fast_math] FastExp worst relative error on [-87, 87]: %.3e\n", worst);
  EXPECT_LT(worst, 1.5e-7);
}

TEST(FastMathTest, ExpClampsToNormalFloats) {
  const float top = FastExp(kFastExpMaxInput), bottom = FastExp(-kFastExpMaxInput);
  EXPECT_NEAR(top, std::exp(87.0), 1.5e-7 * std::exp(87.0));
  EXPECT_NEAR(bottom, std::exp(-87.0), 1.5e-7 * std::exp(-87.0));
  EXPECT_GE(bottom, FLT_MIN);  // normal, not denormal
  for (float x : {88.0f, 100.0f, 1e10f, HUGE_VALF}) {
    EXPECT_EQ(FastExp(x), top) << x;
    EXPECT_EQ(FastExp(-x), bottom) << -x;
  }
}

TEST(FastMathTest, SigmoidAccuracyAndSaturation) {
  // Below 0 sigmoid is small and must be relatively accurate; above, float
  // cannot resolve 1 - y under its spacing near 1 (1.2e-7), so the error
  // there is absolute.
  double worst_rel = 0.0, worst_abs = 0.0;
  ForEachGridPoint([&](float x) {
    const float y = FastSigmoid(x);
    const double want = 1.0 / (1.0 + std::exp(-static_cast<double>(x)));
    if (x < -kFastExpMaxInput) {
      // Clamped: 1 / (1 + e^87), a normal float instead of the true ~0.
      EXPECT_EQ(y, FastSigmoid(-kFastExpMaxInput)) << x;
    } else if (x < 0.0f) {
      worst_rel = std::max(worst_rel, std::fabs(y - want) / want);
    } else {
      worst_abs = std::max(worst_abs, std::fabs(y - want));
    }
    if (x >= 17.0f) {
      EXPECT_EQ(y, 1.0f) << x;
    }
  });
  std::printf("[fast_math] FastSigmoid worst rel err (x<0) %.3e, abs err (x>=0) %.3e\n",
              worst_rel, worst_abs);
  EXPECT_LT(worst_rel, 2e-7);
  EXPECT_LT(worst_abs, 1.2e-7);
  const float floor = FastSigmoid(-kFastExpMaxInput);
  EXPECT_GE(floor, FLT_MIN);
  EXPECT_LT(floor, 2e-38f);
  EXPECT_EQ(FastSigmoid(0.0f), 0.5f);
}

TEST(FastMathTest, TanhAccuracyAndSaturation) {
  double worst = 0.0;
  ForEachGridPoint([&](float x) {
    const float y = FastTanh(x);
    worst = std::max(worst, std::fabs(y - std::tanh(static_cast<double>(x))));
    if (x >= 9.1f) {
      EXPECT_EQ(y, 1.0f) << x;
    }
    if (x <= -9.1f) {
      EXPECT_EQ(y, -1.0f) << x;
    }
  });
  std::printf("[fast_math] FastTanh worst absolute error: %.3e\n", worst);
  EXPECT_LT(worst, 2.5e-7);
  EXPECT_EQ(FastTanh(0.0f), 0.0f);
}

TEST(FastMathTest, DoubleIsLibm) {
  // The finite-difference tests rely on double being exact and unclamped.
  for (double x : {-1000.0, -709.0, -1.5, 0.0, 0.25, 700.0, 1000.0}) {
    EXPECT_EQ(FastExp(x), std::exp(x)) << x;
  }
  EXPECT_EQ(FastSigmoid(-1000.0), 0.0);
  EXPECT_EQ(FastSigmoid(1000.0), 1.0);
  EXPECT_EQ(FastTanh(-1000.0), -1.0);
  EXPECT_EQ(FastTanh(1000.0), 1.0);
  EXPECT_NEAR(FastTanh(0.3), std::tanh(0.3), 1e-16);
}

}  // namespace
}  // namespace dips
