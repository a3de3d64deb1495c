// Whole-model gradient checks: for every model variant, the analytic
// gradient of Forward(training=true)'s loss with respect to every dense
// parameter and every embedding row must match central differences in
// double. The batch has a zero-length history, padding, keys repeated
// across slots, extra fields and (for DIEN) negatives, so every glue path
// (masking, scatter-add of repeated keys, the auxiliary loss into the
// extractor and into negative rows) is exercised.
#include <gtest/gtest.h>

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
using testing::CheckGradient;
using testing::MakeBatch;
using testing::RandomVector;

struct GradientCase {
  std::string name;
  ModelConfig config;
  int fields = 2;
};

// Small hidden sizes keep finite differences over every parameter fast; the
// layers are shape-generic, so nothing here depends on the default sizes.
ModelConfig TinyConfig(ModelKind kind, HiddenActivation head, int fields) {
  ModelConfig c;
  c.kind = kind;
  c.embedding_dim = 2;
  c.num_behaviour_fields = fields;
  c.num_extra_fields = 1;
  c.mlp_hidden = {5, 4};
  c.mlp_activation = head;
  c.attention_hidden1 = 6;
  c.attention_hidden2 = 3;
  // Smooth everywhere, so central differences never straddle a kink; the
  // PReLU and Dice attention cases below are chosen away from kinks.
  c.attention_activation = HiddenActivation::kSigmoid;
  c.aux_hidden1 = 5;
  c.aux_hidden2 = 4;
  return c;
}

std::vector<GradientCase> AllCases() {
  std::vector<GradientCase> cases;
  const std::pair<HiddenActivation, const char*> heads[] = {{HiddenActivation::kPrelu, "prelu"},
                                                            {HiddenActivation::kDice, "dice"}};
  for (const auto& [act, act_name] : heads) {
    const std::string suffix = std::string("_") + act_name;
    cases.push_back({"base" + suffix, TinyConfig(ModelKind::kBase, act, 2), 2});
    GradientCase din{"din_raw" + suffix, TinyConfig(ModelKind::kDin, act, 2), 2};
    cases.push_back(din);
    din.name = "din_softmax" + suffix;
    din.config.din_softmax = true;
    cases.push_back(din);
    const std::pair<EvolutionKind, const char*> evolutions[] = {{EvolutionKind::kAugru, "augru"},
                                                                {EvolutionKind::kAgru, "agru"},
                                                                {EvolutionKind::kAigru, "aigru"},
                                                                {EvolutionKind::kAugruReference,
                                                                 "augru_reference"}};
    for (const auto& [evo, evo_name] : evolutions) {
      GradientCase dien{"dien_" + std::string(evo_name) + "_mlp_aux" + suffix,
                        TinyConfig(ModelKind::kDien, act, 2), 2};
      dien.config.evolution = evo;
      cases.push_back(dien);
    }
    GradientCase projected{"dien_augru_query_projection" + suffix,
                           TinyConfig(ModelKind::kDien, act, 2), 2};
    projected.config.dien_query_projection = true;
    cases.push_back(projected);
    GradientCase inner{"dien_augru_inner_aux" + suffix, TinyConfig(ModelKind::kDien, act, 2), 2};
    inner.config.aux_net = AuxNetKind::kInnerProduct;
    cases.push_back(inner);
  }
  // Three behaviour fields (with shop) and the other attention activations.
  GradientCase din3{"din_raw_f3_attention_dice",
                    TinyConfig(ModelKind::kDin, HiddenActivation::kPrelu, 3), 3};
  din3.config.attention_activation = HiddenActivation::kDice;
  cases.push_back(din3);
  GradientCase dien3{"dien_augru_f3_attention_prelu_aux_weight_0.5",
                     TinyConfig(ModelKind::kDien, HiddenActivation::kDice, 3), 3};
  dien3.config.attention_activation = HiddenActivation::kPrelu;
  dien3.config.aux_loss_weight = 0.5f;
  cases.push_back(dien3);
  // PReLU attention (the default) in DIN as well as DIEN.
  GradientCase din_prelu{"din_raw_attention_prelu",
                         TinyConfig(ModelKind::kDin, HiddenActivation::kPrelu, 2), 2};
  din_prelu.config.attention_activation = HiddenActivation::kPrelu;
  cases.push_back(din_prelu);
  GradientCase dien_dice{"dien_agru_attention_dice",
                         TinyConfig(ModelKind::kDien, HiddenActivation::kPrelu, 2), 2};
  dien_dice.config.evolution = EvolutionKind::kAgru;
  dien_dice.config.attention_activation = HiddenActivation::kDice;
  cases.push_back(dien_dice);
  return cases;
}

