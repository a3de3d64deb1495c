// Model behaviour other than gradients: the regulariser's closed form,
// padding invariance, deterministic initialisation, float/double agreement,
// Dice state handling, layouts and config validation.
#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "tests/layers/gradient_check.h"
#include "tests/model/test_batches.h"
#include "worker/model/model.h"

namespace dips {
namespace {

using testing::BatchSpec;
using testing::MakeBatch;
using testing::PadBatch;
using testing::RandomVector;

ModelConfig SmallConfig(ModelKind kind) {
  ModelConfig c;
  c.kind = kind;
  c.embedding_dim = 3;
  c.num_behaviour_fields = 2;
  c.num_extra_fields = 1;
  c.mlp_hidden = {7, 5};
  c.attention_hidden1 = 6;
  c.attention_hidden2 = 4;
  c.aux_hidden1 = 6;
  c.aux_hidden2 = 4;
  return c;
}

// Every variant the padding and precision tests run over.
std::vector<ModelConfig> Variants() {
  std::vector<ModelConfig> v;
  v.push_back(SmallConfig(ModelKind::kBase));
  v.push_back(SmallConfig(ModelKind::kDin));
  v.back().attention_activation = HiddenActivation::kDice;
  v.push_back(SmallConfig(ModelKind::kDin));
  v.back().din_softmax = true;
  for (EvolutionKind e : {EvolutionKind::kAugru, EvolutionKind::kAugruReference,
                          EvolutionKind::kAgru, EvolutionKind::kAigru}) {
    v.push_back(SmallConfig(ModelKind::kDien));
    v.back().evolution = e;
  }
  v.back().attention_activation = HiddenActivation::kDice;
  return v;
}

template <typename T>
std::unique_ptr<Model<T>> MustCreate(const ModelConfig& c) {
  auto m = Model<T>::Create(c);
  CHECK(m.ok()) << m.status().ToString();
  return std::move(m).value();
}

TEST(MbaRegularizationTest, MatchesClosedForm) {
  const int rows = 4, dim = 3;
  const double lambda = 0.01;
  std::mt19937_64 rng(3);
  const std::vector<double> w = RandomVector(rows * dim, &rng);
  const std::vector<double> g0 = RandomVector(rows * dim, &rng);
  const std::vector<uint64_t> counts = {0, 1, 3, 10};  // 0 counts as 1
  std::vector<double> g = g0;
  const double penalty = mba_regularization(g.data(), w.data(), counts.data(), rows, dim, lambda);
  double expected = 0.0;
  for (int k = 0; k < rows; ++k) {
    const double n = std::max<double>(1.0, static_cast<double>(counts[k]));
    for (int i = 0; i < dim; ++i) {
      const double wi = w[k * dim + i];
      expected += lambda / n * wi * wi;
      // The gradient adds to what is already there.
      EXPECT_NEAR(g[k * dim + i], g0[k * dim + i] + 2.0 * lambda / n * wi, 1e-15);
    }
  }
  EXPECT_NEAR(penalty, expected, 1e-15);

  std::vector<float> wf(w.begin(), w.end()), gf(rows * dim, 0.0f);
  const float pf = mba_regularization(gf.data(), wf.data(), counts.data(), rows, dim, 0.01f);
  EXPECT_NEAR(pf, expected, 1e-6);
}

TEST(ModelPaddingTest, ExtraPaddedPositionsChangeNothing) {
  const Batch short_batch = MakeBatch(BatchSpec());
  const Batch long_batch = PadBatch(short_batch, 7);
  for (const ModelConfig& c : Variants()) {
    SCOPED_TRACE(std::string(ModelKindName(c.kind)));
    auto model = MustCreate<double>(c);
    std::vector<double> params(model->num_params());
    model->InitParams(params.data(), 5);
    std::mt19937_64 rng(9);
    const std::vector<double> rows = RandomVector(short_batch.num_unique_keys() * 3, &rng);
    std::vector<double> state(model->num_state());

    struct Result {
      double loss;
      std::vector<double> probs, param_grads, row_grads;
    };
    auto run = [&](const Batch& b) {
      Result r;
      r.probs.resize(b.size);
      model->InitState(state.data());
      r.loss = model->Forward(b, rows.data(), params.data(), state.data(), true, r.probs.data());
      r.param_grads.assign(params.size(), 0.0);
      r.row_grads.assign(rows.size(), 0.0);
      model->Backward(b, rows.data(), params.data(), r.param_grads.data(), r.row_grads.data());
      return r;
    };
    const Result a = run(short_batch), b = run(long_batch);
    EXPECT_NEAR(a.loss, b.loss, 1e-12);
    for (size_t i = 0; i < a.probs.size(); ++i) EXPECT_NEAR(a.probs[i], b.probs[i], 1e-12);
    for (size_t i = 0; i < params.size(); ++i) {
      ASSERT_NEAR(a.param_grads[i], b.param_grads[i], 1e-12) << "param " << i;
    }
    for (size_t i = 0; i < rows.size(); ++i) ASSERT_NEAR(a.row_grads[i], b.row_grads[i], 1e-12);
  }
}

TEST(ModelInitTest, DeterministicAndDocumentedValues) {
  ModelConfig c = SmallConfig(ModelKind::kDien);
  c.attention_activation = HiddenActivation::kPrelu;  // head Dice + attention PReLU
  c.dien_extractor_init = ExtractorInit::kGlorot;     // the copying start: next test
  auto model = MustCreate<double>(c);
  std::vector<double> a(model->num_params()), b(model->num_params()), other(model->num_params());
  model->InitParams(a.data(), 42);
  model->InitParams(b.data(), 42);
  model->InitParams(other.data(), 43);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, other);

