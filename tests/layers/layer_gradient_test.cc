// Finite-difference checks of the non-recurrent layer kernels (double), plus
// the properties a gradient check cannot see: padding, the attention unit's
// folded first layer, Dice's statistics, loss stability, float vs double.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <random>
#include <vector>

#include "tests/layers/gradient_check.h"
#include "worker/model/layers/activations.h"
#include "worker/model/layers/attention_unit.h"
#include "worker/model/layers/dice.h"
#include "worker/model/layers/embedding.h"
#include "worker/model/layers/linear.h"
#include "worker/model/layers/loss.h"
#include "worker/model/layers/pooling.h"

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

// Values in +-[lo, hi] with random sign: keeps PReLU inputs off the kink.
Vec AwayFromZero(size_t n, std::mt19937_64* rng, double lo, double hi) {
  Vec v = RandomVector(n, rng, lo, hi);
  std::bernoulli_distribution sign(0.5);
  for (double& x : v) x = sign(*rng) ? x : -x;
  return v;
}

TEST(LinearTest, Gradients) {
  std::mt19937_64 rng(1);
  const int n = 4, in = 5, out = 3;
  Vec x = RandomVector(n * in, &rng), w = RandomVector(in * out, &rng), b = RandomVector(out, &rng);
  const Vec c = RandomVector(n * out, &rng);
  Vec y(n * out);
  auto loss = [&] {
    linear_forward(y.data(), x.data(), w.data(), b.data(), n, in, out);
    return Project(c, y.data(), y.size());
  };
  // Pre-filled gradient buffers check that backward accumulates.
  Vec dx(x.size(), 0.5), dw(w.size(), 0.5), db(b.size(), 0.5);
  loss();
  linear_backward(dx.data(), dw.data(), db.data(), c.data(), x.data(), w.data(), n, in, out);
  for (Vec* g : {&dx, &dw, &db}) {
    for (double& v : *g) v -= 0.5;
  }
  EXPECT_LT(CheckGradient("linear dx", &x, dx, loss).max_relative_error, kTolerance);
  EXPECT_LT(CheckGradient("linear dw", &w, dw, loss).max_relative_error, kTolerance);
  EXPECT_LT(CheckGradient("linear db", &b, db, loss).max_relative_error, kTolerance);
}

TEST(LinearTest, NoBiasMatchesDirectProduct) {
  std::mt19937_64 rng(2);
  const int n = 3, in = 4, out = 2;
  const Vec x = RandomVector(n * in, &rng), w = RandomVector(in * out, &rng);
  Vec y(n * out, 123.0);  // forward must overwrite, not accumulate
  linear_forward(y.data(), x.data(), w.data(), static_cast<const double*>(nullptr), n, in, out);
  for (int i = 0; i < n; ++i) {
    for (int j = 0; j < out; ++j) {
      double s = 0.0;
      for (int k = 0; k < in; ++k) s += x[i * in + k] * w[k * out + j];
      EXPECT_NEAR(y[i * out + j], s, 1e-14);
    }
  }
}

TEST(ActivationsTest, SigmoidGradient) {
  std::mt19937_64 rng(3);
  Vec x = RandomVector(12, &rng, -4.0, 4.0);
  const Vec c = RandomVector(12, &rng);
  Vec y(12);
  auto loss = [&] {
    sigmoid_forward(y.data(), x.data(), y.size());
    return Project(c, y.data(), y.size());
  };
  loss();
  Vec dx(12, 0.0);
  sigmoid_backward(dx.data(), c.data(), y.data(), y.size());
  EXPECT_LT(CheckGradient("sigmoid dx", &x, dx, loss).max_relative_error, kTolerance);
}

