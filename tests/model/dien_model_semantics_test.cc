// DIEN's forward semantics against an independent, naive implementation of
// MODELS.md. The finite-difference checks prove forward and backward agree;
// this proves the forward computes the intended thing: batches come from the
// real BatchBuilder (so its padding side and field order are part of the
// test), and the reference walks each sample's history in its own order,
// oldest first, knowing nothing of the padded layout. It checks that the
// extractor GRU sees the valid behaviours in time order, that the attention
// key at step t is h_t of that same behaviour, that AUGRU pairs h_t with a_t,
// that u = h'_T of the last valid step, and that the auxiliary loss pairs
// h_t with e_{t+1} and the negative drawn for t+1.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "tests/layers/gradient_check.h"
#include "worker/data/batch_builder.h"
#include "worker/model/layers/gru.h"
#include "worker/model/model.h"

namespace dips {
namespace {

using testing::RandomVector;
using Vec = std::vector<double>;

constexpr int kDim = 3;  // d

LogSchema Schema() {
  LogSchema s;
  s.has_shop = true;
  s.extra_fields = {"profile:age"};
  return s;
}

ModelConfig Config(EvolutionKind evolution, bool query_projection) {
  ModelConfig c;
  c.kind = ModelKind::kDien;
  c.embedding_dim = kDim;
  c.num_behaviour_fields = 3;
  c.num_extra_fields = 1;
  c.mlp_hidden = {5, 4};
  // PReLU everywhere: same function in training and evaluation, so the
  // reference needs no batch statistics.
  c.mlp_activation = HiddenActivation::kPrelu;
  c.attention_activation = HiddenActivation::kPrelu;
  c.attention_hidden1 = 6;
  c.attention_hidden2 = 4;
  c.aux_hidden1 = 5;
  c.aux_hidden2 = 3;
  c.evolution = evolution;
  c.dien_query_projection = query_projection;
  return c;
}

// Histories of different lengths (including one and none), with keys
// repeated across samples, positions and the targets.
std::vector<Sample> Samples() {
  const std::vector<std::vector<uint64_t>> items = {{11, 12, 13, 14, 15}, {21, 11}, {31}, {},
                                                    {12, 41, 42}};
  const std::vector<uint64_t> targets = {13, 99, 31, 12, 41};
  std::vector<Sample> out;
  for (size_t b = 0; b < items.size(); ++b) {
    Sample s;
    s.label = static_cast<float>(b % 2);
    s.user_key = 500 + b;
    auto category = [](uint64_t item) { return 1000 + item % 4; };
    auto shop = [](uint64_t item) { return 2000 + item % 3; };
    s.item_key = targets[b];
    s.category_key = category(targets[b]);
    s.shop_key = shop(targets[b]);
    for (uint64_t item : items[b]) {
      s.item_history.push_back(item);
      s.category_history.push_back(category(item));
      s.shop_history.push_back(shop(item));
    }
    s.extra_keys = {3000 + b % 2};
    out.push_back(s);
  }
  return out;
}

// The reference model: named parameters and embedding rows looked up by key.
class Reference {
 public:
  Reference(const Model<double>& model, const Vec& params, const Batch& batch, const Vec& rows)
      : config_(model.config()) {
    for (const ParamView& v : model.layout()) views_[v.name] = params.data() + v.offset;
    for (int k = 0; k < batch.num_unique_keys(); ++k) {
      row_of_[batch.unique_keys[k]] = rows.data() + static_cast<size_t>(k) * kDim;
    }
  }

  const double* P(const std::string& name) const {
    auto it = views_.find(name);
    CHECK(it != views_.end()) << "no parameter view " << name;
    return it->second;
  }

  Vec Row(uint64_t key) const {
    auto it = row_of_.find(key);
    CHECK(it != row_of_.end()) << "key " << key << " not in the batch";
    return Vec(it->second, it->second + kDim);
  }
  Vec Behaviour(uint64_t item, uint64_t category, uint64_t shop) const {
    Vec e;
    for (uint64_t key : {item, category, shop}) {
      Vec r = Row(key);
      e.insert(e.end(), r.begin(), r.end());
    }
    return e;
  }

  // y = x W + b, W [in x out] row-major.
  static Vec Linear(const Vec& x, const double* w, const double* b, int out) {
    Vec y(out);
    for (int j = 0; j < out; ++j) {
      double s = b[j];
      for (size_t i = 0; i < x.size(); ++i) s += x[i] * w[i * out + j];
      y[j] = s;
    }
    return y;
  }
  static Vec Prelu(Vec x, const double* alpha) {
    for (size_t j = 0; j < x.size(); ++j) x[j] = x[j] > 0 ? x[j] : alpha[j] * x[j];
    return x;
  }
  static double Sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }

  // One GRU step of MODELS.md; `a` scales the update gate (AUGRU), replaces
  // it (AGRU), scales the keep gate 1 - u by 1 - a (the reference code's
  // AUGRU) or is ignored (plain GRU).
  Vec GruStep(const std::string& prefix, const Vec& x, const Vec& h, double a,
              GruVariant variant) const {
    const int H = static_cast<int>(h.size());
    const Vec xp = Linear(x, P(prefix + ".w_input"), P(prefix + ".bias"), 3 * H);
    const Vec zero(3 * H, 0.0);
    const Vec hp = Linear(h, P(prefix + ".w_hidden"), zero.data(), 3 * H);
    Vec next(H);
    for (int j = 0; j < H; ++j) {
      const double u = Sigmoid(xp[j] + hp[j]);
      const double r = Sigmoid(xp[H + j] + hp[H + j]);
      const double hc = std::tanh(xp[2 * H + j] + r * hp[2 * H + j]);
      double m = u;
      if (variant == GruVariant::kAugru) m = a * u;
      if (variant == GruVariant::kAgru) m = a;
      if (variant == GruVariant::kAugruReference) m = 1 - (1 - a) * (1 - u);
      next[j] = (1 - m) * h[j] + m * hc;
    }
    return next;
  }

  double AttentionScore(const Vec& k, const Vec& q) const {
    Vec in;
    for (const Vec* part : {&k, &q}) in.insert(in.end(), part->begin(), part->end());
    for (size_t i = 0; i < k.size(); ++i) in.push_back(k[i] - q[i]);
    for (size_t i = 0; i < k.size(); ++i) in.push_back(k[i] * q[i]);
    const std::string p = "dien.attention";
    Vec z = Prelu(Linear(in, P(p + ".w1"), P(p + ".b1"), config_.attention_hidden1),
                  P(p + ".1.prelu_alpha"));
    z = Prelu(Linear(z, P(p + ".w2"), P(p + ".b2"), config_.attention_hidden2),
              P(p + ".2.prelu_alpha"));
    return Linear(z, P(p + ".w3"), P(p + ".b3"), 1)[0];
  }

  double AuxLogit(const Vec& h, const Vec& e) const {
    Vec in = h;
    in.insert(in.end(), e.begin(), e.end());
    const std::string p = "dien.aux";
    Vec z = Linear(in, P(p + ".w1"), P(p + ".b1"), config_.aux_hidden1);
    for (double& v : z) v = Sigmoid(v);
    z = Linear(z, P(p + ".w2"), P(p + ".b2"), config_.aux_hidden2);
    for (double& v : z) v = Sigmoid(v);
    return Linear(z, P(p + ".w3"), P(p + ".b3"), 1)[0];
  }

  struct Output {
    double prob = 0;
    std::vector<double> aux_logits_pos, aux_logits_neg;
  };

  // negatives[t]: the negative behaviour drawn for position t (t >= 1).
  Output Run(const Sample& s, const std::vector<Vec>& negatives) const {
    const int D = config_.behaviour_dim(), n = s.history_length();
    std::vector<Vec> e(n), h(n);
    Vec state(D, 0.0);
    for (int t = 0; t < n; ++t) {
      e[t] = Behaviour(s.item_history[t], s.category_history[t], s.shop_history[t]);
      state = GruStep("dien.extractor", e[t], state, 1.0, GruVariant::kGru);
      h[t] = state;
    }
    const Vec v = Behaviour(s.item_key, s.category_key, s.shop_key);
    // The attention query: v_A, or v_A' = PReLU(v_A W_q + b_q).
    const Vec q = config_.dien_query_projection
                      ? Prelu(Linear(v, P("dien.query.w"), P("dien.query.b"), D),
                              P("dien.query.prelu_alpha"))
                      : v;

    Output out;
    for (int t = 0; t + 1 < n; ++t) {
      out.aux_logits_pos.push_back(AuxLogit(h[t], e[t + 1]));
      out.aux_logits_neg.push_back(AuxLogit(h[t], negatives[t + 1]));
    }

    // Softmax over the valid steps only.
    Vec a(n);
    double max_score = -1e300, sum = 0;
    for (int t = 0; t < n; ++t) max_score = std::max(max_score, a[t] = AttentionScore(h[t], q));
    for (int t = 0; t < n; ++t) sum += (a[t] = std::exp(a[t] - max_score));
    for (int t = 0; t < n; ++t) a[t] /= sum;

    Vec interest(D, 0.0);
    for (int t = 0; t < n; ++t) {
      switch (config_.evolution) {
        case EvolutionKind::kAugru:
          interest = GruStep("dien.evolution", h[t], interest, a[t], GruVariant::kAugru);
          break;
        case EvolutionKind::kAgru:
          interest = GruStep("dien.evolution", h[t], interest, a[t], GruVariant::kAgru);
          break;
        case EvolutionKind::kAugruReference:
          interest =
              GruStep("dien.evolution", h[t], interest, a[t], GruVariant::kAugruReference);
          break;
        case EvolutionKind::kAigru: {
          Vec scaled = h[t];
          for (double& x : scaled) x *= a[t];
          interest = GruStep("dien.evolution", scaled, interest, 1.0, GruVariant::kGru);
          break;
        }
      }
    }

    Vec sum_pool(D, 0.0);
    for (int t = 0; t < n; ++t) {
      for (int i = 0; i < D; ++i) sum_pool[i] += e[t][i];
    }
    Vec x = Row(s.extra_keys[0]);
    x.insert(x.end(), v.begin(), v.end());
    x.insert(x.end(), sum_pool.begin(), sum_pool.end());
    for (int i = 0; i < D; ++i) x.push_back(v[i] * sum_pool[i]);
    x.insert(x.end(), interest.begin(), interest.end());
    const int layers = static_cast<int>(config_.mlp_hidden.size());
    for (int l = 0; l < layers; ++l) {
      const std::string p = "head." + std::to_string(l);
      x = Prelu(Linear(x, P(p + ".w"), P(p + ".b"), config_.mlp_hidden[l]),
                P(p + ".prelu_alpha"));
    }
    const std::string p = "head." + std::to_string(layers);
    out.prob = Sigmoid(Linear(x, P(p + ".w"), P(p + ".b"), 1)[0]);
    return out;
  }

