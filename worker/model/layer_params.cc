#include "worker/model/layer_params.h"

#include <glog/logging.h>

namespace dips {

AttentionUnitParams::AttentionUnitParams(const std::string& prefix, int dim, int hidden1,
                                         int hidden2, HiddenActivation activation,
                                         ParamLayout* params, ParamLayout* state)
    : dim_(dim), hidden1_(hidden1), hidden2_(hidden2), activation_(activation) {
  // w1 is the plain [4D x hidden1] layer over [k, q, k - q, k * q]; Glorot
  // with that fan-in, as if the unit were not folded.
  w1_ = params->Add(prefix + ".w1", static_cast<size_t>(4) * dim * hidden1,
                    ParamInit::Glorot(4 * dim, hidden1));
  b1_ = params->Add(prefix + ".b1", hidden1, ParamInit::Constant(0.0));
  auto add_activation = [&](const std::string& n, int units, size_t* alpha, size_t* mean,
                            size_t* var) {
    if (activation == HiddenActivation::kPrelu) {
      *alpha = params->Add(n + ".prelu_alpha", units, ParamInit::Constant(0.1));
    } else if (activation == HiddenActivation::kDice) {
      *alpha = params->Add(n + ".dice_alpha", units, ParamInit::Constant(0.0));
      *mean = state->Add(n + ".dice_moving_mean", units, ParamInit::Constant(0.0));
      *var = state->Add(n + ".dice_moving_var", units, ParamInit::Constant(1.0));
    }
  };
  add_activation(prefix + ".1", hidden1, &act1_, &mean1_, &var1_);
  w2_ = params->Add(prefix + ".w2", static_cast<size_t>(hidden1) * hidden2,
                    ParamInit::Glorot(hidden1, hidden2));
  b2_ = params->Add(prefix + ".b2", hidden2, ParamInit::Constant(0.0));
  add_activation(prefix + ".2", hidden2, &act2_, &mean2_, &var2_);
  w3_ = params->Add(prefix + ".w3", hidden2, ParamInit::Glorot(hidden2, 1));
  b3_ = params->Add(prefix + ".b3", 1, ParamInit::Constant(0.0));
}

AttentionUnitShape AttentionUnitParams::Shape(int batch, int length) const {
  AttentionUnitShape s;
  s.batch = batch;
  s.length = length;
  s.dim = dim_;
  s.hidden1 = hidden1_;
  s.hidden2 = hidden2_;
  s.activation = activation_;
  return s;
}

template <typename T>
AttentionUnitWeights<T> AttentionUnitParams::Weights(const T* params, T* state) const {
  AttentionUnitWeights<T> w;
  w.w1 = params + w1_;
  w.b1 = params + b1_;
  w.act1 = ViewOrNull(params, act1_);
  w.w2 = params + w2_;
  w.b2 = params + b2_;
  w.act2 = ViewOrNull(params, act2_);
  w.w3 = params + w3_;
  w.b3 = params + b3_;
  w.dice1_moving_mean = ViewOrNull(state, mean1_);
  w.dice1_moving_var = ViewOrNull(state, var1_);
  w.dice2_moving_mean = ViewOrNull(state, mean2_);
  w.dice2_moving_var = ViewOrNull(state, var2_);
  return w;
}

template <typename T>
AttentionUnitGrads<T> AttentionUnitParams::Grads(T* g) const {
  AttentionUnitGrads<T> r;
  r.w1 = g + w1_;
  r.b1 = g + b1_;
  r.act1 = ViewOrNull(g, act1_);
  r.w2 = g + w2_;
  r.b2 = g + b2_;
  r.act2 = ViewOrNull(g, act2_);
  r.w3 = g + w3_;
  r.b3 = g + b3_;
  return r;
}

double AttentionUnitParams::TrainingFlops(int batch, double positions) const {
  // Folded first layer: [k, k*q] (2D) per position plus the q term once per
  // sample; then hidden1 -> hidden2 -> 1 per position. Backward costs twice
  // the forward (input and weight gradients).
  const double forward =
      2.0 * positions * (2.0 * dim_ * hidden1_ + hidden1_ * hidden2_ + hidden2_) +
      2.0 * batch * dim_ * hidden1_;
  return 3.0 * forward;
}

GruParams::GruParams(const std::string& prefix, int input_dim, int hidden, ParamLayout* params,
                     const GruStart& start)
    : input_dim_(input_dim), hidden_(hidden) {
  const bool copy = start.copy_input;
  CHECK(!copy || input_dim == hidden) << prefix << ": a copying start needs input_dim == hidden";
  // Glorot per gate ([I x H] and [H x H] blocks), as three separate matrices
  // would be initialised; or the copying start, whose candidate columns
  // [2H, 3H) of the input weights are the identity (x W_h = x).
  const ParamInit input_init = copy ? ParamInit::ShiftedIdentity(input_dim, 3 * hidden, 2 * hidden)
                                    : ParamInit::Glorot(input_dim, hidden);
  const ParamInit hidden_init = copy ? ParamInit::Constant(0.0) : ParamInit::Glorot(hidden, hidden);
  const ParamInit bias_init =
      copy ? ParamInit::LeadingConstant(hidden, start.update_bias) : ParamInit::Constant(0.0);
  w_input_ = params->Add(prefix + ".w_input", static_cast<size_t>(input_dim) * 3 * hidden,
                         input_init, start.lr_scale);
  w_hidden_ = params->Add(prefix + ".w_hidden", static_cast<size_t>(hidden) * 3 * hidden,
                          hidden_init, start.lr_scale);
  bias_ = params->Add(prefix + ".bias", static_cast<size_t>(3) * hidden, bias_init,
                      start.lr_scale);
}

GruShape GruParams::Shape(int batch, int length) const {
  GruShape s;
  s.batch = batch;
  s.length = length;
  s.input_dim = input_dim_;
  s.hidden = hidden_;
  return s;
}

template <typename T>
GruWeights<T> GruParams::Weights(const T* params) const {
  GruWeights<T> w;
  w.w_input = params + w_input_;
  w.w_hidden = params + w_hidden_;
  w.bias = params + bias_;
  return w;
}

template <typename T>
GruGrads<T> GruParams::Grads(T* g) const {
  GruGrads<T> r;
  r.w_input = g + w_input_;
  r.w_hidden = g + w_hidden_;
  r.bias = g + bias_;
  return r;
}

double GruParams::TrainingFlops(int batch, int length) const {
  const double steps = static_cast<double>(batch) * length;
  const double forward = 2.0 * steps * 3.0 * hidden_ * (input_dim_ + hidden_);
  return 3.0 * forward;
}

AuxNetParams::AuxNetParams(const std::string& prefix, AuxNetKind kind, int hidden, int dim,
                           int hidden1, int hidden2, ParamLayout* params)
    : kind_(kind), hidden_(hidden), dim_(dim), hidden1_(hidden1), hidden2_(hidden2) {
  if (kind != AuxNetKind::kMlp) return;
  const int in = hidden + dim;
  w1_ = params->Add(prefix + ".w1", static_cast<size_t>(in) * hidden1,
                    ParamInit::Glorot(in, hidden1));
  b1_ = params->Add(prefix + ".b1", hidden1, ParamInit::Constant(0.0));
  w2_ = params->Add(prefix + ".w2", static_cast<size_t>(hidden1) * hidden2,
                    ParamInit::Glorot(hidden1, hidden2));
  b2_ = params->Add(prefix + ".b2", hidden2, ParamInit::Constant(0.0));
  w3_ = params->Add(prefix + ".w3", hidden2, ParamInit::Glorot(hidden2, 1));
  b3_ = params->Add(prefix + ".b3", 1, ParamInit::Constant(0.0));
}

AuxLossShape AuxNetParams::Shape(int batch, int length) const {
  AuxLossShape s;
  s.batch = batch;
  s.length = length;
  s.hidden = hidden_;
  s.dim = dim_;
  s.hidden1 = hidden1_;
  s.hidden2 = hidden2_;
  s.kind = kind_;
  return s;
}

template <typename T>
AuxNetWeights<T> AuxNetParams::Weights(const T* params) const {
  AuxNetWeights<T> w;
  w.w1 = ViewOrNull(params, w1_);
  w.b1 = ViewOrNull(params, b1_);
  w.w2 = ViewOrNull(params, w2_);
  w.b2 = ViewOrNull(params, b2_);
  w.w3 = ViewOrNull(params, w3_);
  w.b3 = ViewOrNull(params, b3_);
  return w;
}

template <typename T>
AuxNetGrads<T> AuxNetParams::Grads(T* g) const {
  AuxNetGrads<T> r;
  r.w1 = ViewOrNull(g, w1_);
  r.b1 = ViewOrNull(g, b1_);
  r.w2 = ViewOrNull(g, w2_);
  r.b2 = ViewOrNull(g, b2_);
  r.w3 = ViewOrNull(g, w3_);
  r.b3 = ViewOrNull(g, b3_);
  return r;
}

double AuxNetParams::TrainingFlops(double rows) const {
  const double forward =
      kind_ == AuxNetKind::kMlp
          ? 2.0 * rows * ((hidden_ + dim_) * hidden1_ + hidden1_ * hidden2_ + hidden2_)
          : 2.0 * rows * hidden_;
  return 3.0 * forward;
}

QueryProjectionParams QueryProjectionParams::Register(const std::string& prefix, int in, int out,
                                                      ParamLayout* params) {
  QueryProjectionParams q;
  q.w = params->Add(prefix + ".w", static_cast<size_t>(in) * out, ParamInit::Glorot(in, out));
  q.b = params->Add(prefix + ".b", out, ParamInit::Constant(0.0));
  q.alpha = params->Add(prefix + ".prelu_alpha", out, ParamInit::Constant(0.1));
  return q;
}

template AttentionUnitWeights<float> AttentionUnitParams::Weights(const float*, float*) const;
template AttentionUnitWeights<double> AttentionUnitParams::Weights(const double*, double*) const;
template AttentionUnitGrads<float> AttentionUnitParams::Grads(float*) const;
template AttentionUnitGrads<double> AttentionUnitParams::Grads(double*) const;
template GruWeights<float> GruParams::Weights(const float*) const;
template GruWeights<double> GruParams::Weights(const double*) const;
template GruGrads<float> GruParams::Grads(float*) const;
template GruGrads<double> GruParams::Grads(double*) const;
template AuxNetWeights<float> AuxNetParams::Weights(const float*) const;
template AuxNetWeights<double> AuxNetParams::Weights(const double*) const;
template AuxNetGrads<float> AuxNetParams::Grads(float*) const;
template AuxNetGrads<double> AuxNetParams::Grads(double*) const;

namespace {

std::optional<AuxNetParams> MakeAuxNet(const ModelConfig& c, ParamLayout* params) {
  if (!(c.aux_loss_weight > 0.0f)) return std::nullopt;
  return AuxNetParams("dien.aux", c.aux_net, c.behaviour_dim(), c.behaviour_dim(), c.aux_hidden1,
                      c.aux_hidden2, params);
}

GruStart ExtractorStart(const ModelConfig& c) {
  GruStart start;
  start.copy_input = c.dien_extractor_init == ExtractorInit::kCopy;
  start.update_bias = c.dien_extractor_update_bias;
  start.lr_scale = c.dien_extractor_lr_scale;
  return start;
}

}  // namespace

DienParams::DienParams(const ModelConfig& config, ParamLayout* params, ParamLayout* state)
    : hidden(config.behaviour_dim()),
      extractor("dien.extractor", config.behaviour_dim(), hidden, params, ExtractorStart(config)),
      aux(MakeAuxNet(config, params)),
      attention("dien.attention", hidden, config.attention_hidden1, config.attention_hidden2,
                config.attention_activation, params, state),
      evolution("dien.evolution", hidden, hidden, params) {
  if (config.dien_query_projection) {
    query_proj = QueryProjectionParams::Register("dien.query", config.behaviour_dim(), hidden,
                                                 params);
  }
}

GruVariant EvolutionGruVariant(EvolutionKind kind) {
  switch (kind) {
    case EvolutionKind::kAugru:
      return GruVariant::kAugru;
    case EvolutionKind::kAgru:
      return GruVariant::kAgru;
    case EvolutionKind::kAigru:
      return GruVariant::kGru;  // on a_t * h_t
    case EvolutionKind::kAugruReference:
      return GruVariant::kAugruReference;
  }
  return GruVariant::kAugru;
}

}  // namespace dips