TEST(ActivationsTest, FloatSigmoidMatchesDouble) {
  // The float sigmoid uses its own vectorisable exp; compare it with libm's
  // double exp over the whole useful range, including saturation.
  const int n = 4001;
  std::vector<float> xf(n), yf(n);
  Vec xd(n), yd(n);
  for (int i = 0; i < n; ++i) {
    xf[i] = -100.0f + 0.05f * static_cast<float>(i);
    xd[i] = xf[i];
  }
  sigmoid_forward(yf.data(), xf.data(), n);
  sigmoid_forward(yd.data(), xd.data(), n);
  // For x < 0 the value itself is small and must be relatively accurate;
  // for x >= 0 float cannot resolve 1 - y below its spacing near 1 (6e-8
  // under, 1.2e-7 over), so the error there is absolute.
  double worst_rel = 0.0, worst_abs = 0.0;
  for (int i = 0; i < n; ++i) {
    if (xd[i] < -87.0) {
      // The float exp is clamped here: y must still be (nearly) 0.
      EXPECT_LT(yf[i], 2e-38f);
    } else if (xd[i] < 0.0) {
      worst_rel = std::max(worst_rel, std::fabs(yf[i] - yd[i]) / yd[i]);
    } else {
      worst_abs = std::max(worst_abs, std::fabs(yf[i] - yd[i]));
    }
  }
  std::printf("[sigmoid] float vs double: worst rel err (x<0) %.3e, worst abs err (x>=0) %.3e\n",
              worst_rel, worst_abs);
  EXPECT_LT(worst_rel, 1e-6);
  EXPECT_LT(worst_abs, 1.2e-7);
  EXPECT_EQ(yf[n - 1], 1.0f);
}

TEST(ActivationsTest, SigmoidSaturatesWithoutNan) {
  const Vec x = {-1000.0, -100.0, 0.0, 100.0, 1000.0};
  Vec y(x.size());
  sigmoid_forward(y.data(), x.data(), x.size());
  EXPECT_EQ(y[0], 0.0);
  EXPECT_EQ(y[2], 0.5);
  EXPECT_EQ(y[4], 1.0);
  for (double v : y) EXPECT_FALSE(std::isnan(v));
}

TEST(ActivationsTest, PreluGradient) {
  std::mt19937_64 rng(4);
  const int n = 5, units = 4;
  Vec x = AwayFromZero(n * units, &rng, 0.2, 1.5);
  Vec alpha = RandomVector(units, &rng, 0.05, 0.5);
  const Vec c = RandomVector(n * units, &rng);
  Vec y(n * units);
  auto loss = [&] {
    prelu_forward(y.data(), x.data(), alpha.data(), n, units);
    return Project(c, y.data(), y.size());
  };
  loss();
  Vec dx(x.size(), 0.0), dalpha(units, 0.0);
  prelu_backward(dx.data(), dalpha.data(), c.data(), x.data(), alpha.data(), n, units);
  EXPECT_LT(CheckGradient("prelu dx", &x, dx, loss).max_relative_error, kTolerance);
  EXPECT_LT(CheckGradient("prelu dalpha", &alpha, dalpha, loss).max_relative_error, kTolerance);
}

// ---- Dice -----------------------------------------------------------------

struct DiceFixture {
  DiceShape shape;
  Vec x, alpha, mask, moving_mean, moving_var, c;
};

DiceFixture MakeDice(std::mt19937_64* rng) {
  DiceFixture f;
  f.shape.rows = 7;
  f.shape.units = 3;
  f.x = RandomVector(f.shape.rows * f.shape.units, rng, -2.0, 2.0);
  f.alpha = RandomVector(f.shape.units, rng, 0.05, 0.5);
  f.mask = {1, 0, 1, 1, 0, 1, 1};  // rows 1 and 4 are padding
  f.moving_mean = RandomVector(f.shape.units, rng, -0.5, 0.5);
  f.moving_var = RandomVector(f.shape.units, rng, 0.5, 2.0);
  f.c = RandomVector(f.shape.rows * f.shape.units, rng);
  return f;
}

TEST(DiceTest, TrainingGradientsThroughMaskedBatchStatistics) {
  std::mt19937_64 rng(5);
  DiceFixture f = MakeDice(&rng);
  DiceCache<double> cache;
  Vec y(f.x.size());
  // The projection weights every row, masked ones included: their outputs
  // depend on the valid rows' statistics, and that path must be exact too.
  auto loss = [&] {
    dice_forward(y.data(), &cache, f.x.data(), f.alpha.data(), f.mask.data(), true,
                 static_cast<double*>(nullptr), static_cast<double*>(nullptr), f.shape);
    return Project(f.c, y.data(), y.size());
  };
  loss();
  Vec dx(f.x.size(), 0.0), dalpha(f.alpha.size(), 0.0);
  dice_backward(dx.data(), dalpha.data(), f.c.data(), cache, f.x.data(), f.alpha.data(),
                f.mask.data(), f.shape);
  EXPECT_LT(CheckGradient("dice train dx (masked rows)", &f.x, dx, loss).max_relative_error,
            kTolerance);
  EXPECT_LT(CheckGradient("dice train dalpha", &f.alpha, dalpha, loss).max_relative_error,
            kTolerance);
}