class ModelGradientTest : public ::testing::TestWithParam<GradientCase> {};

TEST_P(ModelGradientTest, MatchesFiniteDifferences) {
  const GradientCase& tc = GetParam();
  BatchSpec spec;
  spec.fields = tc.fields;
  const Batch batch = MakeBatch(spec);
  auto created = Model<double>::Create(tc.config);
  ASSERT_TRUE(created.ok()) << created.status().ToString();
  Model<double>& model = **created;

  std::mt19937_64 rng(11);
  // Random (not initial) values: zero biases and equal alphas would leave
  // some gradient terms structurally zero and unchecked.
  std::vector<double> params = RandomVector(model.num_params(), &rng, -0.5, 0.5);
  std::vector<double> rows = RandomVector(
      static_cast<size_t>(batch.num_unique_keys()) * tc.config.embedding_dim, &rng, -0.5, 0.5);
  std::vector<double> initial_state(model.num_state());
  model.InitState(initial_state.data());
  std::vector<double> probs(batch.size);

  // Each evaluation starts from the same state; a training pass never reads
  // the moving statistics, so this only keeps the buffers tidy.
  auto loss = [&] {
    std::vector<double> state = initial_state;
    return model.Forward(batch, rows.data(), params.data(), state.data(), true, probs.data());
  };

  std::vector<double> state = initial_state;
  const double l =
      model.Forward(batch, rows.data(), params.data(), state.data(), true, probs.data());
  ASSERT_TRUE(std::isfinite(l));
  if (tc.config.kind == ModelKind::kDien) {
    // The auxiliary loss must be part of what is checked.
    EXPECT_GT(model.last_aux_loss(), 0.0);
    EXPECT_NEAR(l, model.last_target_loss() + tc.config.aux_loss_weight * model.last_aux_loss(),
                1e-12);
  }
  std::vector<double> param_grads(model.num_params(), 0.0);
  std::vector<double> row_grads(rows.size(), 0.0);
  model.Backward(batch, rows.data(), params.data(), param_grads.data(), row_grads.data());

  // Step and floor: the loss is O(1), so a central difference in double
  // carries about eps * L / h + h^2 * L''' ~ 1e-11 of noise at h = 1e-5.
  // Gradient elements below the 1e-4 floor are therefore judged by their
  // absolute error (asserted separately, far below any real missing term);
  // all others by their true relative error.
  const double h = 1e-5, floor = 1e-4;
  const auto p = CheckGradient(tc.name + " params", &params, param_grads, loss, h, floor);
  const auto r = CheckGradient(tc.name + " rows", &rows, row_grads, loss, h, floor);
  EXPECT_LT(p.max_relative_error, 1e-6) << "worst param " << p.worst_index;
  EXPECT_LT(r.max_relative_error, 1e-6) << "worst row element " << r.worst_index;
  EXPECT_LT(p.max_abs_error, 1e-9) << "worst param " << p.worst_index;
  EXPECT_LT(r.max_abs_error, 1e-9) << "worst row element " << r.worst_index;
}

INSTANTIATE_TEST_SUITE_P(AllModels, ModelGradientTest, ::testing::ValuesIn(AllCases()),
                         [](const ::testing::TestParamInfo<GradientCase>& info) {
                           std::string n = info.param.name;
                           for (char& ch : n) {
                             if (!isalnum(static_cast<unsigned char>(ch))) ch = '_';
                           }
                           return n;
                         });

TEST(ModelGradientBatchTest, TinyBatchRepeatsKeysAcrossSlotKinds) {
  // The gradient cases rely on this batch shape; check it has the features
  // the file comment promises.
  const Batch b = MakeBatch(BatchSpec());
  EXPECT_EQ(b.lengths, (std::vector<int32_t>{4, 2, 0}));
  std::set<int32_t> history(b.history_slots.begin(), b.history_slots.end());
  int shared_with_negatives = 0, shared_with_target = 0;
  for (int32_t s : b.negative_slots) shared_with_negatives += s >= 0 && history.count(s);
  for (int32_t s : b.target_slots) shared_with_target += history.count(s);
  EXPECT_GT(shared_with_negatives, 0);
  EXPECT_GT(shared_with_target, 0);
  history.erase(-1);
  const int valid_history_slots = 2 * (4 + 2 + 0);                   // F x sum of lengths
  EXPECT_LT(static_cast<int>(history.size()), valid_history_slots);  // some key repeats
}

}  // namespace
}  // namespace dips
