#include "worker/model/model_spec.h"

#include <string>

namespace dips {
namespace {

const char* ActivationName(HiddenActivation a) {
  switch (a) {
    case HiddenActivation::kSigmoid:
      return "sigmoid";
    case HiddenActivation::kPrelu:
      return "prelu";
    case HiddenActivation::kDice:
      return "dice";
  }
  return "unknown";
}

const char* EvolutionName(EvolutionKind e) {
  switch (e) {
    case EvolutionKind::kAugru:
      return "augru";
    case EvolutionKind::kAgru:
      return "agru";
    case EvolutionKind::kAigru:
      return "aigru";
  }
  return "unknown";
}

}  // namespace

ckpt::ModelSpec ToModelSpec(const ModelConfig& c, const LogSchema& schema, int max_history) {
  ckpt::ModelSpec spec;
  spec.set_kind(ModelKindName(c.kind));
  spec.set_embedding_dim(c.embedding_dim);
  spec.set_num_behaviour_fields(c.num_behaviour_fields);
  spec.set_num_extra_fields(c.num_extra_fields);
  for (int h : c.mlp_hidden) spec.add_mlp_hidden(h);
  spec.set_mlp_activation(ActivationName(c.mlp_activation));
  spec.set_attention_hidden1(c.attention_hidden1);
  spec.set_attention_hidden2(c.attention_hidden2);
  spec.set_attention_activation(ActivationName(c.attention_activation));
  spec.set_din_softmax(c.din_softmax);
  spec.set_evolution(EvolutionName(c.evolution));
  spec.set_aux_loss_weight(c.aux_loss_weight);
  spec.set_aux_net(c.aux_net == AuxNetKind::kMlp ? "mlp" : "inner_product");
  spec.set_aux_hidden1(c.aux_hidden1);
  spec.set_aux_hidden2(c.aux_hidden2);
  spec.set_dice_momentum(c.dice_momentum);
  spec.set_dice_eps(c.dice_eps);
  spec.set_has_shop(schema.has_shop);
  for (const std::string& field : schema.extra_fields) spec.add_extra_fields(field);
  spec.set_max_history(max_history);
  return spec;
}

StatusOr<ModelConfig> FromModelSpec(const ckpt::ModelSpec& spec) {
  ModelConfig c;
  ASSIGN_OR_RETURN(c.kind, ParseModelKind(spec.kind()));
  c.embedding_dim = spec.embedding_dim();
  c.num_behaviour_fields = spec.num_behaviour_fields();
  c.num_extra_fields = spec.num_extra_fields();
  c.mlp_hidden.assign(spec.mlp_hidden().begin(), spec.mlp_hidden().end());
  ASSIGN_OR_RETURN(c.mlp_activation, ParseHiddenActivation(spec.mlp_activation()));
  c.attention_hidden1 = spec.attention_hidden1();
  c.attention_hidden2 = spec.attention_hidden2();
  ASSIGN_OR_RETURN(c.attention_activation, ParseHiddenActivation(spec.attention_activation()));
  c.din_softmax = spec.din_softmax();
  ASSIGN_OR_RETURN(c.evolution, ParseEvolutionKind(spec.evolution()));
  c.aux_loss_weight = spec.aux_loss_weight();
  if (spec.aux_net() == "mlp") {
    c.aux_net = AuxNetKind::kMlp;
  } else if (spec.aux_net() == "inner_product") {
    c.aux_net = AuxNetKind::kInnerProduct;
  } else {
    return InvalidArgumentError("unknown aux_net '" + spec.aux_net() + "'");
  }
  c.aux_hidden1 = spec.aux_hidden1();
  c.aux_hidden2 = spec.aux_hidden2();
  c.dice_momentum = spec.dice_momentum();
  c.dice_eps = spec.dice_eps();
  RETURN_IF_ERROR(ValidateModelConfig(c));
  return c;
}

LogSchema SchemaFromModelSpec(const ckpt::ModelSpec& spec) {
  LogSchema schema;
  schema.has_shop = spec.has_shop();
  schema.extra_fields.assign(spec.extra_fields().begin(), spec.extra_fields().end());
  return schema;
}

}  // namespace dips