TEST(DiceTest, TrainingStatisticsIgnoreMaskedRowsAndUpdateMovingAverages) {
  std::mt19937_64 rng(6);
  DiceFixture f = MakeDice(&rng);
  const int rows = f.shape.rows, units = f.shape.units;
  Vec mm = f.moving_mean, mv = f.moving_var;
  DiceCache<double> cache;
  Vec y(f.x.size());
  dice_forward(y.data(), &cache, f.x.data(), f.alpha.data(), f.mask.data(), true, mm.data(),
               mv.data(), f.shape);
  // Masked rows may hold anything: moving them far away changes nothing for
  // the valid rows.
  Vec x2 = f.x;
  for (int u = 0; u < units; ++u) x2[1 * units + u] = 50.0 + u;
  Vec y2(f.x.size());
  DiceCache<double> cache2;
  dice_forward(y2.data(), &cache2, x2.data(), f.alpha.data(), f.mask.data(), true,
               static_cast<double*>(nullptr), static_cast<double*>(nullptr), f.shape);
  for (int u = 0; u < units; ++u) {
    double mean = 0.0, var = 0.0;
    int count = 0;
    for (int i = 0; i < rows; ++i) {
      if (f.mask[i] == 0) continue;
      mean += f.x[i * units + u];
      ++count;
    }
    mean /= count;
    for (int i = 0; i < rows; ++i) {
      if (f.mask[i] == 0) continue;
      var += (f.x[i * units + u] - mean) * (f.x[i * units + u] - mean);
    }
    var /= count;  // biased
    EXPECT_NEAR(cache.mean[u], mean, 1e-14);
    EXPECT_NEAR(cache.var[u], var, 1e-14);
    EXPECT_NEAR(mm[u], 0.99 * f.moving_mean[u] + 0.01 * mean, 1e-14);
    EXPECT_NEAR(mv[u], 0.99 * f.moving_var[u] + 0.01 * var, 1e-14);
    for (int i = 0; i < rows; ++i) {
      const double xi = f.x[i * units + u];
      const double p = 1.0 / (1.0 + std::exp(-(xi - mean) / std::sqrt(var + 1e-8)));
      EXPECT_NEAR(y[i * units + u], p * xi + (1 - p) * f.alpha[u] * xi, 1e-13);
      if (f.mask[i] != 0) {
        EXPECT_EQ(y2[i * units + u], y[i * units + u]);
      }
    }
  }
}

TEST(DiceTest, EvaluationUsesMovingAveragesAndLeavesThemAlone) {
  std::mt19937_64 rng(7);
  DiceFixture f = MakeDice(&rng);
  const int rows = f.shape.rows, units = f.shape.units;
  Vec mm = f.moving_mean, mv = f.moving_var;
  DiceCache<double> cache;
  Vec y(f.x.size());
  auto loss = [&] {
    dice_forward(y.data(), &cache, f.x.data(), f.alpha.data(), static_cast<const double*>(nullptr),
                 false, mm.data(), mv.data(), f.shape);
    return Project(f.c, y.data(), y.size());
  };
  loss();
  EXPECT_EQ(mm, f.moving_mean);
  EXPECT_EQ(mv, f.moving_var);
  for (int i = 0; i < rows; ++i) {
    for (int u = 0; u < units; ++u) {
      const double xi = f.x[i * units + u];
      const double p = 1.0 / (1.0 + std::exp(-(xi - mm[u]) / std::sqrt(mv[u] + 1e-8)));
      EXPECT_NEAR(y[i * units + u], p * xi + (1 - p) * f.alpha[u] * xi, 1e-13);
    }
  }
  Vec dx(f.x.size(), 0.0), dalpha(f.alpha.size(), 0.0);
  dice_backward(dx.data(), dalpha.data(), f.c.data(), cache, f.x.data(), f.alpha.data(),
                static_cast<const double*>(nullptr), f.shape);
  // h = 1e-5: some elements of this gradient are ~1e-4, where the default
  // step's rounding noise (~1e-10 absolute) would use up most of the margin.
  EXPECT_LT(CheckGradient("dice eval dx", &f.x, dx, loss, 1e-5).max_relative_error, kTolerance);
  EXPECT_LT(CheckGradient("dice eval dalpha", &f.alpha, dalpha, loss).max_relative_error,
            kTolerance);
}

// ---- Embedding and pooling ------------------------------------------------

