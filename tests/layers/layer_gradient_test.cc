// Finite-difference checks of the non-recurrent layer kernels (double), plus
// the properties a gradient check cannot see: padding, Dice's statistics,
// loss stability, float vs double. The attention unit: attention_unit_test.cc.
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

// The overwriting variant gives exactly the accumulating one's gradients
// started from zero, whatever dx held before; dalpha still accumulates.
TEST(ActivationsTest, PreluBackwardOverwriteMatchesAccumulateFromZero) {
  std::mt19937_64 rng(5);
  const int n = 7, units = 5;
  const Vec x = RandomVector(n * units, &rng);
  const Vec alpha = RandomVector(units, &rng, 0.05, 0.5);
  const Vec dy = RandomVector(n * units, &rng);
  Vec dx_want(x.size(), 0.0), dalpha_want(units, 0.25);
  prelu_backward(dx_want.data(), dalpha_want.data(), dy.data(), x.data(), alpha.data(), n, units);
  Vec dx_got = RandomVector(n * units, &rng), dalpha_got(units, 0.25);
  prelu_backward_overwrite(dx_got.data(), dalpha_got.data(), dy.data(), x.data(), alpha.data(), n,
                           units);
  for (size_t i = 0; i < dx_got.size(); ++i) EXPECT_EQ(dx_got[i], dx_want[i]) << i;
  for (int u = 0; u < units; ++u) EXPECT_EQ(dalpha_got[u], dalpha_want[u]) << u;
  Vec dx_only = RandomVector(n * units, &rng);
  prelu_backward_overwrite(dx_only.data(), static_cast<double*>(nullptr), dy.data(), x.data(),
                           alpha.data(), n, units);
  for (size_t i = 0; i < dx_only.size(); ++i) EXPECT_EQ(dx_only[i], dx_want[i]) << i;
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

// DIN's fused pass: the same outputs as the two poolings it replaces, its
// own finite-difference gradients, and gradients written (not added) at
// every position, padding included.
TEST(PoolingTest, SumAndWeightedPairMatchesTwoPoolingsAndWritesItsGradients) {
  std::mt19937_64 rng(12);
  const int batch = 3, length = 4, dim = 3;
  Vec values = RandomVector(batch * length * dim, &rng);
  Vec weights = RandomVector(batch * length, &rng);
  const Vec mask = {1, 1, 1, 0, 0, 0, 0, 0, 1, 0, 1, 1};  // sample 1 empty
  const Vec c_sum = RandomVector(batch * dim, &rng);
  const Vec c_weighted = RandomVector(batch * dim, &rng);
  Vec sum(batch * dim), weighted(batch * dim);
  auto loss = [&] {
    sum_and_weighted_pooling_forward(sum.data(), weighted.data(), values.data(), weights.data(),
                                     mask.data(), batch, length, dim);
    return Project(c_sum, sum.data(), sum.size()) +
           Project(c_weighted, weighted.data(), weighted.size());
  };
  loss();
  Vec sum_ref(sum.size()), weighted_ref(weighted.size());
  weighted_sum_pooling_forward(sum_ref.data(), values.data(), static_cast<const double*>(nullptr),
                               mask.data(), batch, length, dim);
  weighted_sum_pooling_forward(weighted_ref.data(), values.data(), weights.data(), mask.data(),
                               batch, length, dim);
  // Equal up to the rounding of a fused multiply-add where the separate
  // passes rounded twice.
  for (size_t i = 0; i < sum.size(); ++i) {
    EXPECT_NEAR(sum[i], sum_ref[i], 1e-14) << i;
    EXPECT_NEAR(weighted[i], weighted_ref[i], 1e-14) << i;
  }

  // Stale values in the outputs must not survive: the pass writes them.
  Vec dvalues(values.size(), std::nan("")), dweights(weights.size(), std::nan(""));
  sum_and_weighted_pooling_backward(dvalues.data(), dweights.data(), c_sum.data(),
                                    c_weighted.data(), values.data(), weights.data(),
                                    mask.data(), batch, length, dim);
  Vec dvalues_ref(values.size(), 0.0), dweights_ref(weights.size(), 0.0);
  weighted_sum_pooling_backward(dvalues_ref.data(), static_cast<double*>(nullptr), c_sum.data(),
                                values.data(), static_cast<const double*>(nullptr), mask.data(),
                                batch, length, dim);
  weighted_sum_pooling_backward(dvalues_ref.data(), dweights_ref.data(), c_weighted.data(),
                                values.data(), weights.data(), mask.data(), batch, length, dim);
  for (size_t i = 0; i < dvalues.size(); ++i) EXPECT_NEAR(dvalues[i], dvalues_ref[i], 1e-14) << i;
  for (size_t i = 0; i < dweights.size(); ++i) {
    EXPECT_NEAR(dweights[i], dweights_ref[i], 1e-14) << i;
  }
  EXPECT_LT(CheckGradient("pooling pair dvalues", &values, dvalues, loss).max_relative_error,
            kTolerance);
  EXPECT_LT(CheckGradient("pooling pair dweights", &weights, dweights, loss).max_relative_error,
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

TEST(LossTest, FloatSigmoidBceAgreesWithDouble) {
  // The float loss runs FastExp and a series for log1p (loss.cc); each
  // term must agree with libm's double value, across the logits training
  // sees and both labels.
  std::vector<float> logits, labels;
  for (int i = -4000; i <= 4000; ++i) {
    logits.push_back(static_cast<float>(i) / 128.0f);  // [-31.25, 31.25]
    labels.push_back(static_cast<float>(i & 1));
  }
  for (size_t i = 0; i < logits.size(); ++i) {
    float prob;
    const double value = sigmoid_bce_forward(&prob, &logits[i], &labels[i], 1);
    double dprob;
    const double z = logits[i], label = labels[i];
    const double expected = sigmoid_bce_forward(&dprob, &z, &label, 1);
    ASSERT_NEAR(value, expected, 2e-7 * std::max(1.0, expected)) << "z=" << z;
    ASSERT_NEAR(prob, dprob, 2e-7) << "z=" << z;
  }
  // And the batch mean.
  std::vector<float> probs(logits.size());
  std::vector<double> dlogits(logits.begin(), logits.end()), dlabels(labels.begin(), labels.end());
  std::vector<double> dprobs(logits.size());
  const int n = static_cast<int>(logits.size());
  EXPECT_NEAR(sigmoid_bce_forward(probs.data(), logits.data(), labels.data(), n),
              sigmoid_bce_forward(dprobs.data(), dlogits.data(), dlabels.data(), n), 1e-6);
}

// ---- Attention unit -------------------------------------------------------

}  // namespace
}  // namespace dips