  auto ends_with = [](const std::string& s, const std::string& tail) {
    return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
  };
  int glorot_views = 0;
  for (const ParamView& v : model->layout()) {
    const double* p = a.data() + v.offset;
    if (ends_with(v.name, "prelu_alpha")) {
      for (size_t i = 0; i < v.size; ++i) EXPECT_EQ(p[i], 0.1) << v.name;
    } else if (ends_with(v.name, "dice_alpha") || ends_with(v.name, ".b") ||
               ends_with(v.name, ".b1") || ends_with(v.name, ".b2") || ends_with(v.name, ".b3") ||
               ends_with(v.name, ".bias")) {
      for (size_t i = 0; i < v.size; ++i) EXPECT_EQ(p[i], 0.0) << v.name;
    } else {
      // A weight matrix: Glorot-uniform, so bounded by sqrt(6 / 2) for any
      // fan sizes >= 1, zero-centred and not constant.
      ++glorot_views;
      double sum = 0.0, max_abs = 0.0;
      for (size_t i = 0; i < v.size; ++i) {
        sum += p[i];
        max_abs = std::max(max_abs, std::fabs(p[i]));
      }
      EXPECT_LE(max_abs, std::sqrt(3.0)) << v.name;
      EXPECT_GT(max_abs, 0.0) << v.name;
      if (v.size >= 50) {
        EXPECT_LT(std::fabs(sum / v.size), 0.5 * max_abs) << v.name;
      }
    }
  }
  EXPECT_GE(glorot_views, 3 + 3 + 3 + 2 + 2);  // head, attention, aux, two GRUs
}

TEST(ModelInitTest, DienExtractorCopyStartAndRate) {
  // The default start: candidate input weights = identity (columns 2H..3H of
  // [I x 3H]), recurrent weights 0, update-gate bias b_u in the first H
  // entries; the extractor's views learn at lr_scale, every other view at 1.
  ModelConfig c = SmallConfig(ModelKind::kDien);
  ASSERT_EQ(ExtractorInit::kCopy, c.dien_extractor_init);
  c.dien_extractor_update_bias = 2.5f;
  c.dien_extractor_lr_scale = 0.25f;
  auto model = MustCreate<double>(c);
  std::vector<double> p(model->num_params());
  model->InitParams(p.data(), 7);
  const int h = c.behaviour_dim();
  int extractor_views = 0;
  for (const ParamView& v : model->layout()) {
    const bool extractor = v.name.rfind("dien.extractor.", 0) == 0;
    EXPECT_EQ(extractor ? 0.25f : 1.0f, v.lr_scale) << v.name;
    if (!extractor) continue;
    ++extractor_views;
    const double* w = p.data() + v.offset;
    for (size_t i = 0; i < v.size; ++i) {
      double want = 0.0;
      if (v.name == "dien.extractor.w_input") {
        const size_t row = i / (3 * h), col = i % (3 * h);
        want = col == 2 * h + row ? 1.0 : 0.0;
      } else if (v.name == "dien.extractor.bias") {
        want = i < static_cast<size_t>(h) ? 2.5 : 0.0;
      }
      ASSERT_EQ(want, w[i]) << v.name << " element " << i;
    }
  }
  EXPECT_EQ(3, extractor_views);

  // The Glorot start keeps the extractor at the full rate only when asked.
  c.dien_extractor_init = ExtractorInit::kGlorot;
  c.dien_extractor_lr_scale = 1.0f;
  auto glorot = MustCreate<double>(c);
  for (const ParamView& v : glorot->layout()) EXPECT_EQ(1.0f, v.lr_scale) << v.name;
}

TEST(ModelInitTest, LayoutIsContiguousWithUniqueNames) {
  for (const ModelConfig& c : Variants()) {
    auto model = MustCreate<float>(c);
    for (const auto* layout : {&model->layout(), &model->state_layout()}) {
      size_t next = 0;
      std::set<std::string> names;
      for (const ParamView& v : *layout) {
        EXPECT_EQ(v.offset, next) << v.name;
        EXPECT_TRUE(names.insert(v.name).second) << v.name;
        next += v.size;
      }
      EXPECT_EQ(next, layout == &model->layout() ? model->num_params() : model->num_state());
    }
  }
}

TEST(ModelPrecisionTest, FloatAndDoubleAgree) {
  const Batch batch = MakeBatch(BatchSpec());
  for (ModelConfig c : Variants()) {
    SCOPED_TRACE(std::string(ModelKindName(c.kind)));
    auto md = MustCreate<double>(c);
    auto mf = MustCreate<float>(c);
    std::vector<double> pd(md->num_params()), sd(md->num_state());
    std::vector<float> pf(mf->num_params()), sf(mf->num_state());
    md->InitParams(pd.data(), 17);
    mf->InitParams(pf.data(), 17);
    md->InitState(sd.data());
    mf->InitState(sf.data());
    std::mt19937_64 rng(2);
    const std::vector<double> rd = RandomVector(batch.num_unique_keys() * 3, &rng, -0.05, 0.05);
    const std::vector<float> rf(rd.begin(), rd.end());
    std::vector<double> probs_d(batch.size);
    std::vector<float> probs_f(batch.size);
    const double ld = md->Forward(batch, rd.data(), pd.data(), sd.data(), true, probs_d.data());
    const float lf = mf->Forward(batch, rf.data(), pf.data(), sf.data(), true, probs_f.data());
    EXPECT_NEAR(ld, lf, 1e-5);
    for (int i = 0; i < batch.size; ++i) EXPECT_NEAR(probs_d[i], probs_f[i], 1e-5);
  }
}

TEST(ModelStateTest, TrainingUpdatesDiceStatisticsEvaluationReadsThem) {
  ModelConfig c = SmallConfig(ModelKind::kDin);
  c.attention_activation = HiddenActivation::kDice;
  const Batch batch = MakeBatch(BatchSpec());
  auto model = MustCreate<double>(c);
  ASSERT_GT(model->num_state(), 0u);
  std::vector<double> params(model->num_params()), state(model->num_state());
  model->InitParams(params.data(), 1);
  model->InitState(state.data());
  std::mt19937_64 rng(4);
  const std::vector<double> rows = RandomVector(batch.num_unique_keys() * 3, &rng);
  std::vector<double> probs(batch.size);

  // Training: the loss does not depend on the moving statistics...
  std::vector<double> scrambled = RandomVector(state.size(), &rng, 0.5, 2.0);
  const std::vector<double> initial = state;
  const double l1 =
      model->Forward(batch, rows.data(), params.data(), state.data(), true, probs.data());
  const double l2 =
      model->Forward(batch, rows.data(), params.data(), scrambled.data(), true, probs.data());
  EXPECT_DOUBLE_EQ(l1, l2);
  // ...and it moves them.
  EXPECT_NE(state, initial);

  // Evaluation changes nothing and scores each sample on its own: the same
  // sample alone gets the same probability as inside the batch.
  const std::vector<double> trained = state;
  std::vector<double> eval_probs(batch.size);
  model->Forward(batch, rows.data(), params.data(), state.data(), false, eval_probs.data());
  EXPECT_EQ(state, trained);
  BatchSpec single = BatchSpec();
  Batch first = batch;
  first.size = 1;
  first.labels.resize(1);
  first.user_keys.resize(1);
  first.lengths.resize(1);
  first.target_slots.resize(single.fields);
  first.extra_slots.resize(single.extra_fields);
  first.history_slots.resize(single.max_length * single.fields);
  first.negative_slots.resize(single.max_length * single.fields);
  double alone = 0.0;
  model->Forward(first, rows.data(), params.data(), state.data(), false, &alone);
  EXPECT_NEAR(alone, eval_probs[0], 1e-12);
}

TEST(ModelBackwardTest, AccumulatesIntoGradients) {
  const Batch batch = MakeBatch(BatchSpec());
  auto model = MustCreate<double>(SmallConfig(ModelKind::kDien));
  std::vector<double> params(model->num_params()), state(model->num_state());
  model->InitParams(params.data(), 8);
  model->InitState(state.data());
  std::mt19937_64 rng(5);
  const std::vector<double> rows = RandomVector(batch.num_unique_keys() * 3, &rng);
  model->Forward(batch, rows.data(), params.data(), state.data(), true, nullptr);
  std::vector<double> g1(params.size(), 0.0), r1(rows.size(), 0.0);
  model->Backward(batch, rows.data(), params.data(), g1.data(), r1.data());
  std::vector<double> g2 = g1, r2 = r1;
  model->Backward(batch, rows.data(), params.data(), g2.data(), r2.data());
  double norm = 0.0;
  for (size_t i = 0; i < g1.size(); ++i) {
    EXPECT_NEAR(g2[i], 2.0 * g1[i], 1e-12);
    norm += std::fabs(g1[i]);
  }
  for (size_t i = 0; i < r1.size(); ++i) EXPECT_NEAR(r2[i], 2.0 * r1[i], 1e-12);
  EXPECT_GT(norm, 0.0);
}

TEST(DienAuxLossTest, OnlyInTrainingWithNegativesAndPositiveWeight) {
  const Batch batch = MakeBatch(BatchSpec());
  ModelConfig c = SmallConfig(ModelKind::kDien);
  auto model = MustCreate<double>(c);
  std::vector<double> params(model->num_params()), state(model->num_state());
  model->InitParams(params.data(), 6);
  model->InitState(state.data());
  std::mt19937_64 rng(6);
  const std::vector<double> rows = RandomVector(batch.num_unique_keys() * 3, &rng);

  const double train =
      model->Forward(batch, rows.data(), params.data(), state.data(), true, nullptr);
  EXPECT_GT(model->last_aux_loss(), 0.0);
  EXPECT_NEAR(train, model->last_target_loss() + model->last_aux_loss(), 1e-12);

  const double eval =
      model->Forward(batch, rows.data(), params.data(), state.data(), false, nullptr);
  EXPECT_EQ(model->last_aux_loss(), 0.0);
  EXPECT_EQ(eval, model->last_target_loss());

  Batch no_negatives = batch;
  no_negatives.negative_slots.clear();
  model->Forward(no_negatives, rows.data(), params.data(), state.data(), true, nullptr);
  EXPECT_EQ(model->last_aux_loss(), 0.0);

  // With weight 0 the auxiliary network's parameters do not exist at all.
  c.aux_loss_weight = 0.0f;
  auto without = MustCreate<double>(c);
  EXPECT_LT(without->num_params(), model->num_params());
}

TEST(ModelBatchDeathTest, MalformedBatchIsCaught) {
  // A slot past the batch's keys is a batch-builder bug: CHECK, not garbage.
  Batch batch = MakeBatch(BatchSpec());
  batch.history_slots[0] = batch.num_unique_keys();
  auto model = MustCreate<double>(SmallConfig(ModelKind::kDin));
  std::vector<double> params(model->num_params()), state(model->num_state());
  const std::vector<double> rows(batch.num_unique_keys() * 3, 0.0);
  EXPECT_DEATH(model->Forward(batch, rows.data(), params.data(), state.data(), true, nullptr),
               "slot");
}

TEST(ModelConfigTest, CreateRejectsBadConfigs) {
  auto expect_invalid = [](ModelConfig c, const char* what) {
    auto m = Model<float>::Create(c);
    ASSERT_FALSE(m.ok()) << what;
    EXPECT_EQ(m.status().code(), StatusCode::kInvalidArgument) << what;
  };
  ModelConfig c;
  c.embedding_dim = 0;
  expect_invalid(c, "embedding_dim 0");
  c = ModelConfig();
  c.mlp_hidden.clear();
  expect_invalid(c, "no hidden layer");
  c = ModelConfig();
  c.mlp_hidden = {200, -1};
  expect_invalid(c, "negative hidden size");
  c = ModelConfig();
  c.dice_momentum = 1.0;
  expect_invalid(c, "momentum 1");
  c = ModelConfig();
  c.kind = ModelKind::kDien;
  c.aux_loss_weight = -1.0f;
  expect_invalid(c, "negative aux weight");
  c = ModelConfig();
  c.kind = ModelKind::kDien;
  c.dien_extractor_lr_scale = -0.1f;
  expect_invalid(c, "negative extractor learning-rate scale");
  EXPECT_TRUE(Model<float>::Create(ModelConfig()).ok());
}

TEST(ModelConfigTest, NamesRoundTrip) {
  for (ModelKind k : {ModelKind::kBase, ModelKind::kDin, ModelKind::kDien}) {
    auto parsed = ParseModelKind(ModelKindName(k));
    ASSERT_TRUE(parsed.ok());
    EXPECT_EQ(*parsed, k);
  }
  EXPECT_FALSE(ParseModelKind("dan").ok());
  EXPECT_EQ(*ParseHiddenActivation("dice"), HiddenActivation::kDice);
  EXPECT_EQ(*ParseHiddenActivation("prelu"), HiddenActivation::kPrelu);
  EXPECT_FALSE(ParseHiddenActivation("relu").ok());
  EXPECT_EQ(*ParseEvolutionKind("aigru"), EvolutionKind::kAigru);
  EXPECT_FALSE(ParseEvolutionKind("lstm").ok());
  for (ExtractorInit init : {ExtractorInit::kCopy, ExtractorInit::kGlorot}) {
    EXPECT_EQ(init, *ParseExtractorInit(ExtractorInitName(init)));
  }
  EXPECT_FALSE(ParseExtractorInit("orthogonal").ok());
}

}  // namespace
}  // namespace dips
