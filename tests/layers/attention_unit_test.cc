// Finite-difference checks and properties of DIN's attention unit (double):
// gradients for each hidden activation, padding, the folded first layer
// against the plain concatenation, float vs double, and a timing print.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <random>
#include <vector>

#include "tests/layers/gradient_check.h"
#include "worker/model/layers/attention_unit.h"
#include "worker/model/layers/linear.h"
#include "worker/model/layers/activations.h"
#include "worker/model/layers/dice.h"

namespace dips {
namespace {

using testing::CheckGradient;
using testing::Project;
using testing::RandomVector;
using Vec = std::vector<double>;

constexpr double kTolerance = 1e-6;

double MaxAbs(const Vec& v) {
  double m = 0.0;
  for (double x : v) m = std::max(m, std::fabs(x));
  return m;
}

template <typename T>
struct AttentionFixture {
  AttentionUnitShape shape;
  std::vector<T> keys, query, mask;
  std::vector<T> w1, b1, act1, w2, b2, act2, w3, b3;
  std::vector<T> mm1, mv1, mm2, mv2;  // Dice moving statistics

  AttentionUnitWeights<T> Weights() {
    AttentionUnitWeights<T> w;
    w.w1 = w1.data();
    w.b1 = b1.data();
    w.act1 = act1.data();
    w.w2 = w2.data();
    w.b2 = b2.data();
    w.act2 = act2.data();
    w.w3 = w3.data();
    w.b3 = b3.data();
    w.dice1_moving_mean = mm1.data();
    w.dice1_moving_var = mv1.data();
    w.dice2_moving_mean = mm2.data();
    w.dice2_moving_var = mv2.data();
    return w;
  }
};

template <typename T>
std::vector<T> Cast(const Vec& v) {
  return std::vector<T>(v.begin(), v.end());
}

// Random weights and inputs; `mask_rows` gives each sample's valid length
// (positions past it are padding, filled with garbage on purpose).
AttentionFixture<double> MakeAttention(std::mt19937_64* rng, int batch, int length, int dim, int h1,
                                       int h2, HiddenActivation act,
                                       const std::vector<int>& lengths) {
  AttentionFixture<double> f;
  f.shape = {batch, length, dim, h1, h2, act};
  f.keys = RandomVector(batch * length * dim, rng);
  f.query = RandomVector(batch * dim, rng);
  f.mask.assign(batch * length, 0.0);
  for (int b = 0; b < batch; ++b) {
    for (int t = 0; t < lengths[b]; ++t) f.mask[b * length + t] = 1.0;
  }
  const double s1 = 1.0 / std::sqrt(4.0 * dim), s2 = 1.0 / std::sqrt(double(h1));
  f.w1 = RandomVector(4 * dim * h1, rng, -2 * s1, 2 * s1);
  f.b1 = RandomVector(h1, rng, -0.5, 0.5);
  f.act1 = RandomVector(h1, rng, 0.05, 0.4);
  f.w2 = RandomVector(h1 * h2, rng, -2 * s2, 2 * s2);
  f.b2 = RandomVector(h2, rng, -0.5, 0.5);
  f.act2 = RandomVector(h2, rng, 0.05, 0.4);
  f.w3 = RandomVector(h2, rng, -1.0, 1.0);
  f.b3 = RandomVector(1, rng, -0.5, 0.5);
  f.mm1.assign(h1, 0.0);
  f.mv1.assign(h1, 1.0);
  f.mm2.assign(h2, 0.0);
  f.mv2.assign(h2, 1.0);
  return f;
}

// Smallest |pre-activation| over the packed (valid) rows of the cache.
double MinAbs(const Vec& pre) {
  double m = 1e300;
  for (double v : pre) m = std::min(m, std::fabs(v));
  return m;
}

// row_block > 0 sets the unit's row block (7 rows are valid here: 2 makes
// four blocks, the last one partial).
void CheckAttentionGradients(const char* name, HiddenActivation act, uint64_t seed,
                             int row_block = 0) {
  std::mt19937_64 rng(seed);
  const int batch = 3, length = 4, dim = 3, h1 = 5, h2 = 4;
  // Sample 1 is empty; the others have padding at the end.
  AttentionFixture<double> f = MakeAttention(&rng, batch, length, dim, h1, h2, act, {3, 0, 4});
  if (row_block > 0) f.shape.row_block = row_block;
  const AttentionUnitShape& shape = f.shape;
  const Vec c = RandomVector(batch * length, &rng);
  AttentionUnitCache<double> cache;
  Vec scores(batch * length);
  auto loss = [&] {
    attention_unit_forward(scores.data(), &cache, f.Weights(), f.keys.data(), f.query.data(),
                           f.mask.data(), true, shape);
    return Project(c, scores.data(), scores.size());
  };
  loss();
  for (int pos = 0; pos < batch * length; ++pos) {
    if (f.mask[pos] == 0) {
      EXPECT_EQ(scores[pos], 0.0) << "padded score at " << pos;
    }
  }
  if (act == HiddenActivation::kPrelu) {
    // A finite difference across the kink would be meaningless; h = 1e-6
    // moves a pre-activation by far less than this margin.
    ASSERT_GT(MinAbs(cache.pre1), 1e-3);
    ASSERT_GT(MinAbs(cache.pre2), 1e-3);
  }

  Vec dkeys(f.keys.size(), 0.0), dquery(f.query.size(), 0.0);
  Vec gw1(f.w1.size(), 0.0), gb1(h1, 0.0), gact1(h1, 0.0), gw2(f.w2.size(), 0.0), gb2(h2, 0.0),
      gact2(h2, 0.0), gw3(h2, 0.0), gb3(1, 0.0);
  AttentionUnitGrads<double> grads;
  grads.w1 = gw1.data();
  grads.b1 = gb1.data();
  grads.act1 = gact1.data();
  grads.w2 = gw2.data();
  grads.b2 = gb2.data();
  grads.act2 = gact2.data();
  grads.w3 = gw3.data();
  grads.b3 = gb3.data();
  // dscores is nonzero at padded positions too: the unit must ignore it.
  attention_unit_backward(dkeys.data(), dquery.data(), grads, c.data(), &cache, f.Weights(),
                          f.keys.data(), f.query.data(), f.mask.data(), shape);
  for (int pos = 0; pos < batch * length; ++pos) {
    if (f.mask[pos] != 0) continue;
    for (int d = 0; d < dim; ++d) EXPECT_EQ(dkeys[pos * dim + d], 0.0) << "padded dkey " << pos;
  }
  for (int d = 0; d < dim; ++d) EXPECT_EQ(dquery[1 * dim + d], 0.0) << "empty sample's dquery";

  const std::string p = std::string("attention ") + name + " ";
  EXPECT_LT(CheckGradient(p + "dkeys", &f.keys, dkeys, loss).max_relative_error, kTolerance);
  EXPECT_LT(CheckGradient(p + "dquery", &f.query, dquery, loss).max_relative_error, kTolerance);
  EXPECT_LT(CheckGradient(p + "dw1", &f.w1, gw1, loss).max_relative_error, kTolerance);
  EXPECT_LT(CheckGradient(p + "db1", &f.b1, gb1, loss).max_relative_error, kTolerance);
  EXPECT_LT(CheckGradient(p + "dw2", &f.w2, gw2, loss).max_relative_error, kTolerance);
  EXPECT_LT(CheckGradient(p + "db2", &f.b2, gb2, loss).max_relative_error, kTolerance);
  EXPECT_LT(CheckGradient(p + "dw3", &f.w3, gw3, loss).max_relative_error, kTolerance);
  EXPECT_LT(CheckGradient(p + "db3", &f.b3, gb3, loss).max_relative_error, kTolerance);
  if (act == HiddenActivation::kSigmoid) {
    EXPECT_EQ(MaxAbs(gact1), 0.0);
    EXPECT_EQ(MaxAbs(gact2), 0.0);
  } else {
    EXPECT_LT(CheckGradient(p + "dact1", &f.act1, gact1, loss).max_relative_error, kTolerance);
    EXPECT_LT(CheckGradient(p + "dact2", &f.act2, gact2, loss).max_relative_error, kTolerance);
  }
}

TEST(AttentionUnitTest, GradientsSigmoid) {
  CheckAttentionGradients("sigmoid", HiddenActivation::kSigmoid, 20);
}
TEST(AttentionUnitTest, GradientsSigmoidInRowBlocks) {
  CheckAttentionGradients("sigmoid, blocks of 2", HiddenActivation::kSigmoid, 20, 2);
}
TEST(AttentionUnitTest, GradientsPreluInRowBlocks) {
  CheckAttentionGradients("prelu, blocks of 2", HiddenActivation::kPrelu, 21, 2);
}
TEST(AttentionUnitTest, GradientsDiceWithARowBlockSet) {
  // Dice runs over all rows whatever row_block says (its statistics span them).
  CheckAttentionGradients("dice, row_block 2", HiddenActivation::kDice, 22, 2);
}

// The blocked pass is the same computation in another order: scores and
// every gradient agree with one block over all rows, for each activation.
TEST(AttentionUnitTest, RowBlocksGiveTheResultOfOneBlock) {
  for (HiddenActivation act :
       {HiddenActivation::kSigmoid, HiddenActivation::kPrelu, HiddenActivation::kDice}) {
    std::mt19937_64 rng(26);
    const int batch = 5, length = 30, dim = 4, h1 = 6, h2 = 5;
    AttentionFixture<double> f =
        MakeAttention(&rng, batch, length, dim, h1, h2, act, {30, 0, 17, 29, 1});
    const Vec c = RandomVector(batch * length, &rng);
    struct Result {
      Vec scores, dkeys, dquery, gw1, gb1, gact1, gw2, gb2, gact2, gw3, gb3;
    };
    auto run = [&](int row_block) {
      AttentionUnitShape shape = f.shape;
      shape.row_block = row_block;
      Result r;
      r.scores.assign(batch * length, 0.0);
      r.dkeys.assign(f.keys.size(), 0.0);
      r.dquery.assign(f.query.size(), 0.0);
      r.gw1.assign(f.w1.size(), 0.0);
      r.gb1.assign(h1, 0.0);
      r.gact1.assign(h1, 0.0);
      r.gw2.assign(f.w2.size(), 0.0);
      r.gb2.assign(h2, 0.0);
      r.gact2.assign(h2, 0.0);
      r.gw3.assign(h2, 0.0);
      r.gb3.assign(1, 0.0);
      AttentionUnitCache<double> cache;
      attention_unit_forward(r.scores.data(), &cache, f.Weights(), f.keys.data(), f.query.data(),
                             f.mask.data(), true, shape);
      AttentionUnitGrads<double> g;
      g.w1 = r.gw1.data();
      g.b1 = r.gb1.data();
      g.act1 = r.gact1.data();
      g.w2 = r.gw2.data();
      g.b2 = r.gb2.data();
      g.act2 = r.gact2.data();
      g.w3 = r.gw3.data();
      g.b3 = r.gb3.data();
      attention_unit_backward(r.dkeys.data(), r.dquery.data(), g, c.data(), &cache, f.Weights(),
                              f.keys.data(), f.query.data(), f.mask.data(), shape);
      return r;
    };
    const Result whole = run(1000);  // 77 valid rows: one block
    const Result blocked = run(7);   // eleven blocks
    auto expect_near = [&](const Vec& a, const Vec& b, const char* what) {
      ASSERT_EQ(a.size(), b.size());
      double worst = 0.0;
      for (size_t i = 0; i < a.size(); ++i) worst = std::max(worst, std::fabs(a[i] - b[i]));
      EXPECT_LT(worst, 1e-12 * std::max(1.0, MaxAbs(a))) << what << ", activation "
                                                         << static_cast<int>(act);
    };
    expect_near(whole.scores, blocked.scores, "scores");
    expect_near(whole.dkeys, blocked.dkeys, "dkeys");
    expect_near(whole.dquery, blocked.dquery, "dquery");
    expect_near(whole.gw1, blocked.gw1, "dw1");
    expect_near(whole.gb1, blocked.gb1, "db1");
    expect_near(whole.gact1, blocked.gact1, "dact1");
    expect_near(whole.gw2, blocked.gw2, "dw2");
    expect_near(whole.gb2, blocked.gb2, "db2");
    expect_near(whole.gact2, blocked.gact2, "dact2");
    expect_near(whole.gw3, blocked.gw3, "dw3");
    expect_near(whole.gb3, blocked.gb3, "db3");
  }
}
TEST(AttentionUnitTest, GradientsPrelu) {
  CheckAttentionGradients("prelu", HiddenActivation::kPrelu, 21);
}
TEST(AttentionUnitTest, GradientsDiceTraining) {
  CheckAttentionGradients("dice", HiddenActivation::kDice, 22);
}

// The plain first layer [k, q, k-q, k*q] . W1, then the MLP, written out
// naively per position.
Vec NaiveAttention(const AttentionFixture<double>& f) {
  const auto& s = f.shape;
  Vec scores(s.batch * s.length, 0.0);
  for (int b = 0; b < s.batch; ++b) {
    for (int t = 0; t < s.length; ++t) {
      const int pos = b * s.length + t;
      if (f.mask[pos] == 0) continue;
      Vec in(4 * s.dim);
      for (int d = 0; d < s.dim; ++d) {
        const double k = f.keys[pos * s.dim + d], q = f.query[b * s.dim + d];
        in[d] = k;
        in[s.dim + d] = q;
        in[2 * s.dim + d] = k - q;
        in[3 * s.dim + d] = k * q;
      }
      auto act = [&](double x, double alpha) {
        if (s.activation == HiddenActivation::kSigmoid) return 1.0 / (1.0 + std::exp(-x));
        return x > 0 ? x : alpha * x;
      };
      Vec o1(s.hidden1), o2(s.hidden2);
      for (int j = 0; j < s.hidden1; ++j) {
        double a = f.b1[j];
        for (int i = 0; i < 4 * s.dim; ++i) a += in[i] * f.w1[i * s.hidden1 + j];
        o1[j] = act(a, f.act1[j]);
      }
      for (int j = 0; j < s.hidden2; ++j) {
        double a = f.b2[j];
        for (int i = 0; i < s.hidden1; ++i) a += o1[i] * f.w2[i * s.hidden2 + j];
        o2[j] = act(a, f.act2[j]);
      }
      double a = f.b3[0];
      for (int i = 0; i < s.hidden2; ++i) a += o2[i] * f.w3[i];
      scores[pos] = a;
    }
  }
  return scores;
}

TEST(AttentionUnitTest, FoldedFirstLayerEqualsConcatenation) {
  std::mt19937_64 rng(23);
  for (HiddenActivation act : {HiddenActivation::kSigmoid, HiddenActivation::kPrelu}) {
    AttentionFixture<double> f = MakeAttention(&rng, 4, 5, 6, 7, 3, act, {5, 2, 0, 4});
    AttentionUnitCache<double> cache;
    Vec scores(4 * 5, 42.0);
    attention_unit_forward(scores.data(), &cache, f.Weights(), f.keys.data(), f.query.data(),
                           f.mask.data(), false, f.shape);
    const Vec expected = NaiveAttention(f);
    for (size_t i = 0; i < scores.size(); ++i) EXPECT_NEAR(scores[i], expected[i], 1e-12) << i;
  }
}

TEST(AttentionUnitTest, PaddedKeysCannotChangeDiceScores) {
  std::mt19937_64 rng(24);
  AttentionFixture<double> f =
      MakeAttention(&rng, 3, 4, 3, 5, 4, HiddenActivation::kDice, {2, 4, 1});
  AttentionUnitCache<double> cache;
  Vec scores(12), scores2(12);
  attention_unit_forward(scores.data(), &cache, f.Weights(), f.keys.data(), f.query.data(),
                         f.mask.data(), true, f.shape);
  const Vec mm1 = f.mm1;
  for (int pos = 0; pos < 12; ++pos) {
    if (f.mask[pos] == 0) {
      for (int d = 0; d < 3; ++d) f.keys[pos * 3 + d] = 100.0 * (d + 1);
    }
  }
  attention_unit_forward(scores2.data(), &cache, f.Weights(), f.keys.data(), f.query.data(),
                         f.mask.data(), true, f.shape);
  EXPECT_EQ(scores, scores2);
  // The moving averages moved (towards the same batch statistics twice).
  EXPECT_NE(f.mm1, Vec(5, 0.0));
  for (int j = 0; j < 5; ++j)
    EXPECT_NEAR(f.mm1[j], 0.99 * mm1[j] + 0.01 * cache.dice1.mean[j], 1e-15);

  // Evaluation: Dice normalises with the moving averages and leaves them be.
  const Vec mm1_trained = f.mm1, mv2_trained = f.mv2;
  attention_unit_forward(scores2.data(), &cache, f.Weights(), f.keys.data(), f.query.data(),
                         f.mask.data(), false, f.shape);
  EXPECT_EQ(f.mm1, mm1_trained);
  EXPECT_EQ(f.mv2, mv2_trained);
  EXPECT_EQ(cache.dice1.mean, mm1_trained);
  EXPECT_EQ(cache.dice2.var, mv2_trained);
  EXPECT_NE(scores2, scores);  // different statistics, different scores
}

// Runs forward and backward in T and returns [scores, dkeys, dquery, dw1].
template <typename T>
Vec RunAttention(const AttentionFixture<double>& src, const Vec& dscores) {
  AttentionFixture<T> f;
  f.shape = src.shape;
  f.keys = Cast<T>(src.keys);
  f.query = Cast<T>(src.query);
  f.mask = Cast<T>(src.mask);
  f.w1 = Cast<T>(src.w1);
  f.b1 = Cast<T>(src.b1);
  f.act1 = Cast<T>(src.act1);
  f.w2 = Cast<T>(src.w2);
  f.b2 = Cast<T>(src.b2);
  f.act2 = Cast<T>(src.act2);
  f.w3 = Cast<T>(src.w3);
  f.b3 = Cast<T>(src.b3);
  f.mm1 = Cast<T>(src.mm1);
  f.mv1 = Cast<T>(src.mv1);
  f.mm2 = Cast<T>(src.mm2);
  f.mv2 = Cast<T>(src.mv2);
  const std::vector<T> dy = Cast<T>(dscores);
  AttentionUnitCache<T> cache;
  std::vector<T> scores(f.mask.size()), dkeys(f.keys.size(), T(0)), dquery(f.query.size(), T(0)),
      gw1(f.w1.size(), T(0));
  AttentionUnitGrads<T> grads;
  grads.w1 = gw1.data();
  attention_unit_forward(scores.data(), &cache, f.Weights(), f.keys.data(), f.query.data(),
                         f.mask.data(), true, f.shape);
  attention_unit_backward(dkeys.data(), dquery.data(), grads, dy.data(), &cache, f.Weights(),
                          f.keys.data(), f.query.data(), f.mask.data(), f.shape);
  Vec out;
  for (const auto* v : {&scores, &dkeys, &dquery, &gw1})
    out.insert(out.end(), v->begin(), v->end());
  return out;
}

TEST(AttentionUnitTest, FloatAgreesWithDouble) {
  std::mt19937_64 rng(25);
  for (HiddenActivation act :
       {HiddenActivation::kSigmoid, HiddenActivation::kPrelu, HiddenActivation::kDice}) {
    AttentionFixture<double> f =
        MakeAttention(&rng, 8, 10, 12, 16, 8, act, {10, 3, 0, 7, 10, 1, 5, 9});
    const Vec dscores = RandomVector(8 * 10, &rng);
    const Vec d = RunAttention<double>(f, dscores);
    const Vec s = RunAttention<float>(f, dscores);
    ASSERT_EQ(d.size(), s.size());
    // Float carries ~7 digits; allow a few roundings' worth relative to the
    // largest magnitude of the result.
    const double scale = MaxAbs(d);
    double worst = 0.0;
    for (size_t i = 0; i < d.size(); ++i) worst = std::max(worst, std::fabs(d[i] - s[i]));
    std::printf("[float-vs-double] activation=%d max_abs_diff=%.3e (scale %.3e)\n",
                static_cast<int>(act), worst, scale);
    EXPECT_LT(worst, 1e-4 * scale);
  }
}

// Not an assertion: how long the unit takes at the DIN training shape.
TEST(AttentionUnitTest, TimingFloat) {
  std::mt19937_64 rng(26);
  const int batch = 128, length = 100, dim = 36;
  for (HiddenActivation act : {HiddenActivation::kSigmoid, HiddenActivation::kDice}) {
    AttentionFixture<double> src =
        MakeAttention(&rng, batch, length, dim, 80, 40, act, std::vector<int>(batch, length));
    AttentionFixture<float> f;
    f.shape = src.shape;
    f.keys = Cast<float>(src.keys);
    f.query = Cast<float>(src.query);
    f.mask = Cast<float>(src.mask);
    f.w1 = Cast<float>(src.w1);
    f.b1 = Cast<float>(src.b1);
    f.act1 = Cast<float>(src.act1);
    f.w2 = Cast<float>(src.w2);
    f.b2 = Cast<float>(src.b2);
    f.act2 = Cast<float>(src.act2);
    f.w3 = Cast<float>(src.w3);
    f.b3 = Cast<float>(src.b3);
    f.mm1 = Cast<float>(src.mm1);
    f.mv1 = Cast<float>(src.mv1);
    f.mm2 = Cast<float>(src.mm2);
    f.mv2 = Cast<float>(src.mv2);
    std::vector<float> scores(batch * length), dscores(batch * length, 1e-3f);
    std::vector<float> dkeys(f.keys.size()), dquery(f.query.size()), gw1(f.w1.size()), gb1(80),
        ga1(80), gw2(80 * 40), gb2(40), ga2(40), gw3(40), gb3(1);
    AttentionUnitGrads<float> grads{gw1.data(), gb1.data(), ga1.data(), gw2.data(),
                                    gb2.data(), ga2.data(), gw3.data(), gb3.data()};
    AttentionUnitCache<float> cache;
    auto step = [&] {
      attention_unit_forward(scores.data(), &cache, f.Weights(), f.keys.data(), f.query.data(),
                             f.mask.data(), true, f.shape);
      attention_unit_backward(dkeys.data(), dquery.data(), grads, dscores.data(), &cache,
                              f.Weights(), f.keys.data(), f.query.data(), f.mask.data(), f.shape);
    };
    step();  // grow the cache
    const int iters = 20;
    // Wall time depends on how busy the (shared) machine is and on BLAS
    // threads; process CPU time (all threads) is the steadier figure.
    const auto wall0 = std::chrono::steady_clock::now();
    const std::clock_t cpu0 = std::clock();
    for (int i = 0; i < iters; ++i) step();
    const double cpu_ms = 1e3 * double(std::clock() - cpu0) / CLOCKS_PER_SEC / iters;
    const double wall_ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - wall0)
            .count() /
        iters;
    std::printf(
        "[timing] attention unit fwd+bwd float B=%d T=%d D=%d 80/40 act=%d: %.2f ms wall, "
        "%.2f ms cpu\n",
        batch, length, dim, static_cast<int>(act), wall_ms, cpu_ms);
    EXPECT_TRUE(std::isfinite(scores[0]));
  }
}

}  // namespace
}  // namespace dips
