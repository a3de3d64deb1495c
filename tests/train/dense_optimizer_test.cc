// DenseOptimizer against its update rules evaluated in double, and Restore.
#include "worker/train/dense_optimizer.h"

#include <cmath>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace dips {
namespace {

// Three steps of gradients for three parameters.
const std::vector<std::vector<float>> kGrads = {
    {1.0f, -2.0f, 0.0f}, {0.5f, 4.0f, -0.25f}, {-3.0f, 0.25f, 8.0f}};
const std::vector<float> kInitial = {0.5f, -0.25f, 1.0f};

TEST(DenseOptimizerTest, ParseAndValidate) {
  for (DenseOptimizerKind kind : {DenseOptimizerKind::kSgd, DenseOptimizerKind::kAdam}) {
    StatusOr<DenseOptimizerKind> parsed = ParseDenseOptimizerKind(DenseOptimizerName(kind));
    ASSERT_TRUE(parsed.ok());
    EXPECT_EQ(kind, *parsed);
  }
  EXPECT_EQ(StatusCode::kInvalidArgument, ParseDenseOptimizerKind("adagrad").status().code());
  DenseOptimizerOptions options;
  EXPECT_TRUE(ValidateDenseOptimizerOptions(options).ok());
  options.beta1 = 1.0f;
  EXPECT_FALSE(ValidateDenseOptimizerOptions(options).ok());
  options.kind = DenseOptimizerKind::kSgd;  // SGD ignores the betas
  EXPECT_TRUE(ValidateDenseOptimizerOptions(options).ok());
  options.learning_rate = 0.0f;
  EXPECT_FALSE(ValidateDenseOptimizerOptions(options).ok());
}

TEST(DenseOptimizerTest, SgdIsExactWithPowersOfTwo) {
  DenseOptimizerOptions options;
  options.kind = DenseOptimizerKind::kSgd;
  options.learning_rate = 0.25f;
  DenseOptimizer optimizer(options, 3);
  std::vector<float> params = kInitial;
  std::vector<double> expected(kInitial.begin(), kInitial.end());
  for (size_t t = 0; t < kGrads.size(); ++t) {
    optimizer.Step(kGrads[t].data(), params.data());
    for (int i = 0; i < 3; ++i) {
      expected[i] -= 0.25 * kGrads[t][i];
      EXPECT_EQ(static_cast<float>(expected[i]), params[i]) << "param " << i << " step " << t;
    }
  }
  EXPECT_EQ(3, optimizer.steps());
  EXPECT_TRUE(optimizer.first_moment().empty());
}

TEST(DenseOptimizerTest, AdamFollowsBiasCorrectedRule) {
  DenseOptimizerOptions options;
  options.learning_rate = 0.01f;
  const double b1 = options.beta1, b2 = options.beta2, eps = options.epsilon;
  const double lr = options.learning_rate;
  DenseOptimizer optimizer(options, 3);
  std::vector<float> params = kInitial;
  std::vector<double> p(kInitial.begin(), kInitial.end()), m(3, 0.0), v(3, 0.0);
  for (size_t t = 0; t < kGrads.size(); ++t) {
    optimizer.Step(kGrads[t].data(), params.data());
    const double step = static_cast<double>(t) + 1;
    for (int i = 0; i < 3; ++i) {
      const double g = kGrads[t][i];
      m[i] = b1 * m[i] + (1 - b1) * g;
      v[i] = b2 * v[i] + (1 - b2) * g * g;
      p[i] -= lr * (m[i] / (1 - std::pow(b1, step))) /
              (std::sqrt(v[i] / (1 - std::pow(b2, step))) + eps);
      const double tol = 1e-5 * std::max(1.0, std::fabs(p[i]));
      EXPECT_NEAR(p[i], params[i], tol) << "param " << i << " step " << t;
      EXPECT_NEAR(m[i], optimizer.first_moment()[i], 1e-5 * std::max(1.0, std::fabs(m[i])));
      EXPECT_NEAR(v[i], optimizer.second_moment()[i], 1e-5 * std::max(1.0, std::fabs(v[i])));
    }
  }
  // The first step moves a parameter with non-zero gradient by lr exactly
  // (up to eps): m_hat = g, v_hat = g^2. Checked on a fresh optimiser.
  DenseOptimizer fresh(options, 3);
  std::vector<float> q = kInitial;
  fresh.Step(kGrads[0].data(), q.data());
  EXPECT_NEAR(kInitial[0] - 0.01, q[0], 1e-6);
  EXPECT_NEAR(kInitial[1] + 0.01, q[1], 1e-6);
  EXPECT_EQ(kInitial[2], q[2]) << "zero gradient, zero moments: no move";
}

TEST(DenseOptimizerTest, ScaledRangesComeFromTheViewsInBufferOrder) {
  std::vector<ParamView> views(5);
  const float scales[5] = {1.0f, 0.5f, 0.5f, 1.0f, 0.0f};
  size_t offset = 0;
  for (int i = 0; i < 5; ++i) {
    views[i].name = "v" + std::to_string(i);
    views[i].offset = offset;
    views[i].size = 2 + i;
    views[i].lr_scale = scales[i];
    offset += views[i].size;
  }
  const std::vector<LearningRateRange> ranges = ScaledRanges(views);
  ASSERT_EQ(2u, ranges.size());
  EXPECT_EQ(2u, ranges[0].begin);  // views 1 and 2, adjacent and alike: one range
  EXPECT_EQ(9u, ranges[0].end);
  EXPECT_EQ(0.5f, ranges[0].scale);
  EXPECT_EQ(14u, ranges[1].begin);
  EXPECT_EQ(20u, ranges[1].end);
  EXPECT_EQ(0.0f, ranges[1].scale);
}

TEST(DenseOptimizerTest, SetLearningRateScalesRejectsBadRanges) {
  DenseOptimizer optimizer(DenseOptimizerOptions(), 10);
  EXPECT_FALSE(optimizer.SetLearningRateScales({{4, 8, 0.5f}, {6, 9, 0.5f}}).ok());  // overlap
  EXPECT_FALSE(optimizer.SetLearningRateScales({{6, 9, 0.5f}, {1, 2, 0.5f}}).ok());  // order
  EXPECT_FALSE(optimizer.SetLearningRateScales({{3, 3, 0.5f}}).ok());                // empty
  EXPECT_FALSE(optimizer.SetLearningRateScales({{8, 11, 0.5f}}).ok());               // beyond
  EXPECT_FALSE(optimizer.SetLearningRateScales({{1, 2, -1.0f}}).ok());
  EXPECT_FALSE(optimizer.SetLearningRateScales({{1, 2, NAN}}).ok());
  EXPECT_TRUE(optimizer.SetLearningRateScales({{0, 10, 2.0f}}).ok());
  EXPECT_TRUE(optimizer.SetLearningRateScales({}).ok());
}

TEST(DenseOptimizerTest, ScaledPartsStepAtTheirRate) {
  // SGD with powers of two is exact: parameter 0 at the full rate, 1 at a
  // quarter of it, 2 frozen.
  DenseOptimizerOptions options;
  options.kind = DenseOptimizerKind::kSgd;
  options.learning_rate = 0.5f;
  DenseOptimizer sgd(options, 3);
  ASSERT_TRUE(sgd.SetLearningRateScales({{1, 2, 0.25f}, {2, 3, 0.0f}}).ok());
  std::vector<float> params = kInitial;
  std::vector<double> expected(kInitial.begin(), kInitial.end());
  for (const auto& g : kGrads) {
    sgd.Step(g.data(), params.data());
    expected[0] -= 0.5 * g[0];
    expected[1] -= 0.125 * g[1];
  }
  for (int i = 0; i < 3; ++i) EXPECT_EQ(static_cast<float>(expected[i]), params[i]) << i;

  // Adam: a scaled part follows the rule with lr * scale (its first step
  // moves by lr * scale), the moments are the unscaled rule's, and a part
  // at scale 1 steps exactly as without any scales.
  DenseOptimizerOptions adam_options;
  adam_options.learning_rate = 0.01f;
  DenseOptimizer plain(adam_options, 3);
  DenseOptimizer scaled(adam_options, 3);
  ASSERT_TRUE(scaled.SetLearningRateScales({{1, 3, 0.1f}}).ok());
  std::vector<float> a = kInitial, b = kInitial;
  plain.Step(kGrads[0].data(), a.data());
  scaled.Step(kGrads[0].data(), b.data());
  EXPECT_EQ(a[0], b[0]);
  EXPECT_NEAR(kInitial[1] + 0.001, b[1], 1e-7);
  EXPECT_EQ(kInitial[2], b[2]) << "zero gradient, zero moments: no move";
  for (size_t t = 1; t < kGrads.size(); ++t) {
    plain.Step(kGrads[t].data(), a.data());
    scaled.Step(kGrads[t].data(), b.data());
  }
  EXPECT_EQ(a[0], b[0]);
  EXPECT_EQ(plain.first_moment(), scaled.first_moment());
  EXPECT_EQ(plain.second_moment(), scaled.second_moment());
  for (int i = 1; i < 3; ++i) {
    // Each Adam step is lr times a factor that does not depend on lr.
    EXPECT_NEAR(0.1 * (a[i] - kInitial[i]), b[i] - kInitial[i], 1e-6) << i;
  }
}

TEST(DenseOptimizerTest, RestoreContinuesExactly) {
  DenseOptimizerOptions options;
  options.learning_rate = 0.05f;
  DenseOptimizer straight(options, 3);
  std::vector<float> a = kInitial;
  for (const auto& g : kGrads) straight.Step(g.data(), a.data());

  DenseOptimizer first(options, 3);
  std::vector<float> b = kInitial;
  first.Step(kGrads[0].data(), b.data());
  DenseOptimizer resumed(options, 3);
  ASSERT_TRUE(resumed.Restore(first.steps(), first.first_moment(), first.second_moment()).ok());
  EXPECT_EQ(1, resumed.steps());
  resumed.Step(kGrads[1].data(), b.data());
  resumed.Step(kGrads[2].data(), b.data());
  EXPECT_EQ(a, b);
  EXPECT_EQ(straight.first_moment(), resumed.first_moment());
  EXPECT_EQ(straight.second_moment(), resumed.second_moment());
  EXPECT_EQ(3, resumed.steps());
}

TEST(DenseOptimizerTest, RestoreRejectsMismatchedState) {
  DenseOptimizer adam(DenseOptimizerOptions(), 3);
  EXPECT_FALSE(adam.Restore(1, std::vector<float>(2), std::vector<float>(3)).ok());
  EXPECT_FALSE(adam.Restore(1, std::vector<float>(3), {}).ok());
  EXPECT_FALSE(adam.Restore(-1, std::vector<float>(3), std::vector<float>(3)).ok());
  EXPECT_EQ(0, adam.steps()) << "a failed restore changes nothing";
  EXPECT_EQ(3u, adam.first_moment().size());

  DenseOptimizerOptions sgd_options;
  sgd_options.kind = DenseOptimizerKind::kSgd;
  DenseOptimizer sgd(sgd_options, 3);
  EXPECT_FALSE(sgd.Restore(5, std::vector<float>(3), std::vector<float>(3)).ok());
  EXPECT_TRUE(sgd.Restore(5, {}, {}).ok());
  EXPECT_EQ(5, sgd.steps());
}

}  // namespace
}  // namespace dips
