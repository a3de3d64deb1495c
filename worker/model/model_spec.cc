#include "worker/model/model_spec.h"

#include <string>

namespace dips {

ckpt::ModelSpec ToModelSpec(const ModelConfig& config, const LogSchema& schema, int max_history) {
  ckpt::ModelSpec spec;
  spec.set_kind(ModelKindName(config.kind));
  spec.set_embedding_dim(config.embedding_dim);
  spec.set_num_behaviour_fields(config.num_behaviour_fields);
  spec.set_num_extra_fields(config.num_extra_fields);
  for (int h : config.mlp_hidden) spec.add_mlp_hidden(h);
  spec.set_mlp_activation(HiddenActivationName(config.mlp_activation));
  spec.set_attention_hidden1(config.attention_hidden1);
  spec.set_attention_hidden2(config.attention_hidden2);
  spec.set_attention_activation(HiddenActivationName(config.attention_activation));
  spec.set_din_softmax(config.din_softmax);
  spec.set_evolution(EvolutionKindName(config.evolution));
  spec.set_aux_loss_weight(config.aux_loss_weight);
  spec.set_aux_net(AuxNetKindName(config.aux_net));
  spec.set_aux_hidden1(config.aux_hidden1);
  spec.set_aux_hidden2(config.aux_hidden2);
  spec.set_dien_query_projection(config.dien_query_projection);
  spec.set_dice_momentum(config.dice_momentum);
  spec.set_dice_eps(config.dice_eps);
  spec.set_has_shop(schema.has_shop);
  for (const std::string& field : schema.extra_fields) spec.add_extra_fields(field);
  spec.set_max_history(max_history);
  return spec;
}

LogSchema SchemaFromModelSpec(const ckpt::ModelSpec& spec) {
  LogSchema schema;
  schema.has_shop = spec.has_shop();
  schema.extra_fields.assign(spec.extra_fields().begin(), spec.extra_fields().end());
  return schema;
}

StatusOr<ModelConfig> FromModelSpec(const ckpt::ModelSpec& spec) {
  ModelConfig config;
  ASSIGN_OR_RETURN(config.kind, ParseModelKind(spec.kind()));
  config.embedding_dim = spec.embedding_dim();
  config.num_behaviour_fields = spec.num_behaviour_fields();
  config.num_extra_fields = spec.num_extra_fields();
  config.mlp_hidden.assign(spec.mlp_hidden().begin(), spec.mlp_hidden().end());
  ASSIGN_OR_RETURN(config.mlp_activation, ParseHiddenActivation(spec.mlp_activation()));
  config.attention_hidden1 = spec.attention_hidden1();
  config.attention_hidden2 = spec.attention_hidden2();
  ASSIGN_OR_RETURN(config.attention_activation,
                   ParseHiddenActivation(spec.attention_activation()));
  config.din_softmax = spec.din_softmax();
  ASSIGN_OR_RETURN(config.evolution, ParseEvolutionKind(spec.evolution()));
  config.aux_loss_weight = spec.aux_loss_weight();
  ASSIGN_OR_RETURN(config.aux_net, ParseAuxNetKind(spec.aux_net()));
  config.aux_hidden1 = spec.aux_hidden1();
  config.aux_hidden2 = spec.aux_hidden2();
  config.dien_query_projection = spec.dien_query_projection();
  config.dice_momentum = spec.dice_momentum();
  config.dice_eps = spec.dice_eps();
  RETURN_IF_ERROR(ValidateModelConfig(config));

  const LogSchema schema = SchemaFromModelSpec(spec);
  if (config.num_behaviour_fields != schema.num_behaviour_fields() ||
      config.num_extra_fields != schema.num_extra_fields()) {
    return InvalidArgumentError(
        "model spec has " + std::to_string(config.num_behaviour_fields) + " behaviour and " +
        std::to_string(config.num_extra_fields) + " extra fields, but its input schema has " +
        std::to_string(schema.num_behaviour_fields()) + " and " +
        std::to_string(schema.num_extra_fields()));
  }
  if (spec.max_history() < 1) {
    return InvalidArgumentError("model spec max_history must be >= 1, got " +
                                std::to_string(spec.max_history()));
  }
  return config;
}

}  // namespace dips