TEST(EmbeddingTest, GatherScatterAreAdjoint) {
  std::mt19937_64 rng(8);
  const int keys = 4, num = 3, fields = 2, dim = 3;
  Vec rows = RandomVector(keys * dim, &rng);
  const std::vector<int32_t> slots = {0, 2, -1, 2, 3, 1};  // key 2 twice, one pad
  const Vec c = RandomVector(num * fields * dim, &rng);
  Vec out(num * fields * dim, 9.0);
  auto loss = [&] {
    embedding_gather(out.data(), rows.data(), slots.data(), num, fields, dim);
    return Project(c, out.data(), out.size());
  };
  loss();
  for (int d = 0; d < dim; ++d) EXPECT_EQ(out[2 * dim + d], 0.0);  // padding slot
  for (int d = 0; d < dim; ++d) EXPECT_EQ(out[1 * dim + d], rows[2 * dim + d]);
  Vec drows(rows.size(), 0.0);
  embedding_scatter_add(drows.data(), c.data(), slots.data(), num, fields, dim);
  EXPECT_LT(CheckGradient("embedding drows", &rows, drows, loss).max_relative_error, kTolerance);
}

TEST(PoolingTest, WeightedSumGradientsSkipPadding) {
  std::mt19937_64 rng(9);
  const int batch = 3, length = 4, dim = 3;
  Vec values = RandomVector(batch * length * dim, &rng);
  Vec weights = RandomVector(batch * length, &rng);
  const Vec mask = {1, 1, 0, 0, 1, 1, 1, 1, 0, 0, 0, 0};  // last sample empty
  const Vec c = RandomVector(batch * dim, &rng);
  Vec out(batch * dim);
  auto loss = [&] {
    weighted_sum_pooling_forward(out.data(), values.data(), weights.data(), mask.data(), batch,
                                 length, dim);
    return Project(c, out.data(), out.size());
  };
  loss();
  for (int d = 0; d < dim; ++d) EXPECT_EQ(out[2 * dim + d], 0.0);
  Vec dvalues(values.size(), 0.0), dweights(weights.size(), 0.0);
  weighted_sum_pooling_backward(dvalues.data(), dweights.data(), c.data(), values.data(),
                                weights.data(), mask.data(), batch, length, dim);
  for (int pos = 0; pos < batch * length; ++pos) {
    if (mask[pos] != 0) continue;
    EXPECT_EQ(dweights[pos], 0.0);
    for (int d = 0; d < dim; ++d) EXPECT_EQ(dvalues[pos * dim + d], 0.0);
  }
  EXPECT_LT(CheckGradient("weighted pooling dvalues", &values, dvalues, loss).max_relative_error,
            kTolerance);
  EXPECT_LT(CheckGradient("weighted pooling dweights", &weights, dweights, loss).max_relative_error,
            kTolerance);
}

TEST(PoolingTest, PlainMaskedSum) {
  std::mt19937_64 rng(10);
  const int batch = 2, length = 3, dim = 2;
  Vec values = RandomVector(batch * length * dim, &rng);
  const Vec mask = {1, 0, 1, 0, 1, 1};
  const Vec c = RandomVector(batch * dim, &rng);
  Vec out(batch * dim);
  auto loss = [&] {
    weighted_sum_pooling_forward(out.data(), values.data(), static_cast<const double*>(nullptr),
                                 mask.data(), batch, length, dim);
    return Project(c, out.data(), out.size());
  };
  loss();
  for (int b = 0; b < batch; ++b) {
    for (int d = 0; d < dim; ++d) {
      double s = 0.0;
      for (int t = 0; t < length; ++t)
        s += mask[b * length + t] * values[(b * length + t) * dim + d];
      EXPECT_NEAR(out[b * dim + d], s, 1e-15);
    }
  }
  Vec dvalues(values.size(), 0.0);
  weighted_sum_pooling_backward(dvalues.data(), static_cast<double*>(nullptr), c.data(),
                                values.data(), static_cast<const double*>(nullptr), mask.data(),
                                batch, length, dim);
  EXPECT_LT(CheckGradient("sum pooling dvalues", &values, dvalues, loss).max_relative_error,
            kTolerance);
}