 private:
  ModelConfig config_;
  std::map<std::string, const double*> views_;
  std::map<uint64_t, const double*> row_of_;
};

double Bce(double logit, double label) {
  const double p = 1.0 / (1.0 + std::exp(-logit));
  return -(label * std::log(p) + (1 - label) * std::log(1 - p));
}

struct Variant {
  EvolutionKind evolution;
  bool query_projection;
};

class DienSemanticsTest : public ::testing::TestWithParam<Variant> {};

TEST_P(DienSemanticsTest, MatchesNaiveReferenceOnBuiltBatch) {
  const ModelConfig config = Config(GetParam().evolution, GetParam().query_projection);
  auto created = Model<double>::Create(config);
  ASSERT_TRUE(created.ok()) << created.status().ToString();
  std::unique_ptr<Model<double>> model = std::move(created).value();

  const std::vector<Sample> samples = Samples();
  BatchBuilderOptions options;
  options.with_negatives = true;
  BatchBuilder builder(options);
  Batch batch;
  builder.Build(samples.data(), static_cast<int>(samples.size()), Schema(), &batch);
  ASSERT_EQ(batch.max_length, 5);

  // Random everything, biases and alphas included, so no term can hide
  // behind a zero.
  std::mt19937_64 rng(17);
  const Vec params = RandomVector(model->num_params(), &rng, -0.8, 0.8);
  const Vec rows = RandomVector(static_cast<size_t>(batch.num_unique_keys()) * kDim, &rng);
  Vec state(model->num_state());
  model->InitState(state.data());

  const Reference ref(*model, params, batch, rows);
  const int F = 3, T = batch.max_length;
  double aux_sum = 0;
  int aux_terms = 0;
  std::vector<double> expected_probs;
  for (size_t b = 0; b < samples.size(); ++b) {
    const Sample& s = samples[b];
    std::vector<Vec> negatives(s.history_length());
    for (int t = 1; t < s.history_length(); ++t) {
      const int32_t* slot = &batch.negative_slots[(b * T + t) * F];
      // The negative stands against the real behaviour t, not another one.
      EXPECT_NE(batch.unique_keys[slot[0]], s.item_history[t]) << "sample " << b << " t " << t;
      negatives[t] = ref.Behaviour(batch.unique_keys[slot[0]], batch.unique_keys[slot[1]],
                                   batch.unique_keys[slot[2]]);
    }
    const Reference::Output out = ref.Run(s, negatives);
    expected_probs.push_back(out.prob);
    for (double logit : out.aux_logits_pos) aux_sum += Bce(logit, 1.0);
    for (double logit : out.aux_logits_neg) aux_sum += Bce(logit, 0.0);
    aux_terms += static_cast<int>(out.aux_logits_pos.size() + out.aux_logits_neg.size());
  }

  for (bool training : {false, true}) {
    SCOPED_TRACE(training ? "training" : "evaluation");
    Vec probs(batch.size);
    model->Forward(batch, rows.data(), params.data(), state.data(), training, probs.data());
    for (int b = 0; b < batch.size; ++b) {
      EXPECT_NEAR(probs[b], expected_probs[b], 1e-12) << "sample " << b;
    }
    if (training) {
      ASSERT_GT(aux_terms, 0);
      EXPECT_NEAR(model->last_aux_loss(), aux_sum / aux_terms, 1e-12);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(AllEvolutions, DienSemanticsTest,
                         ::testing::Values(Variant{EvolutionKind::kAugru, false},
                                           Variant{EvolutionKind::kAgru, false},
                                           Variant{EvolutionKind::kAigru, false},
                                           Variant{EvolutionKind::kAugruReference, false},
                                           Variant{EvolutionKind::kAugru, true}));

}  // namespace
}  // namespace dips
