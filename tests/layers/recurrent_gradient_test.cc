// GRU / AUGRU / AGRU and DIEN's auxiliary loss: finite-difference gradients
// in double on tiny ragged batches, plus forward checks against a naive
// per-sample reference written independently here, and a printed timing of
// the training shape.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <random>
#include <vector>

#include "tests/layers/gradient_check.h"
#include "worker/model/layers/aux_loss.h"
#include "worker/model/layers/gru.h"

namespace dips {
namespace {

using testing::CheckGradient;
using testing::Project;
using testing::RandomVector;

constexpr double kMaxRelError = 1e-6;
// Central differences err by ~h^2 |L'''| / 6 (truncation) plus ~eps |L| / h
// (roundoff). h = 1e-5 balances the two for O(1) losses, keeping the
// absolute error near 1e-11 so that small but real gradients (~1e-4) still
// meet the relative bound; the harness default 1e-6 leaves ~1e-10 of noise.
constexpr double kStep = 1e-5;
// The aux loss is a mean over a few rows seen through two sigmoid layers, so
// its weight gradients are ~1e-4..1e-2 and cancellation can leave single
// elements near 1e-6, below what a difference quotient resolves relatively
// (~1e-11 absolute). Elements under this floor are held to
// |error| < kMaxRelError * kAuxFloor = 1e-11 instead.
constexpr double kAuxFloor = 1e-5;

template <typename T>
std::vector<T> Cast(const std::vector<double>& v) {
  return std::vector<T>(v.begin(), v.end());
}

// ---- GRU fixtures -----------------------------------------------------------

// Inputs and parameters of one GRU problem, kept in double; float runs cast.
struct GruProblem {
  GruShape shape;
  std::vector<int32_t> lengths;
  std::vector<double> inputs, attention, w_input, w_hidden, bias;
};

GruProblem MakeGruProblem(int batch, int length, int input_dim, int hidden,
                          std::vector<int32_t> lengths, uint64_t seed) {
  std::mt19937_64 rng(seed);
  GruProblem p;
  p.shape = {batch, length, input_dim, hidden};
  p.lengths = std::move(lengths);
  const size_t rows = static_cast<size_t>(batch) * length;
  p.inputs = RandomVector(rows * input_dim, &rng);
  p.attention = RandomVector(rows, &rng, 0.05, 0.95);
  p.w_input = RandomVector(static_cast<size_t>(input_dim) * 3 * hidden, &rng, -0.8, 0.8);
  p.w_hidden = RandomVector(static_cast<size_t>(hidden) * 3 * hidden, &rng, -0.8, 0.8);
  p.bias = RandomVector(3 * static_cast<size_t>(hidden), &rng, -0.5, 0.5);
  return p;
}

template <typename T>
std::vector<T> RunGru(const GruProblem& p, GruVariant variant, GruCache<T>* cache) {
  const auto inputs = Cast<T>(p.inputs), attention = Cast<T>(p.attention);
  const auto wi = Cast<T>(p.w_input), wh = Cast<T>(p.w_hidden), b = Cast<T>(p.bias);
  std::vector<T> hidden(static_cast<size_t>(p.shape.batch) * p.shape.length * p.shape.hidden);
  gru_forward(hidden.data(), cache, GruWeights<T>{wi.data(), wh.data(), b.data()},
              inputs.data(), p.lengths.data(), attention.data(), variant, p.shape);
  return hidden;
}

// The textbook recurrence, one sequence and one step at a time, with plain
// matrix-vector loops: what the batched GEMM layout must reproduce.
std::vector<double> NaiveGru(const GruProblem& p, GruVariant variant) {
  const int L = p.shape.length, I = p.shape.input_dim, H = p.shape.hidden, G = 3 * H;
  std::vector<double> out(static_cast<size_t>(p.shape.batch) * L * H, 0.0);
  auto sigmoid = [](double x) { return 1.0 / (1.0 + std::exp(-x)); };
  for (int b = 0; b < p.shape.batch; ++b) {
    std::vector<double> h(H, 0.0);
    for (int t = 0; t < L; ++t) {
      if (t < p.lengths[b]) {
        const double* x = &p.inputs[(static_cast<size_t>(b) * L + t) * I];
        std::vector<double> xw(G, 0.0), hu(G, 0.0);
        for (int k = 0; k < G; ++k) {
          for (int i = 0; i < I; ++i) xw[k] += x[i] * p.w_input[i * G + k];
          for (int i = 0; i < H; ++i) hu[k] += h[i] * p.w_hidden[i * G + k];
        }
        const double a = p.attention[static_cast<size_t>(b) * L + t];
        std::vector<double> next(H);
        for (int j = 0; j < H; ++j) {
          const double u = sigmoid(xw[j] + hu[j] + p.bias[j]);
          const double r = sigmoid(xw[H + j] + hu[H + j] + p.bias[H + j]);
          const double hc = std::tanh(xw[2 * H + j] + r * hu[2 * H + j] + p.bias[2 * H + j]);
          double mix = u;
          if (variant == GruVariant::kAugru) mix = a * u;
          if (variant == GruVariant::kAgru) mix = a;
          // The reference code's form: its keep gate 1 - u scaled by 1 - a.
          if (variant == GruVariant::kAugruReference) mix = 1.0 - (1.0 - a) * (1.0 - u);
          next[j] = (1.0 - mix) * h[j] + mix * hc;
        }
        h = next;
      }
      for (int j = 0; j < H; ++j) out[(static_cast<size_t>(b) * L + t) * H + j] = h[j];
    }
  }
  return out;
}

const char* VariantName(GruVariant v) {
  switch (v) {
    case GruVariant::kGru:
      return "gru";
    case GruVariant::kAugru:
      return "augru";
    case GruVariant::kAgru:
      return "agru";
    case GruVariant::kAugruReference:
      return "augru_reference";
  }
  return "?";
}

class GruVariantTest : public ::testing::TestWithParam<GruVariant> {};

// Loss = random projection of the hidden states at every position (so the
// gradient enters at several steps of each sequence, padded ones included).
TEST_P(GruVariantTest, GradientsMatchFiniteDifferences) {
  const GruVariant variant = GetParam();
  GruProblem p = MakeGruProblem(4, 5, 4, 3, {5, 2, 0, 4}, 11);
  std::mt19937_64 rng(12);
  const size_t out_n = static_cast<size_t>(p.shape.batch) * p.shape.length * p.shape.hidden;
  const std::vector<double> coeffs = RandomVector(out_n, &rng);
  GruCache<double> cache;
  auto loss = [&]() {
    const std::vector<double> h = RunGru<double>(p, variant, &cache);
    return Project(coeffs, h.data(), out_n);
  };

  const std::vector<double> hidden = RunGru<double>(p, variant, &cache);
  std::vector<double> dinputs(p.inputs.size(), 0.0), dattention(p.attention.size(), 0.0);
  std::vector<double> dwi(p.w_input.size(), 0.0), dwh(p.w_hidden.size(), 0.0),
      db(p.bias.size(), 0.0);
  gru_backward(dinputs.data(), dattention.data(),
               GruGrads<double>{dwi.data(), dwh.data(), db.data()}, coeffs.data(),
               &cache, GruWeights<double>{p.w_input.data(), p.w_hidden.data(), p.bias.data()},
               p.inputs.data(), hidden.data(), p.lengths.data(), p.attention.data(),
               variant, p.shape);

  const std::string v = VariantName(variant);
  EXPECT_LT(CheckGradient(v + " inputs", &p.inputs, dinputs, loss, kStep).max_relative_error,
            kMaxRelError);
  EXPECT_LT(CheckGradient(v + " w_input", &p.w_input, dwi, loss, kStep).max_relative_error,
            kMaxRelError);
  EXPECT_LT(CheckGradient(v + " w_hidden", &p.w_hidden, dwh, loss, kStep).max_relative_error,
            kMaxRelError);
  EXPECT_LT(CheckGradient(v + " bias", &p.bias, db, loss, kStep).max_relative_error, kMaxRelError);
  if (variant == GruVariant::kGru) {
    // A plain GRU ignores attention and must not write its gradient.
    for (double d : dattention) EXPECT_EQ(d, 0.0);
  } else {
    EXPECT_LT(CheckGradient(v + " attention", &p.attention, dattention, loss, kStep)
                  .max_relative_error,
              kMaxRelError);
  }
}

TEST_P(GruVariantTest, BatchedMatchesNaivePerSampleRecurrence) {
  const GruVariant variant = GetParam();
  const GruProblem p = MakeGruProblem(5, 7, 6, 4, {7, 3, 0, 1, 6}, 21);
  GruCache<double> cache;
  const std::vector<double> batched = RunGru<double>(p, variant, &cache);
  const std::vector<double> naive = NaiveGru(p, variant);
  ASSERT_EQ(batched.size(), naive.size());
  for (size_t i = 0; i < naive.size(); ++i) EXPECT_NEAR(batched[i], naive[i], 1e-12) << i;
}

// Backward accumulates: a second call adds the same gradients again.
TEST_P(GruVariantTest, BackwardAccumulates) {
  const GruVariant variant = GetParam();
  const GruProblem p = MakeGruProblem(3, 4, 3, 2, {4, 1, 3}, 31);
  std::mt19937_64 rng(32);
  GruCache<double> cache;
  const std::vector<double> hidden = RunGru<double>(p, variant, &cache);
  const std::vector<double> dhidden = RandomVector(hidden.size(), &rng);
  std::vector<double> dx(p.inputs.size(), 0.0), da(p.attention.size(), 0.0);
  std::vector<double> dwi(p.w_input.size(), 0.0), dwh(p.w_hidden.size(), 0.0),
      db(p.bias.size(), 0.0);
  auto backward = [&]() {
    gru_backward(dx.data(), da.data(), GruGrads<double>{dwi.data(), dwh.data(), db.data()},
                 dhidden.data(), &cache,
                 GruWeights<double>{p.w_input.data(), p.w_hidden.data(), p.bias.data()},
                 p.inputs.data(), hidden.data(), p.lengths.data(), p.attention.data(),
                 variant, p.shape);
  };
  backward();
  const auto dx1 = dx, da1 = da, dwi1 = dwi, dwh1 = dwh, db1 = db;
  backward();
  auto expect_doubled = [](const std::vector<double>& once, const std::vector<double>& twice) {
    for (size_t i = 0; i < once.size(); ++i) EXPECT_NEAR(twice[i], 2 * once[i], 1e-14);
  };
  expect_doubled(dx1, dx);
  expect_doubled(da1, da);
  expect_doubled(dwi1, dwi);
  expect_doubled(dwh1, dwh);
  expect_doubled(db1, db);
}

INSTANTIATE_TEST_SUITE_P(Variants, GruVariantTest,
                         ::testing::Values(GruVariant::kGru, GruVariant::kAugru,
                                           GruVariant::kAgru, GruVariant::kAugruReference),
                         [](const ::testing::TestParamInfo<GruVariant>& info) {
                           return std::string(VariantName(info.param));
                         });

TEST(GruTest, PaddedStepsCarryTheFinalState) {
  const GruProblem p = MakeGruProblem(3, 6, 3, 4, {6, 2, 0}, 41);
  GruCache<double> cache;
  const std::vector<double> h = RunGru<double>(p, GruVariant::kGru, &cache);
  const int L = p.shape.length, H = p.shape.hidden;
  auto at = [&](int b, int t, int j) { return h[(static_cast<size_t>(b) * L + t) * H + j]; };
  for (int j = 0; j < H; ++j) {
    // Sequence 1 ends at t = 1: every later position repeats that state,
    // which moved away from 0 (so carrying is not trivially satisfied).
    EXPECT_NE(at(1, 1, j), 0.0);
    for (int t = 2; t < L; ++t) EXPECT_EQ(at(1, t, j), at(1, 1, j));
    // An empty sequence stays at h_0 = 0.
    for (int t = 0; t < L; ++t) EXPECT_EQ(at(2, t, j), 0.0);
  }
}

TEST(GruTest, AugruWithZeroAttentionKeepsTheState) {
  GruProblem p = MakeGruProblem(2, 6, 3, 4, {6, 5}, 51);
  // Sequence 0: attention 0 everywhere, so the state never leaves h_0 = 0.
  // Sequence 1: attention 0 at steps 2 and 3 only, which must repeat step 1.
  for (int t = 0; t < 6; ++t) p.attention[t] = 0.0;
  p.attention[6 + 2] = 0.0;
  p.attention[6 + 3] = 0.0;
  GruCache<double> cache;
  const std::vector<double> h = RunGru<double>(p, GruVariant::kAugru, &cache);
  const int L = p.shape.length, H = p.shape.hidden;
  auto at = [&](int b, int t, int j) { return h[(static_cast<size_t>(b) * L + t) * H + j]; };
  for (int j = 0; j < H; ++j) {
    for (int t = 0; t < L; ++t) EXPECT_EQ(at(0, t, j), 0.0);
    EXPECT_NE(at(1, 1, j), 0.0);
    EXPECT_EQ(at(1, 2, j), at(1, 1, j));
    EXPECT_EQ(at(1, 3, j), at(1, 1, j));
    EXPECT_NE(at(1, 4, j), at(1, 3, j));
  }
}

TEST(GruTest, AugruWithUnitAttentionIsGru) {
  GruProblem p = MakeGruProblem(3, 5, 4, 3, {5, 3, 1}, 61);
  std::fill(p.attention.begin(), p.attention.end(), 1.0);
  GruCache<double> cache;
  const std::vector<double> gru = RunGru<double>(p, GruVariant::kGru, &cache);
  const std::vector<double> augru = RunGru<double>(p, GruVariant::kAugru, &cache);
  for (size_t i = 0; i < gru.size(); ++i) EXPECT_EQ(augru[i], gru[i]) << i;
}

// The reference code's AUGRU at the two ends of the attention range: a = 0
// is a plain GRU step, a = 1 replaces the state by the candidate, as AGRU
// does at a = 1.
TEST(GruTest, ReferenceAugruIsGruAtZeroAttention) {
  GruProblem p = MakeGruProblem(3, 5, 4, 3, {5, 3, 1}, 63);
  std::fill(p.attention.begin(), p.attention.end(), 0.0);
  GruCache<double> cache;
  const std::vector<double> gru = RunGru<double>(p, GruVariant::kGru, &cache);
  const std::vector<double> ref = RunGru<double>(p, GruVariant::kAugruReference, &cache);
  for (size_t i = 0; i < gru.size(); ++i) EXPECT_NEAR(ref[i], gru[i], 1e-15) << i;
}

TEST(GruTest, ReferenceAugruTakesTheCandidateAtUnitAttention) {
  GruProblem p = MakeGruProblem(3, 5, 4, 3, {5, 3, 1}, 65);
  std::fill(p.attention.begin(), p.attention.end(), 1.0);
  GruCache<double> cache;
  const std::vector<double> agru = RunGru<double>(p, GruVariant::kAgru, &cache);
  const std::vector<double> ref = RunGru<double>(p, GruVariant::kAugruReference, &cache);
  const std::vector<double> gru = RunGru<double>(p, GruVariant::kGru, &cache);
  double differs_from_gru = 0;
  for (size_t i = 0; i < agru.size(); ++i) {
    EXPECT_NEAR(ref[i], agru[i], 1e-15) << i;
    differs_from_gru = std::max(differs_from_gru, std::fabs(ref[i] - gru[i]));
  }
  EXPECT_GT(differs_from_gru, 1e-3);
}

TEST(GruTest, FloatAgreesWithDouble) {
  for (GruVariant variant : {GruVariant::kGru, GruVariant::kAugru, GruVariant::kAgru,
                             GruVariant::kAugruReference}) {
    const GruProblem p = MakeGruProblem(4, 9, 5, 6, {9, 4, 0, 7}, 71);
    std::mt19937_64 rng(72);
    GruCache<double> cd;
    GruCache<float> cf;
    const std::vector<double> hd = RunGru<double>(p, variant, &cd);
    const std::vector<float> hf = RunGru<float>(p, variant, &cf);
    for (size_t i = 0; i < hd.size(); ++i) EXPECT_NEAR(hf[i], hd[i], 1e-5) << i;

    const std::vector<double> dh = RandomVector(hd.size(), &rng);
    std::vector<double> dxd(p.inputs.size()), dad(p.attention.size()), dwid(p.w_input.size()),
        dwhd(p.w_hidden.size()), dbd(p.bias.size());
    gru_backward(dxd.data(), dad.data(), GruGrads<double>{dwid.data(), dwhd.data(), dbd.data()},
                 dh.data(), &cd,
                 GruWeights<double>{p.w_input.data(), p.w_hidden.data(), p.bias.data()},
                 p.inputs.data(), hd.data(), p.lengths.data(), p.attention.data(), variant,
                 p.shape);
    const auto dhf = Cast<float>(dh), xf = Cast<float>(p.inputs), af = Cast<float>(p.attention);
    const auto wif = Cast<float>(p.w_input), whf = Cast<float>(p.w_hidden),
               bf = Cast<float>(p.bias);
    std::vector<float> dxf(p.inputs.size()), daf(p.attention.size()), dwif(p.w_input.size()),
        dwhf(p.w_hidden.size()), dbf(p.bias.size());
    gru_backward(dxf.data(), daf.data(), GruGrads<float>{dwif.data(), dwhf.data(), dbf.data()},
                 dhf.data(), &cf, GruWeights<float>{wif.data(), whf.data(), bf.data()},
                 xf.data(), hf.data(), p.lengths.data(), af.data(), variant, p.shape);
    // Gradients sum over up to 9 steps of O(1) terms: allow float rounding.
    auto close = [](const std::vector<float>& f, const std::vector<double>& d) {
      for (size_t i = 0; i < d.size(); ++i) EXPECT_NEAR(f[i], d[i], 1e-4 * (1 + std::fabs(d[i])));
    };
    close(dxf, dxd);
    close(daf, dad);
    close(dwif, dwid);
    close(dwhf, dwhd);
    close(dbf, dbd);
  }
}

// ---- Auxiliary loss ---------------------------------------------------------

struct AuxProblem {
  AuxLossShape shape;
  std::vector<int32_t> lengths;
  std::vector<double> hidden, behaviours, negatives;
  std::vector<double> w1, b1, w2, b2, w3, b3;
};

AuxProblem MakeAuxProblem(AuxNetKind kind, int batch, int length, int hidden, int dim,
                          std::vector<int32_t> lengths, uint64_t seed) {
  std::mt19937_64 rng(seed);
  AuxProblem p;
  p.shape.batch = batch;
  p.shape.length = length;
  p.shape.hidden = hidden;
  p.shape.dim = dim;
  p.shape.hidden1 = 5;
  p.shape.hidden2 = 4;
  p.shape.kind = kind;
  p.lengths = std::move(lengths);
  const size_t rows = static_cast<size_t>(batch) * length;
  p.hidden = RandomVector(rows * hidden, &rng);
  p.behaviours = RandomVector(rows * dim, &rng);
  p.negatives = RandomVector(rows * dim, &rng);
  const int in = hidden + dim, h1 = p.shape.hidden1, h2 = p.shape.hidden2;
  p.w1 = RandomVector(static_cast<size_t>(in) * h1, &rng);
  p.b1 = RandomVector(h1, &rng);
  p.w2 = RandomVector(static_cast<size_t>(h1) * h2, &rng);
  p.b2 = RandomVector(h2, &rng);
  p.w3 = RandomVector(h2, &rng, -2.0, 2.0);
  p.b3 = RandomVector(1, &rng);
  return p;
}

template <typename T>
struct AuxRun {
  std::vector<T> hidden, behaviours, negatives, w1, b1, w2, b2, w3, b3;
  explicit AuxRun(const AuxProblem& p)
      : hidden(Cast<T>(p.hidden)), behaviours(Cast<T>(p.behaviours)),
        negatives(Cast<T>(p.negatives)), w1(Cast<T>(p.w1)), b1(Cast<T>(p.b1)),
        w2(Cast<T>(p.w2)), b2(Cast<T>(p.b2)), w3(Cast<T>(p.w3)), b3(Cast<T>(p.b3)) {}
  AuxNetWeights<T> weights() const {
    return {w1.data(), b1.data(), w2.data(), b2.data(), w3.data(), b3.data()};
  }
};

double AuxForward(const AuxProblem& p, AuxLossCache<double>* cache) {
  const AuxNetWeights<double> w{p.w1.data(), p.b1.data(), p.w2.data(),
                                p.b2.data(), p.w3.data(), p.b3.data()};
  return aux_loss_forward(cache, w, p.hidden.data(), p.behaviours.data(),
                          p.negatives.data(), p.lengths.data(), p.shape);
}

// The loss written directly from its definition: for each (b, t) with a
// valid t + 1, -log s(pos) - log(1 - s(neg)), averaged over both rows.
double NaiveAuxLoss(const AuxProblem& p) {
  const int L = p.shape.length, H = p.shape.hidden, D = p.shape.dim;
  const int h1 = p.shape.hidden1, h2 = p.shape.hidden2;
  auto sigmoid = [](double x) { return 1.0 / (1.0 + std::exp(-x)); };
  auto score = [&](const double* h, const double* e) {
    if (p.shape.kind == AuxNetKind::kInnerProduct) {
      double s = 0;
      for (int j = 0; j < H; ++j) s += h[j] * e[j];
      return s;
    }
    std::vector<double> x(h, h + H), a1(h1), a2(h2);
    x.insert(x.end(), e, e + D);
    for (int k = 0; k < h1; ++k) {
      double s = p.b1[k];
      for (int i = 0; i < H + D; ++i) s += x[i] * p.w1[i * h1 + k];
      a1[k] = sigmoid(s);
    }
    for (int k = 0; k < h2; ++k) {
      double s = p.b2[k];
      for (int i = 0; i < h1; ++i) s += a1[i] * p.w2[i * h2 + k];
      a2[k] = sigmoid(s);
    }
    double s = p.b3[0];
    for (int i = 0; i < h2; ++i) s += a2[i] * p.w3[i];
    return s;
  };
  double total = 0;
  int rows = 0;
  for (int b = 0; b < p.shape.batch; ++b) {
    for (int t = 0; t + 1 < p.lengths[b]; ++t) {
      const double* h = &p.hidden[(static_cast<size_t>(b) * L + t) * H];
      const size_t next = (static_cast<size_t>(b) * L + t + 1) * D;
      total -= std::log(sigmoid(score(h, &p.behaviours[next])));
      total -= std::log(1.0 - sigmoid(score(h, &p.negatives[next])));
      rows += 2;
    }
  }
  return rows == 0 ? 0.0 : total / rows;
}

class AuxLossTest : public ::testing::TestWithParam<AuxNetKind> {};

TEST_P(AuxLossTest, GradientsMatchFiniteDifferences) {
  const AuxNetKind kind = GetParam();
  const int dim = kind == AuxNetKind::kMlp ? 4 : 3;
  AuxProblem p = MakeAuxProblem(kind, 3, 5, 3, dim, {5, 2, 0}, 81);
  const double scale = 0.7;  // backward is of scale * loss
  AuxLossCache<double> cache;
  auto loss = [&]() { return scale * AuxForward(p, &cache); };

  AuxForward(p, &cache);
  std::vector<double> dh(p.hidden.size()), de(p.behaviours.size()), dn(p.negatives.size());
  std::vector<double> dw1(p.w1.size()), db1(p.b1.size()), dw2(p.w2.size()), db2(p.b2.size()),
      dw3(p.w3.size()), db3(p.b3.size());
  const AuxNetGrads<double> grads{dw1.data(), db1.data(), dw2.data(),
                                  db2.data(), dw3.data(), db3.data()};
  const AuxNetWeights<double> w{p.w1.data(), p.b1.data(), p.w2.data(),
                                p.b2.data(), p.w3.data(), p.b3.data()};
  aux_loss_backward(dh.data(), de.data(), dn.data(), grads, scale, &cache, w, p.hidden.data(),
                    p.behaviours.data(), p.negatives.data(), p.lengths.data(), p.shape);

  const std::string k = kind == AuxNetKind::kMlp ? "aux mlp" : "aux inner";
  EXPECT_LT(CheckGradient(k + " hidden", &p.hidden, dh, loss, kStep, kAuxFloor).max_relative_error, kMaxRelError);
  EXPECT_LT(CheckGradient(k + " behaviours", &p.behaviours, de, loss, kStep, kAuxFloor).max_relative_error,
            kMaxRelError);
  EXPECT_LT(CheckGradient(k + " negatives", &p.negatives, dn, loss, kStep, kAuxFloor).max_relative_error,
            kMaxRelError);
  if (kind == AuxNetKind::kMlp) {
    EXPECT_LT(CheckGradient(k + " w1", &p.w1, dw1, loss, kStep, kAuxFloor).max_relative_error, kMaxRelError);
    EXPECT_LT(CheckGradient(k + " b1", &p.b1, db1, loss, kStep, kAuxFloor).max_relative_error, kMaxRelError);
    EXPECT_LT(CheckGradient(k + " w2", &p.w2, dw2, loss, kStep, kAuxFloor).max_relative_error, kMaxRelError);
    EXPECT_LT(CheckGradient(k + " b2", &p.b2, db2, loss, kStep, kAuxFloor).max_relative_error, kMaxRelError);
    EXPECT_LT(CheckGradient(k + " w3", &p.w3, dw3, loss, kStep, kAuxFloor).max_relative_error, kMaxRelError);
    EXPECT_LT(CheckGradient(k + " b3", &p.b3, db3, loss, kStep, kAuxFloor).max_relative_error, kMaxRelError);
  }
  // Only positions 1..len-1 of behaviours and negatives are ever scored.
  for (int j = 0; j < dim; ++j) {
    EXPECT_EQ(de[j], 0.0);
    EXPECT_EQ(dn[j], 0.0);
  }
}

TEST_P(AuxLossTest, ForwardMatchesDefinition) {
  const AuxNetKind kind = GetParam();
  const int dim = kind == AuxNetKind::kMlp ? 5 : 4;
  const AuxProblem p = MakeAuxProblem(kind, 4, 6, 4, dim, {6, 3, 1, 0}, 91);
  AuxLossCache<double> cache;
  const double loss = AuxForward(p, &cache);
  EXPECT_EQ(cache.pairs, 5 + 2);
  EXPECT_NEAR(loss, NaiveAuxLoss(p), 1e-12);
  EXPECT_GT(loss, 0.0);
}

TEST_P(AuxLossTest, NoPairsGivesZeroLossAndNoGradient) {
  const AuxNetKind kind = GetParam();
  AuxProblem p = MakeAuxProblem(kind, 3, 4, 3, 3, {1, 0, 1}, 101);
  AuxLossCache<double> cache;
  const double loss = AuxForward(p, &cache);
  EXPECT_EQ(loss, 0.0);
  EXPECT_FALSE(std::isnan(loss));
  std::vector<double> dh(p.hidden.size(), 0.0), de(p.behaviours.size(), 0.0),
      dn(p.negatives.size(), 0.0), dw1(p.w1.size(), 0.0), db3(1, 0.0);
  std::vector<double> db1(p.b1.size()), dw2(p.w2.size()), db2(p.b2.size()), dw3(p.w3.size());
  const AuxNetWeights<double> w{p.w1.data(), p.b1.data(), p.w2.data(),
                                p.b2.data(), p.w3.data(), p.b3.data()};
  aux_loss_backward(dh.data(), de.data(), dn.data(),
                    AuxNetGrads<double>{dw1.data(), db1.data(), dw2.data(), db2.data(),
                                        dw3.data(), db3.data()},
                    1.0, &cache, w, p.hidden.data(), p.behaviours.data(), p.negatives.data(),
                    p.lengths.data(), p.shape);
  for (double v : dh) EXPECT_EQ(v, 0.0);
  for (double v : de) EXPECT_EQ(v, 0.0);
  for (double v : dn) EXPECT_EQ(v, 0.0);
  for (double v : dw1) EXPECT_EQ(v, 0.0);
  EXPECT_EQ(db3[0], 0.0);
}

TEST_P(AuxLossTest, FloatAgreesWithDouble) {
  const AuxNetKind kind = GetParam();
  const AuxProblem p = MakeAuxProblem(kind, 4, 8, 6, 6, {8, 5, 0, 2}, 111);
  AuxLossCache<double> cd;
  AuxLossCache<float> cf;
  const double ld = AuxForward(p, &cd);
  const AuxRun<float> f(p);
  const float lf = aux_loss_forward(&cf, f.weights(), f.hidden.data(), f.behaviours.data(),
                                    f.negatives.data(), p.lengths.data(), p.shape);
  EXPECT_NEAR(lf, ld, 1e-5 * (1 + std::fabs(ld)));

  std::vector<double> dhd(p.hidden.size()), ded(p.behaviours.size()), dnd(p.negatives.size()),
      dw1d(p.w1.size()), db1d(p.b1.size()), dw2d(p.w2.size()), db2d(p.b2.size()),
      dw3d(p.w3.size()), db3d(1);
  aux_loss_backward(dhd.data(), ded.data(), dnd.data(),
                    AuxNetGrads<double>{dw1d.data(), db1d.data(), dw2d.data(), db2d.data(),
                                        dw3d.data(), db3d.data()},
                    1.0, &cd,
                    AuxNetWeights<double>{p.w1.data(), p.b1.data(), p.w2.data(), p.b2.data(),
                                          p.w3.data(), p.b3.data()},
                    p.hidden.data(), p.behaviours.data(), p.negatives.data(), p.lengths.data(),
                    p.shape);
  std::vector<float> dhf(p.hidden.size()), def(p.behaviours.size()), dnf(p.negatives.size()),
      dw1f(p.w1.size()), db1f(p.b1.size()), dw2f(p.w2.size()), db2f(p.b2.size()),
      dw3f(p.w3.size()), db3f(1);
  aux_loss_backward(dhf.data(), def.data(), dnf.data(),
                    AuxNetGrads<float>{dw1f.data(), db1f.data(), dw2f.data(), db2f.data(),
                                       dw3f.data(), db3f.data()},
                    1.0f, &cf, f.weights(), f.hidden.data(), f.behaviours.data(),
                    f.negatives.data(), p.lengths.data(), p.shape);
  auto close = [](const std::vector<float>& a, const std::vector<double>& b) {
    for (size_t i = 0; i < b.size(); ++i) EXPECT_NEAR(a[i], b[i], 1e-5 * (1 + std::fabs(b[i])));
  };
  close(dhf, dhd);
  close(def, ded);
  close(dnf, dnd);
  close(dw1f, dw1d);
  close(db3f, db3d);
}

INSTANTIATE_TEST_SUITE_P(Kinds, AuxLossTest,
                         ::testing::Values(AuxNetKind::kMlp, AuxNetKind::kInnerProduct),
                         [](const ::testing::TestParamInfo<AuxNetKind>& info) {
                           return std::string(info.param == AuxNetKind::kMlp ? "mlp" : "inner");
                         });

// ---- Timing (printed, never asserted) ---------------------------------------

TEST(RecurrentTiming, TrainingShapeFloat) {
  const int B = 128, L = 100, D = 36;
  std::vector<int32_t> lengths(B);
  std::mt19937_64 rng(121);
  std::uniform_int_distribution<int> len_dist(1, L);
  for (auto& l : lengths) l = len_dist(rng);
  const GruProblem p = MakeGruProblem(B, L, D, D, lengths, 122);
  const auto x = Cast<float>(p.inputs), a = Cast<float>(p.attention);
  const auto wi = Cast<float>(p.w_input), wh = Cast<float>(p.w_hidden), bias = Cast<float>(p.bias);
  const GruWeights<float> w{wi.data(), wh.data(), bias.data()};
  std::vector<float> h(x.size()), dh(x.size(), 1e-3f), dx(x.size()), da(a.size()),
      dwi(wi.size()), dwh(wh.size()), db(bias.size());
  const GruGrads<float> g{dwi.data(), dwh.data(), db.data()};
  GruCache<float> cache;
  using Clock = std::chrono::steady_clock;
  for (GruVariant variant : {GruVariant::kGru, GruVariant::kAugru}) {
    for (int full = 0; full < 2; ++full) {
      const std::vector<int32_t> lens = full ? std::vector<int32_t>(B, L) : lengths;
      // Best of N: the build machine is shared, and the minimum is the
      // least disturbed estimate of what the code itself costs.
      const int iters = 10;
      double fwd_ms = 1e30, bwd_ms = 1e30;
      for (int it = -1; it < iters; ++it) {  // one warm-up run grows the cache
        const auto t0 = Clock::now();
        gru_forward(h.data(), &cache, w, x.data(), lens.data(), a.data(), variant, p.shape);
        const auto t1 = Clock::now();
        gru_backward(dx.data(), da.data(), g, dh.data(), &cache, w, x.data(), h.data(),
                     lens.data(), a.data(), variant, p.shape);
        const auto t2 = Clock::now();
        if (it >= 0) {
          fwd_ms = std::min(fwd_ms, std::chrono::duration<double, std::milli>(t1 - t0).count());
          bwd_ms = std::min(bwd_ms, std::chrono::duration<double, std::milli>(t2 - t1).count());
        }
      }
      std::printf("[timing] %-5s float B=%d T=%d I=H=%d lengths=%s: forward %.2f ms, "
                  "backward %.2f ms (best of %d)\n",
                  VariantName(variant), B, L, D, full ? "all 100" : "uniform 1..100", fwd_ms,
                  bwd_ms, iters);
      EXPECT_TRUE(std::isfinite(h[0]));
    }
  }

  // The aux loss at the same shape with the default 100 -> 50 network.
  AuxLossShape s;
  s.batch = B;
  s.length = L;
  s.hidden = D;
  s.dim = D;
  const auto neg = Cast<float>(RandomVector(x.size(), &rng));
  const auto w1 = Cast<float>(RandomVector(2 * D * 100, &rng, -0.1, 0.1));
  const auto w2 = Cast<float>(RandomVector(100 * 50, &rng, -0.1, 0.1));
  const auto w3 = Cast<float>(RandomVector(50, &rng, -0.1, 0.1));
  std::vector<float> b1(100), b2(50), b3(1), dw1(w1.size()), db1(100), dw2(w2.size()), db2(50),
      dw3(50), db3(1), dhid(x.size()), de(x.size()), dn(x.size());
  const AuxNetWeights<float> aw{w1.data(), b1.data(), w2.data(), b2.data(), w3.data(), b3.data()};
  const AuxNetGrads<float> ag{dw1.data(), db1.data(), dw2.data(), db2.data(), dw3.data(),
                              db3.data()};
  AuxLossCache<float> acache;
  const int iters = 10;
  double ms = 1e30;
  float loss = 0;
  for (int it = -1; it < iters; ++it) {
    const auto t0 = Clock::now();
    loss = aux_loss_forward(&acache, aw, h.data(), x.data(), neg.data(), lengths.data(), s);
    aux_loss_backward(dhid.data(), de.data(), dn.data(), ag, 1.0f, &acache, aw, h.data(),
                      x.data(), neg.data(), lengths.data(), s);
    if (it >= 0) {
      ms = std::min(ms, std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
    }
  }
  std::printf("[timing] aux mlp float B=%d T=%d H=D=%d (%d pairs): forward+backward %.2f ms "
              "(best of %d)\n",
              B, L, D, acache.pairs, ms, iters);
  EXPECT_TRUE(std::isfinite(loss));
}

}  // namespace
}  // namespace dips
