// Names of the model options as they appear in flags and configs, and the
// checks Model<T>::Create runs before building anything.
#include <cmath>
#include <string>

#include "worker/model/model.h"

namespace dips {

StatusOr<ModelKind> ParseModelKind(const std::string& name) {
  if (name == "base") return ModelKind::kBase;
  if (name == "din") return ModelKind::kDin;
  if (name == "dien") return ModelKind::kDien;
  return InvalidArgumentError("unknown model '" + name + "' (want base, din or dien)");
}

const char* ModelKindName(ModelKind kind) {
  switch (kind) {
    case ModelKind::kBase:
      return "base";
    case ModelKind::kDin:
      return "din";
    case ModelKind::kDien:
      return "dien";
  }
  return "unknown";
}

StatusOr<HiddenActivation> ParseHiddenActivation(const std::string& name) {
  if (name == "sigmoid") return HiddenActivation::kSigmoid;
  if (name == "prelu") return HiddenActivation::kPrelu;
  if (name == "dice") return HiddenActivation::kDice;
  return InvalidArgumentError("unknown activation '" + name + "' (want sigmoid, prelu or dice)");
}

const char* HiddenActivationName(HiddenActivation activation) {
  switch (activation) {
    case HiddenActivation::kSigmoid:
      return "sigmoid";
    case HiddenActivation::kPrelu:
      return "prelu";
    case HiddenActivation::kDice:
      return "dice";
  }
  return "unknown";
}

StatusOr<EvolutionKind> ParseEvolutionKind(const std::string& name) {
  if (name == "augru") return EvolutionKind::kAugru;
  if (name == "agru") return EvolutionKind::kAgru;
  if (name == "aigru") return EvolutionKind::kAigru;
  if (name == "augru_reference") return EvolutionKind::kAugruReference;
  return InvalidArgumentError("unknown evolution '" + name +
                              "' (want augru, agru, aigru or augru_reference)");
}

const char* EvolutionKindName(EvolutionKind kind) {
  switch (kind) {
    case EvolutionKind::kAugru:
      return "augru";
    case EvolutionKind::kAgru:
      return "agru";
    case EvolutionKind::kAigru:
      return "aigru";
    case EvolutionKind::kAugruReference:
      return "augru_reference";
  }
  return "unknown";
}

StatusOr<AuxNetKind> ParseAuxNetKind(const std::string& name) {
  if (name == "mlp") return AuxNetKind::kMlp;
  if (name == "inner_product") return AuxNetKind::kInnerProduct;
  return InvalidArgumentError("unknown auxiliary net '" + name + "' (want mlp or inner_product)");
}

const char* AuxNetKindName(AuxNetKind kind) {
  switch (kind) {
    case AuxNetKind::kMlp:
      return "mlp";
    case AuxNetKind::kInnerProduct:
      return "inner_product";
  }
  return "unknown";
}

StatusOr<ExtractorInit> ParseExtractorInit(const std::string& name) {
  if (name == "copy") return ExtractorInit::kCopy;
  if (name == "glorot") return ExtractorInit::kGlorot;
  return InvalidArgumentError("unknown extractor init '" + name + "' (want copy or glorot)");
}

const char* ExtractorInitName(ExtractorInit init) {
  switch (init) {
    case ExtractorInit::kCopy:
      return "copy";
    case ExtractorInit::kGlorot:
      return "glorot";
  }
  return "unknown";
}

namespace {

Status RequirePositive(int value, const char* what) {
  if (value > 0) return Status::OK();
  return InvalidArgumentError(std::string(what) + " must be positive, got " +
                              std::to_string(value));
}

}  // namespace

Status ValidateModelConfig(const ModelConfig& c) {
  RETURN_IF_ERROR(RequirePositive(c.embedding_dim, "embedding_dim"));
  RETURN_IF_ERROR(RequirePositive(c.num_behaviour_fields, "num_behaviour_fields"));
  if (c.num_extra_fields < 0) {
    return InvalidArgumentError("num_extra_fields must be >= 0, got " +
                                std::to_string(c.num_extra_fields));
  }
  if (c.mlp_hidden.empty()) return InvalidArgumentError("mlp_hidden must name at least one layer");
  for (int h : c.mlp_hidden) RETURN_IF_ERROR(RequirePositive(h, "mlp_hidden entry"));
  if (c.kind != ModelKind::kBase) {
    RETURN_IF_ERROR(RequirePositive(c.attention_hidden1, "attention_hidden1"));
    RETURN_IF_ERROR(RequirePositive(c.attention_hidden2, "attention_hidden2"));
  }
  if (c.kind == ModelKind::kDien) {
    if (!(c.aux_loss_weight >= 0.0f)) {
      return InvalidArgumentError("aux_loss_weight must be >= 0");
    }
    if (c.aux_loss_weight > 0.0f && c.aux_net == AuxNetKind::kMlp) {
      RETURN_IF_ERROR(RequirePositive(c.aux_hidden1, "aux_hidden1"));
      RETURN_IF_ERROR(RequirePositive(c.aux_hidden2, "aux_hidden2"));
    }
    if (!(c.dien_extractor_lr_scale >= 0.0f) || !std::isfinite(c.dien_extractor_lr_scale)) {
      return InvalidArgumentError("dien_extractor_lr_scale must be finite and >= 0");
    }
    if (!std::isfinite(c.dien_extractor_update_bias)) {
      return InvalidArgumentError("dien_extractor_update_bias must be finite");
    }
  }
  if (!(c.dice_momentum >= 0.0 && c.dice_momentum < 1.0)) {
    return InvalidArgumentError("dice_momentum must be in [0, 1)");
  }
  if (!(c.dice_eps > 0.0)) return InvalidArgumentError("dice_eps must be positive");
  return Status::OK();
}

}  // namespace dips
