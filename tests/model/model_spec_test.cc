// ModelConfig <-> ckpt::ModelSpec: every field survives the round trip in
// both directions, and a spec that cannot describe a valid model is refused.
#include "worker/model/model_spec.h"

#include <gtest/gtest.h>

namespace dips {
namespace {

// A config with every field moved off its default, so a field the
// conversion forgets shows up as a mismatch.
ModelConfig UnusualConfig() {
  ModelConfig c;
  c.kind = ModelKind::kDien;
  c.embedding_dim = 7;
  c.num_behaviour_fields = 3;
  c.num_extra_fields = 2;
  c.mlp_hidden = {31, 17, 5};
  c.mlp_activation = HiddenActivation::kPrelu;
  c.attention_hidden1 = 11;
  c.attention_hidden2 = 3;
  c.attention_activation = HiddenActivation::kDice;
  c.din_softmax = true;
  c.evolution = EvolutionKind::kAigru;
  c.aux_loss_weight = 0.25f;
  c.aux_net = AuxNetKind::kInnerProduct;
  c.aux_hidden1 = 9;
  c.aux_hidden2 = 4;
  c.dien_query_projection = true;
  c.dice_momentum = 0.9;
  c.dice_eps = 1e-6;
  return c;
}

LogSchema ShopSchema() {
  LogSchema schema;
  schema.has_shop = true;
  schema.extra_fields = {"profile:age", "context:hour"};
  return schema;
}

void ExpectSameConfig(const ModelConfig& a, const ModelConfig& b) {
  EXPECT_EQ(a.kind, b.kind);
  EXPECT_EQ(a.embedding_dim, b.embedding_dim);
  EXPECT_EQ(a.num_behaviour_fields, b.num_behaviour_fields);
  EXPECT_EQ(a.num_extra_fields, b.num_extra_fields);
  EXPECT_EQ(a.mlp_hidden, b.mlp_hidden);
  EXPECT_EQ(a.mlp_activation, b.mlp_activation);
  EXPECT_EQ(a.attention_hidden1, b.attention_hidden1);
  EXPECT_EQ(a.attention_hidden2, b.attention_hidden2);
  EXPECT_EQ(a.attention_activation, b.attention_activation);
  EXPECT_EQ(a.din_softmax, b.din_softmax);
  EXPECT_EQ(a.evolution, b.evolution);
  EXPECT_EQ(a.aux_loss_weight, b.aux_loss_weight);
  EXPECT_EQ(a.aux_net, b.aux_net);
  EXPECT_EQ(a.aux_hidden1, b.aux_hidden1);
  EXPECT_EQ(a.aux_hidden2, b.aux_hidden2);
  EXPECT_EQ(a.dien_query_projection, b.dien_query_projection);
  EXPECT_EQ(a.dice_momentum, b.dice_momentum);
  EXPECT_EQ(a.dice_eps, b.dice_eps);
}

TEST(ModelSpecTest, ConfigSurvivesTheRoundTrip) {
  for (const ModelConfig& config : {UnusualConfig(), ModelConfig()}) {
    const LogSchema schema = config.num_behaviour_fields == 3 ? ShopSchema() : LogSchema();
    const ckpt::ModelSpec spec = ToModelSpec(config, schema, 37);
    auto back = FromModelSpec(spec);
    ASSERT_TRUE(back.ok()) << back.status().ToString();
    ExpectSameConfig(config, *back);
    EXPECT_EQ(schema, SchemaFromModelSpec(spec));
    EXPECT_EQ(37, spec.max_history());
    // And the spec survives the other way round, through its bytes.
    ckpt::ModelSpec parsed;
    ASSERT_TRUE(parsed.ParseFromString(spec.SerializeAsString()));
    EXPECT_EQ(spec.SerializeAsString(),
              ToModelSpec(*FromModelSpec(parsed), SchemaFromModelSpec(parsed), 37)
                  .SerializeAsString());
  }
}

TEST(ModelSpecTest, EnumsAreStoredByTheirFlagNames) {
  const ckpt::ModelSpec spec = ToModelSpec(UnusualConfig(), ShopSchema(), 100);
  EXPECT_EQ("dien", spec.kind());
  EXPECT_EQ("prelu", spec.mlp_activation());
  EXPECT_EQ("dice", spec.attention_activation());
  EXPECT_EQ("aigru", spec.evolution());
  EXPECT_EQ("inner_product", spec.aux_net());
}

TEST(ModelSpecTest, EveryEvolutionRoundTrips) {
  for (EvolutionKind e : {EvolutionKind::kAugru, EvolutionKind::kAgru, EvolutionKind::kAigru,
                          EvolutionKind::kAugruReference}) {
    ModelConfig c = UnusualConfig();
    c.evolution = e;
    const StatusOr<ModelConfig> back = FromModelSpec(ToModelSpec(c, ShopSchema(), 100));
    ASSERT_TRUE(back.ok()) << EvolutionKindName(e) << ": " << back.status().ToString();
    EXPECT_EQ(e, back->evolution) << EvolutionKindName(e);
  }
}

TEST(ModelSpecTest, SpecsThatDescribeNoValidModelAreRefused) {
  const ckpt::ModelSpec good = ToModelSpec(UnusualConfig(), ShopSchema(), 100);
  ckpt::ModelSpec spec = good;
  spec.set_kind("transformer");
  EXPECT_EQ(StatusCode::kInvalidArgument, FromModelSpec(spec).status().code());
  spec = good;
  spec.set_evolution("lstm");
  EXPECT_EQ(StatusCode::kInvalidArgument, FromModelSpec(spec).status().code());
  spec = good;
  spec.set_has_shop(false);  // 3 behaviour fields but no shop column
  EXPECT_EQ(StatusCode::kInvalidArgument, FromModelSpec(spec).status().code());
  spec = good;
  spec.add_extra_fields("context:day");
  EXPECT_EQ(StatusCode::kInvalidArgument, FromModelSpec(spec).status().code());
  spec = good;
  spec.set_max_history(0);
  EXPECT_EQ(StatusCode::kInvalidArgument, FromModelSpec(spec).status().code());
  spec = good;
  spec.clear_mlp_hidden();
  EXPECT_EQ(StatusCode::kInvalidArgument, FromModelSpec(spec).status().code());
  EXPECT_EQ(StatusCode::kInvalidArgument, FromModelSpec(ckpt::ModelSpec()).status().code());
}

}  // namespace
}  // namespace dips
