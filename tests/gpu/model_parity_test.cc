// CUDA vs CPU, whole models: the CPU Model<float> and the CUDA model
// (worker/model/cuda/cuda_model.h) of the same config run the same batches
// from the real BatchBuilder with the same rows, parameters and state.
// Training forward: loss, its two parts, probabilities and the updated Dice
// state; backward: every dense and row gradient (buffers start non-zero,
// which checks accumulation); then an evaluation forward. Each model object
// sees batches of different shapes in turn, so buffer growth and reuse are
// covered. Base, DIN (each attention activation, raw and softmax weights)
// and DIEN (each evolution variant, both auxiliary nets, no auxiliary loss,
// the query projection), with and without shop and profile fields.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstddef>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "tests/gpu/parity_util.h"
#include "worker/data/batch_builder.h"
#include "worker/model/cuda/cuda_model.h"
#include "worker/model/model.h"

namespace dips {
namespace gpu_test {
namespace {

struct Case {
  std::string name;
  ModelConfig config;
  bool shop = false;
  bool profile = false;
};

ModelConfig Small(ModelKind kind) {
  ModelConfig c;
  c.kind = kind;
  c.embedding_dim = 4;
  c.mlp_hidden = {12, 6};
  c.attention_hidden1 = 10;
  c.attention_hidden2 = 6;
  c.aux_hidden1 = 8;
  c.aux_hidden2 = 5;
  return c;
}

std::vector<Case> Cases() {
  std::vector<Case> cases;
  auto add = [&](const std::string& name, ModelConfig c, bool shop, bool profile) {
    cases.push_back({name, c, shop, profile});
  };
  add("base", Small(ModelKind::kBase), false, true);
  ModelConfig c = Small(ModelKind::kBase);
  c.mlp_activation = HiddenActivation::kPrelu;
  add("base_prelu_head", c, true, false);

  c = Small(ModelKind::kDin);
  add("din_prelu", c, false, false);
  c.attention_activation = HiddenActivation::kDice;
  c.din_softmax = true;
  c.mlp_activation = HiddenActivation::kPrelu;
  add("din_dice_softmax", c, true, true);
  c = Small(ModelKind::kDin);
  c.attention_activation = HiddenActivation::kSigmoid;
  c.mlp_activation = HiddenActivation::kSigmoid;
  add("din_sigmoid", c, false, true);

  c = Small(ModelKind::kDien);
  add("dien_augru_mlp_aux", c, false, false);
  c.evolution = EvolutionKind::kAugruReference;
  add("dien_augru_reference", c, false, true);
  c = Small(ModelKind::kDien);
  c.evolution = EvolutionKind::kAgru;
  c.aux_net = AuxNetKind::kInnerProduct;
  add("dien_agru_inner_product_aux", c, true, true);
  c = Small(ModelKind::kDien);
  c.evolution = EvolutionKind::kAigru;
  c.dien_query_projection = true;
  c.aux_loss_weight = 0.5f;
  add("dien_aigru_query_projection", c, false, true);
  c = Small(ModelKind::kDien);
  c.aux_loss_weight = 0.0f;
  c.attention_activation = HiddenActivation::kDice;
  add("dien_no_aux_dice_attention", c, true, false);
  return cases;
}

class ModelParityTest : public CudaParityTest {
 protected:
  // B samples with histories of 0..max_length behaviours (one full, one
  // empty), items from a small pool so keys repeat within and across them.
  std::vector<Sample> Samples(int batch, int max_length, const LogSchema& schema) {
    std::vector<Sample> out(batch);
    const int full = RandomInt(0, batch - 1);
    for (int b = 0; b < batch; ++b) {
      Sample& s = out[b];
      s.label = static_cast<float>(RandomInt(0, 1));
      s.user_key = 700 + b % 3;
      auto fill = [&](uint64_t item, uint64_t* i, uint64_t* c, uint64_t* p) {
        *i = item;
        *c = 1000 + item % 5;
        if (p != nullptr) *p = 2000 + item % 3;
      };
      uint64_t shop = 0;
      fill(static_cast<uint64_t>(RandomInt(1, 30)), &s.item_key, &s.category_key,
           schema.has_shop ? &s.shop_key : nullptr);
      int length = b == full ? max_length : RandomInt(0, max_length);
      if (b != full && b == (full + 1) % batch) length = 0;
      for (int t = 0; t < length; ++t) {
        uint64_t item = 0, category = 0;
        fill(static_cast<uint64_t>(RandomInt(1, 30)), &item, &category,
             schema.has_shop ? &shop : nullptr);
        s.item_history.push_back(item);
        s.category_history.push_back(category);
        if (schema.has_shop) s.shop_history.push_back(shop);
      }
      for (int f = 0; f < schema.num_extra_fields(); ++f) {
        s.extra_keys.push_back(3000 + 10 * f + RandomInt(0, 3));
      }
    }
    return out;
  }

