// Each sparse optimiser against its update rule evaluated in double, step by
// step, for a few steps and two or three weights.
#include "ps/sparse_optimizer.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include <gtest/gtest.h>

namespace dips {
namespace {

// Relative tolerance for float code against a double reference over a few
// steps: a handful of float roundings (2^-24 each) per step.
void ExpectClose(double expected, float actual, const char* what, int step) {
  EXPECT_NEAR(expected, actual, 1e-5 * std::max(1.0, std::fabs(expected)))
      << what << " after step " << step;
}

// Three steps of gradients for two weights, mixed signs and magnitudes.
const std::vector<std::vector<float>> kGrads = {{1.0f, -2.0f}, {0.5f, 4.0f}, {-3.0f, 0.25f}};
constexpr int kDim = 2;

TEST(SparseOptimizerTest, NamesRoundTripAndStateSizes) {
  for (SparseOptimizerKind kind : {SparseOptimizerKind::kSgd, SparseOptimizerKind::kAdagrad,
                                   SparseOptimizerKind::kAdam, SparseOptimizerKind::kFtrl}) {
    StatusOr<SparseOptimizerKind> parsed = ParseSparseOptimizerKind(SparseOptimizerName(kind));
    ASSERT_TRUE(parsed.ok());
    EXPECT_EQ(kind, *parsed);
  }
  EXPECT_EQ(StatusCode::kInvalidArgument, ParseSparseOptimizerKind("Adagrad").status().code());
  EXPECT_EQ(StatusCode::kInvalidArgument, ParseSparseOptimizerKind("").status().code());
  EXPECT_EQ(0, StateFloatsPerWeight(SparseOptimizerKind::kSgd));
  EXPECT_EQ(1, StateFloatsPerWeight(SparseOptimizerKind::kAdagrad));
  EXPECT_EQ(2, StateFloatsPerWeight(SparseOptimizerKind::kAdam));
  EXPECT_EQ(2, StateFloatsPerWeight(SparseOptimizerKind::kFtrl));
}

TEST(SparseOptimizerTest, ValidateRejectsOutOfRangeOptions) {
  SparseOptimizerOptions ok;
  for (SparseOptimizerKind kind : {SparseOptimizerKind::kSgd, SparseOptimizerKind::kAdagrad,
                                   SparseOptimizerKind::kAdam, SparseOptimizerKind::kFtrl}) {
    ok.kind = kind;
    EXPECT_TRUE(ValidateSparseOptimizerOptions(ok).ok()) << SparseOptimizerName(kind);
    SparseOptimizerOptions bad = ok;
    bad.learning_rate = 0.0f;
    EXPECT_FALSE(ValidateSparseOptimizerOptions(bad).ok()) << SparseOptimizerName(kind);
    bad.learning_rate = NAN;
    EXPECT_FALSE(ValidateSparseOptimizerOptions(bad).ok()) << SparseOptimizerName(kind);
  }
  SparseOptimizerOptions bad;
  bad.kind = SparseOptimizerKind::kAdagrad;
  bad.adagrad_initial_accumulator = 0.0f;
  EXPECT_FALSE(ValidateSparseOptimizerOptions(bad).ok());
  bad = SparseOptimizerOptions();
  bad.kind = SparseOptimizerKind::kAdam;
  bad.beta2 = 1.0f;
  EXPECT_FALSE(ValidateSparseOptimizerOptions(bad).ok());
  bad = SparseOptimizerOptions();
  bad.kind = SparseOptimizerKind::kFtrl;
  bad.ftrl_l1 = -0.5f;
  EXPECT_FALSE(ValidateSparseOptimizerOptions(bad).ok());
  bad.ftrl_l1 = 0.0f;
  bad.ftrl_beta = 0.0f;
  EXPECT_FALSE(ValidateSparseOptimizerOptions(bad).ok());
}

TEST(SparseOptimizerTest, SgdIsExactWithPowersOfTwo) {
  SparseOptimizerOptions options;
  options.kind = SparseOptimizerKind::kSgd;
  options.learning_rate = 0.125f;  // a power of two: every product is exact
  float w[kDim] = {0.5f, -0.25f};
  double expected[kDim] = {0.5, -0.25};
  for (size_t t = 0; t < kGrads.size(); ++t) {
    ApplySparseUpdate(options, kDim, kGrads[t].data(), t, w, nullptr);
    for (int i = 0; i < kDim; ++i) {
      expected[i] -= 0.125 * kGrads[t][i];
      EXPECT_EQ(static_cast<float>(expected[i]), w[i]) << "weight " << i << " step " << t;
    }
  }
}

TEST(SparseOptimizerTest, AdagradFollowsAccumulatorRule) {
  SparseOptimizerOptions options;
  options.kind = SparseOptimizerKind::kAdagrad;
  options.learning_rate = 0.1f;
  options.adagrad_initial_accumulator = 0.1f;
  float w[kDim] = {0.5f, -0.25f};
  float state[kDim];
  InitSparseOptimizerState(options, kDim, w, state);
  double ref_w[kDim] = {0.5, -0.25};
  double ref_acc[kDim] = {double{0.1f}, double{0.1f}};
  for (int i = 0; i < kDim; ++i) EXPECT_EQ(0.1f, state[i]);
  for (size_t t = 0; t < kGrads.size(); ++t) {
    ApplySparseUpdate(options, kDim, kGrads[t].data(), t, w, state);
    for (int i = 0; i < kDim; ++i) {
      const double g = kGrads[t][i];
      ref_acc[i] += g * g;
      ref_w[i] -= double{0.1f} * g / std::sqrt(ref_acc[i]);
      ExpectClose(ref_acc[i], state[i], "accumulator", t);
      ExpectClose(ref_w[i], w[i], "weight", t);
    }
  }
}

TEST(SparseOptimizerTest, AdamFollowsBiasCorrectedRule) {
  SparseOptimizerOptions options;
  options.kind = SparseOptimizerKind::kAdam;
  options.learning_rate = 0.01f;
  const double b1 = options.beta1, b2 = options.beta2, eps = options.epsilon;
  const double lr = options.learning_rate;
  float w[kDim] = {0.5f, -0.25f};
  float state[2 * kDim];
  InitSparseOptimizerState(options, kDim, w, state);
  for (float s : state) EXPECT_EQ(0.0f, s);
  double ref_w[kDim] = {0.5, -0.25}, m[kDim] = {0, 0}, v[kDim] = {0, 0};
  for (size_t t = 0; t < kGrads.size(); ++t) {
    ApplySparseUpdate(options, kDim, kGrads[t].data(), t, w, state);
    const double step = static_cast<double>(t) + 1;
    for (int i = 0; i < kDim; ++i) {
      const double g = kGrads[t][i];
      m[i] = b1 * m[i] + (1 - b1) * g;
      v[i] = b2 * v[i] + (1 - b2) * g * g;
      const double m_hat = m[i] / (1 - std::pow(b1, step));
      const double v_hat = v[i] / (1 - std::pow(b2, step));
      ref_w[i] -= lr * m_hat / (std::sqrt(v_hat) + eps);
      ExpectClose(m[i], state[i], "m", t);
      ExpectClose(v[i], state[kDim + i], "v", t);
      ExpectClose(ref_w[i], w[i], "weight", t);
    }
  }
}

TEST(SparseOptimizerTest, AdamBiasCorrectionUsesRowUpdateCount) {
  // On a row's first update m_hat = g and v_hat = g^2, so every weight moves
  // by lr * g / (|g| + eps), i.e. lr against the sign of g whatever |g| is.
  SparseOptimizerOptions options;
  options.kind = SparseOptimizerKind::kAdam;
  options.learning_rate = 0.01f;
  const float grad[3] = {1e-3f, -7.0f, 250.0f};
  float w[3] = {0.0f, 0.0f, 0.0f};
  float state[6];
  InitSparseOptimizerState(options, 3, w, state);
  ApplySparseUpdate(options, 3, grad, /*update_count=*/0, w, state);
  for (int i = 0; i < 3; ++i) {
    const double g = grad[i];
    ExpectClose(-0.01 * g / (std::fabs(g) + 1e-8), w[i], "first step", 0);
  }
  // The same fresh state treated as a row's 1001st update: the corrections
  // are nearly 1 - 0 for beta1 and 1 - 0.999^1001 for beta2, so the step is
  // lr * (1 - beta1) g / (sqrt((1 - beta2) g^2 / (1 - beta2^1001)) + eps).
  float w_late[3] = {0.0f, 0.0f, 0.0f};
  InitSparseOptimizerState(options, 3, w_late, state);
  ApplySparseUpdate(options, 3, grad, /*update_count=*/1000, w_late, state);
  const double b1 = options.beta1, b2 = options.beta2;
  for (int i = 0; i < 3; ++i) {
    const double g = grad[i];
    const double m_hat = (1 - b1) * g / (1 - std::pow(b1, 1001.0));
    const double v_hat = (1 - b2) * g * g / (1 - std::pow(b2, 1001.0));
    ExpectClose(-0.01 * m_hat / (std::sqrt(v_hat) + 1e-8), w_late[i], "late step", 1000);
    // About 2.5 lr instead of lr: the count, not the state, sets the step.
    EXPECT_GT(std::fabs(w_late[i] - w[i]), 0.01f);
  }
}

// The table's updater looks Adam's corrections up instead of calling pow; it
// must give the very floats ApplySparseUpdate gives, at every update count:
// inside the table, at its end, far past it, and for betas whose corrections
// do not reach 1.0f within the table (where it falls back to pow).
TEST(SparseOptimizerTest, UpdaterEqualsApplySparseUpdateBitForBit) {
  const float grad[3] = {1e-3f, -7.0f, 250.0f};
  struct Betas {
    float beta1, beta2;
    bool saturates;  // within the 2^18-update table
  };
  for (const Betas& b : {Betas{0.9f, 0.999f, true}, Betas{0.5f, 0.99f, true},
                         Betas{0.9f, 0.99999f, false}, Betas{0.0f, 0.0f, true}}) {
    SparseOptimizerOptions options;
    options.kind = SparseOptimizerKind::kAdam;
    options.learning_rate = 0.01f;
    options.beta1 = b.beta1;
    options.beta2 = b.beta2;
    const AdamCorrections corrections(b.beta1, b.beta2);
    EXPECT_EQ(corrections.saturated(), b.saturates) << b.beta2;
    const SparseUpdater updater(options);
    std::vector<int64_t> counts = {0, 1, 2, 100, 1000, 17000, 17500, 18000, 100000,
                                   (int64_t{1} << 18) - 1, int64_t{1} << 18, int64_t{1} << 40};
    const int64_t end = static_cast<int64_t>(corrections.tabulated());
    for (int64_t c : {end - 1, end, end + 1}) {
      if (c >= 0) counts.push_back(c);
    }
    for (int64_t count = 0; count < 40000; count += 7) counts.push_back(count);
    for (int64_t count : counts) {
      float w_ref[3] = {0.5f, -0.25f, 2.0f}, w[3] = {0.5f, -0.25f, 2.0f};
      float state_ref[6] = {0.1f, -0.2f, 3.0f, 0.04f, 0.5f, 9.0f};
      float state[6];
      std::copy(state_ref, state_ref + 6, state);
      ApplySparseUpdate(options, 3, grad, count, w_ref, state_ref);
      updater.Apply(3, grad, count, w, state);
      for (int i = 0; i < 3; ++i) {
        ASSERT_EQ(w_ref[i], w[i]) << "beta2 " << b.beta2 << " count " << count << " weight " << i;
      }
      for (int i = 0; i < 6; ++i) ASSERT_EQ(state_ref[i], state[i]) << count;
    }
  }
  // Other kinds go through ApplySparseUpdate unchanged.
  SparseOptimizerOptions adagrad;
  float w_ref[3] = {1, 2, 3}, w[3] = {1, 2, 3}, acc_ref[3], acc[3];
  InitSparseOptimizerState(adagrad, 3, w_ref, acc_ref);
  InitSparseOptimizerState(adagrad, 3, w, acc);
  ApplySparseUpdate(adagrad, 3, grad, 5, w_ref, acc_ref);
  SparseUpdater(adagrad).Apply(3, grad, 5, w, acc);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(w_ref[i], w[i]);
}

// FTRL-proximal in double, straight from McMahan et al. 2013, Algorithm 1.
struct FtrlReference {
  double alpha, beta, l1, l2;
  double z = 0, n = 0, w = 0;
  void Step(double g) {
    const double sigma = (std::sqrt(n + g * g) - std::sqrt(n)) / alpha;
    z += g - sigma * w;
    n += g * g;
    w = std::fabs(z) <= l1
            ? 0.0
            : -(z - std::copysign(l1, z)) / ((beta + std::sqrt(n)) / alpha + l2);
  }
};

TEST(SparseOptimizerTest, FtrlInitReproducesWeightsWithoutL1) {
  SparseOptimizerOptions options;
  options.kind = SparseOptimizerKind::kFtrl;
  options.learning_rate = 0.05f;
  options.ftrl_beta = 1.0f;
  options.ftrl_l2 = 0.5f;
  const float w[3] = {0.03f, -0.05f, 0.0f};
  float state[6];
  InitSparseOptimizerState(options, 3, w, state);
  const double denominator = 1.0 / 0.05 + 0.5;  // (beta + sqrt(0)) / alpha + l2
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(0.0f, state[3 + i]) << "n starts at 0";
    ExpectClose(w[i], -state[i] / denominator, "closed form of initial z", 0);
  }
}

TEST(SparseOptimizerTest, FtrlFollowsProximalRule) {
  for (float l1 : {0.0f, 0.3f}) {
    SparseOptimizerOptions options;
    options.kind = SparseOptimizerKind::kFtrl;
    options.learning_rate = 0.1f;
    options.ftrl_beta = 1.0f;
    options.ftrl_l1 = l1;
    options.ftrl_l2 = 0.25f;
    float w[kDim] = {0.04f, -0.02f};
    float state[2 * kDim];
    InitSparseOptimizerState(options, kDim, w, state);
    FtrlReference ref[kDim];
    for (int i = 0; i < kDim; ++i) {
      ref[i] = FtrlReference{0.1f, 1.0, l1, 0.25};
      ref[i].w = w[i];
      ref[i].z = state[i];
    }
    for (size_t t = 0; t < kGrads.size(); ++t) {
      ApplySparseUpdate(options, kDim, kGrads[t].data(), t, w, state);
      for (int i = 0; i < kDim; ++i) {
        ref[i].Step(kGrads[t][i]);
        ExpectClose(ref[i].z, state[i], "z", t);
        ExpectClose(ref[i].n, state[kDim + i], "n", t);
        ExpectClose(ref[i].w, w[i], "weight", t);
      }
    }
  }
}

TEST(SparseOptimizerTest, FtrlL1ProducesExactZeros) {
  // alpha = 0.5, beta = 1, l1 = 1, l2 = 0, weights start at 0 (z = 0, n = 0).
  // One step with gradient g: sigma * w = 0, so z = g and n = g^2; the
  // weight is exactly 0 when |g| <= l1 and
  // -(g - sign(g) l1) / ((1 + |g|) / 0.5) otherwise.
  SparseOptimizerOptions options;
  options.kind = SparseOptimizerKind::kFtrl;
  options.learning_rate = 0.5f;
  options.ftrl_beta = 1.0f;
  options.ftrl_l1 = 1.0f;
  const float grad[3] = {0.75f, -0.5f, 3.0f};
  float w[3] = {0.0f, 0.0f, 0.0f};
  float state[6];
  InitSparseOptimizerState(options, 3, w, state);
  ApplySparseUpdate(options, 3, grad, 0, w, state);
  EXPECT_EQ(0.0f, w[0]);
  EXPECT_EQ(0.0f, w[1]);
  ExpectClose(-(3.0 - 1.0) / ((1.0 + 3.0) / 0.5), w[2], "weight outside l1", 0);
  // A second step of the opposite sign to the first takes z back inside
  // [-l1, l1] for weight 2: z = 3 + g - sigma * w with g = -2.5.
  FtrlReference ref{0.5, 1.0, 1.0, 0.0};
  ref.Step(3.0);
  ref.Step(-2.5);
  ASSERT_LE(std::fabs(ref.z), 1.0 - 1e-3) << "the derivation should land inside the l1 ball";
  const float grad2[3] = {0.0f, 0.0f, -2.5f};
  ApplySparseUpdate(options, 3, grad2, 1, w, state);
  EXPECT_EQ(0.0f, w[2]);
  ExpectClose(ref.z, state[2], "z", 1);
  // Coordinates with zero gradient keep their state and stay exactly 0.
  EXPECT_EQ(0.0f, w[0]);
  EXPECT_EQ(0.75f, state[0]);
}

}  // namespace
}  // namespace dips