TEST(PoolingTest, MaskedSoftmaxWithAllMaskedRow) {
  std::mt19937_64 rng(11);
  const int batch = 3, length = 4;
  Vec x = RandomVector(batch * length, &rng, -3.0, 3.0);
  const Vec mask = {1, 1, 1, 0, 0, 0, 0, 0, 0, 1, 0, 1};  // row 1 all padding
  const Vec c = RandomVector(batch * length, &rng);
  Vec y(batch * length);
  auto loss = [&] {
    masked_softmax_forward(y.data(), x.data(), mask.data(), batch, length);
    return Project(c, y.data(), y.size());
  };
  loss();
  for (int b = 0; b < batch; ++b) {
    double sum = 0.0;
    for (int t = 0; t < length; ++t) {
      if (mask[b * length + t] == 0) {
        EXPECT_EQ(y[b * length + t], 0.0);
      }
      sum += y[b * length + t];
    }
    EXPECT_NEAR(sum, b == 1 ? 0.0 : 1.0, 1e-15);
  }
  // Large logits must not overflow (the max is subtracted first).
  Vec big = {1000.0, 999.0, 0.0, 0.0};
  Vec ybig(4);
  const Vec mbig = {1, 1, 0, 0};
  masked_softmax_forward(ybig.data(), big.data(), mbig.data(), 1, 4);
  EXPECT_NEAR(ybig[0], 1.0 / (1.0 + std::exp(-1.0)), 1e-15);
  Vec dx(x.size(), 0.0);
  masked_softmax_backward(dx.data(), c.data(), y.data(), mask.data(), batch, length);
  for (int pos = 0; pos < batch * length; ++pos) {
    if (mask[pos] == 0) {
      EXPECT_EQ(dx[pos], 0.0);
    }
  }
  EXPECT_LT(CheckGradient("masked softmax dx", &x, dx, loss).max_relative_error, kTolerance);
}

// ---- Loss -----------------------------------------------------------------

TEST(LossTest, SigmoidBceMatchesDirectFormulaAndGradient) {
  std::mt19937_64 rng(12);
  const int n = 6;
  Vec logits = RandomVector(n, &rng, -3.0, 3.0);
  const Vec labels = {1, 0, 1, 1, 0, 0};
  Vec probs(n);
  const double value = sigmoid_bce_forward(probs.data(), logits.data(), labels.data(), n);
  double direct = 0.0;
  for (int i = 0; i < n; ++i) {
    const double p = 1.0 / (1.0 + std::exp(-logits[i]));
    EXPECT_NEAR(probs[i], p, 1e-15);
    direct -= labels[i] * std::log(p) + (1 - labels[i]) * std::log(1 - p);
  }
  EXPECT_NEAR(value, direct / n, 1e-14);

  const double scale = 0.7;
  auto loss = [&] {
    return scale * sigmoid_bce_forward(probs.data(), logits.data(), labels.data(), n);
  };
  loss();
  Vec dlogits(n, 0.0);
  sigmoid_bce_backward(dlogits.data(), probs.data(), labels.data(), n, scale);
  EXPECT_LT(CheckGradient("sigmoid_bce dlogits", &logits, dlogits, loss).max_relative_error,
            kTolerance);
}

TEST(LossTest, SigmoidBceStableAtLargeLogits) {
  // Exact values: BCE(1, s(100)) = log(1 + e^-100) ~ e^-100; BCE(0, s(100)) =
  // 100 + log(1 + e^-100); symmetric for -100.
  const double e = std::exp(-100.0);
  for (bool use_float : {false, true}) {
    const std::vector<std::pair<double, double>> cases = {
        {100.0, 1.0}, {100.0, 0.0}, {-100.0, 0.0}, {-100.0, 1.0}};
    for (const auto& [z, label] : cases) {
      const bool wrong = (z > 0) != (label > 0.5);
      const double expected = wrong ? 100.0 + e : e;
      double value, prob;
      if (use_float) {
        float p, zf = static_cast<float>(z), lf = static_cast<float>(label);
        value = sigmoid_bce_forward(&p, &zf, &lf, 1);
        prob = p;
      } else {
        double p;
        value = sigmoid_bce_forward(&p, &z, &label, 1);
        prob = p;
      }
      EXPECT_TRUE(std::isfinite(value));
      EXPECT_NEAR(value, expected, wrong ? 1e-5 : 1e-30) << "z=" << z << " label=" << label;
      EXPECT_GE(prob, 0.0);
      EXPECT_LE(prob, 1.0);
      EXPECT_NEAR(prob, z > 0 ? 1.0 : 0.0, 1e-30);
    }
  }
}

// ---- Attention unit -------------------------------------------------------

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

void CheckAttentionGradients(const char* name, HiddenActivation act, uint64_t seed) {
  std::mt19937_64 rng(seed);
  const int batch = 3, length = 4, dim = 3, h1 = 5, h2 = 4;
  // Sample 1 is empty; the others have padding at the end.
  AttentionFixture<double> f = MakeAttention(&rng, batch, length, dim, h1, h2, act, {3, 0, 4});
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