  void ExpectScalar(const std::string& what, float gpu, float cpu) {
    EXPECT_LT(RelativeError(Vec{gpu}, Vec{cpu}), kMaxRelativeError)
        << what << ": gpu " << gpu << " cpu " << cpu;
  }

  void ExpectHostParity(const std::string& what, const Vec& gpu, const Vec& cpu) {
    ASSERT_EQ(gpu.size(), cpu.size()) << what;
    EXPECT_LT(RelativeError(gpu, cpu), kMaxRelativeError) << what;
  }

  void RunCase(const Case& k) {
    LogSchema schema;
    schema.has_shop = k.shop;
    if (k.profile) schema.extra_fields = {"profile:age", "context:hour"};
    ModelConfig config = k.config;
    config.num_behaviour_fields = schema.num_behaviour_fields();
    config.num_extra_fields = schema.num_extra_fields();
    auto cpu_or = Model<float>::Create(config);
    ASSERT_TRUE(cpu_or.ok()) << cpu_or.status().ToString();
    auto gpu_or = cuda::CreateCudaModel(config);
    ASSERT_TRUE(gpu_or.ok()) << gpu_or.status().ToString();
    std::unique_ptr<Model<float>> cpu = std::move(cpu_or).value();
    std::unique_ptr<Model<float>> gpu = std::move(gpu_or).value();
    ASSERT_EQ(gpu->num_params(), cpu->num_params());
    ASSERT_EQ(gpu->num_state(), cpu->num_state());

    // Initial values plus noise, so zero biases and Dice alphas are
    // exercised too.
    Vec params(cpu->num_params());
    cpu->InitParams(params.data(), 5);
    const Vec noise = Random(params.size(), -0.05f, 0.05f);
    for (size_t i = 0; i < params.size(); ++i) params[i] += noise[i];

    BatchBuilderOptions builder_options;
    builder_options.with_negatives = config.kind == ModelKind::kDien;
    builder_options.seed = 11;
    BatchBuilder builder(builder_options);
    const int d = config.embedding_dim;
    // Batches of different shapes through the same two model objects.
    const int shapes[][2] = {{6, 5}, {13, 9}, {4, 3}};
    for (const auto& shape : shapes) {
      SCOPED_TRACE(testing::Message() << "batch " << shape[0] << " x " << shape[1]);
      const std::vector<Sample> samples = Samples(shape[0], shape[1], schema);
      Batch batch;
      builder.Build(samples.data(), static_cast<int>(samples.size()), schema, &batch);
      const size_t row_values = static_cast<size_t>(batch.num_unique_keys()) * d;
      const Vec rows = Random(row_values, -0.5f, 0.5f);
      Vec state(cpu->num_state());
      cpu->InitState(state.data());

      // Training forward.
      Vec cpu_state = state, gpu_state = state;
      Vec cpu_probs(batch.size), gpu_probs(batch.size);
      const float cpu_loss = cpu->Forward(batch, rows.data(), params.data(), cpu_state.data(),
                                          /*training=*/true, cpu_probs.data());
      const float gpu_loss = gpu->Forward(batch, rows.data(), params.data(), gpu_state.data(),
                                          /*training=*/true, gpu_probs.data());
      ASSERT_TRUE(gpu->status().ok()) << gpu->status().ToString();
      ExpectScalar("loss", gpu_loss, cpu_loss);
      ExpectScalar("target loss", gpu->last_target_loss(), cpu->last_target_loss());
      ExpectScalar("aux loss", gpu->last_aux_loss(), cpu->last_aux_loss());
      ExpectHostParity("probs", gpu_probs, cpu_probs);
      // The moving averages move by (1 - momentum) * statistic: compare the
      // moves, not the values, which are mostly the initial 0s and 1s.
      Vec cpu_move = cpu_state, gpu_move = gpu_state;
      for (size_t i = 0; i < state.size(); ++i) {
        cpu_move[i] -= state[i];
        gpu_move[i] -= state[i];
      }
      ExpectHostParity("dice state update", gpu_move, cpu_move);

      // Backward into buffers that start non-zero.
      const Vec param_init = Random(params.size()), row_init = Random(row_values);
      Vec cpu_param_grads = param_init, gpu_param_grads = param_init;
      Vec cpu_row_grads = row_init, gpu_row_grads = row_init;
      cpu->Backward(batch, rows.data(), params.data(), cpu_param_grads.data(),
                    cpu_row_grads.data());
      gpu->Backward(batch, rows.data(), params.data(), gpu_param_grads.data(),
                    gpu_row_grads.data());
      ASSERT_TRUE(gpu->status().ok()) << gpu->status().ToString();
      // Subtract the common start so the measure sees the gradients alone.
      for (size_t i = 0; i < params.size(); ++i) {
        cpu_param_grads[i] -= param_init[i];
        gpu_param_grads[i] -= param_init[i];
      }
      for (size_t i = 0; i < row_values; ++i) {
        cpu_row_grads[i] -= row_init[i];
        gpu_row_grads[i] -= row_init[i];
      }
      ExpectHostParity("row grads", gpu_row_grads, cpu_row_grads);
      const double dense_error = RelativeError(gpu_param_grads, cpu_param_grads);
      if (dense_error >= kMaxRelativeError) {
        // Which views differ, relative to their own scale (diagnostics only:
        // a view whose gradient is analytically 0, such as the score bias
        // under a softmax, holds rounding noise on both sides).
        std::string views;
        for (const ParamView& v : cpu->layout()) {
          const auto first = static_cast<std::ptrdiff_t>(v.offset);
          const auto last = static_cast<std::ptrdiff_t>(v.offset + v.size);
          const Vec g(gpu_param_grads.begin() + first, gpu_param_grads.begin() + last);
          const Vec c(cpu_param_grads.begin() + first, cpu_param_grads.begin() + last);
          views += " " + v.name + "=" + std::to_string(RelativeError(g, c));
        }
        ADD_FAILURE() << "dense grads: relative error " << dense_error << "; per view:" << views;
      }

      // Evaluation with the (CPU's) updated moving statistics.
      Vec eval_state = cpu_state;
      const float cpu_eval = cpu->Forward(batch, rows.data(), params.data(), eval_state.data(),
                                          /*training=*/false, cpu_probs.data());
      const float gpu_eval = gpu->Forward(batch, rows.data(), params.data(), eval_state.data(),
                                          /*training=*/false, gpu_probs.data());
      ASSERT_TRUE(gpu->status().ok()) << gpu->status().ToString();
      ExpectScalar("eval loss", gpu_eval, cpu_eval);
      ExpectHostParity("eval probs", gpu_probs, cpu_probs);
      EXPECT_EQ(eval_state, cpu_state) << "evaluation must not write the state";
    }
  }
};

TEST_F(ModelParityTest, EveryModelAndVariant) {
  for (const Case& k : Cases()) {
    SCOPED_TRACE(k.name);
    RunCase(k);
  }
}

TEST_F(ModelParityTest, LayoutAndInitialisationMatchTheCpuModel) {
  for (const Case& k : Cases()) {
    SCOPED_TRACE(k.name);
    ModelConfig config = k.config;
    auto cpu = Model<float>::Create(config);
    auto gpu = cuda::CreateCudaModel(config);
    ASSERT_TRUE(cpu.ok() && gpu.ok());
    ASSERT_EQ((*gpu)->layout().size(), (*cpu)->layout().size());
    for (size_t i = 0; i < (*cpu)->layout().size(); ++i) {
      EXPECT_EQ((*gpu)->layout()[i].name, (*cpu)->layout()[i].name);
      EXPECT_EQ((*gpu)->layout()[i].offset, (*cpu)->layout()[i].offset);
    }
    Vec a((*cpu)->num_params()), b((*gpu)->num_params());
    (*cpu)->InitParams(a.data(), 3);
    (*gpu)->InitParams(b.data(), 3);
    EXPECT_EQ(a, b);
  }
}

}  // namespace
}  // namespace gpu_test
}  // namespace dips
