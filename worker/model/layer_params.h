// Where the parameters of the attention unit, a GRU and DIEN's auxiliary
// network sit in the model's flat buffers, and how to turn those offsets
// into the layers' weight/gradient pointer structs. DIN and DIEN share
// these, so each layer's layout and initialisation is written once.
#ifndef DIPS_WORKER_MODEL_LAYER_PARAMS_H_
#define DIPS_WORKER_MODEL_LAYER_PARAMS_H_

#include <cstddef>
#include <optional>
#include <string>

#include "worker/model/layers/attention_unit.h"
#include "worker/model/layers/aux_loss.h"
#include "worker/model/layers/gru.h"
#include "worker/model/param_layout.h"

namespace dips {

// Offset of a view the configuration left out (e.g. PReLU alphas of a
// sigmoid unit); resolves to nullptr, as does any view of a null buffer.
constexpr size_t kNoView = static_cast<size_t>(-1);

template <typename T>
T* ViewOrNull(T* base, size_t offset) {
  return offset == kNoView || base == nullptr ? nullptr : base + offset;
}

class AttentionUnitParams {
 public:
  AttentionUnitParams(const std::string& prefix, int dim, int hidden1, int hidden2,
                      HiddenActivation activation, ParamLayout* params, ParamLayout* state);

  AttentionUnitShape Shape(int batch, int length) const;
  // state may be null (backward: the layer only updates moving statistics
  // in a training forward and never reads them in backward).
  template <typename T>
  AttentionUnitWeights<T> Weights(const T* params, T* state) const;
  template <typename T>
  AttentionUnitGrads<T> Grads(T* param_grads) const;
  // The unit computes valid positions only (sum of the lengths).
  double TrainingFlops(int batch, double valid_positions) const;

 private:
  int dim_, hidden1_, hidden2_;
  HiddenActivation activation_;
  size_t w1_, b1_, act1_ = kNoView, w2_, b2_, act2_ = kNoView, w3_, b3_;
  size_t mean1_ = kNoView, var1_ = kNoView, mean2_ = kNoView, var2_ = kNoView;
};

// How a GRU's weights start and how fast they learn. The default is Glorot
// at the full dense rate; `copy_input` (input_dim == hidden) starts it as a
// leaky copy of its input instead: candidate input weights = identity,
// recurrent weights 0, update-gate bias `update_bias`, so
// h_t = (1 - s) h_{t-1} + s tanh(x_t) with s = sigmoid(update_bias).
struct GruStart {
  bool copy_input = false;
  float update_bias = 0.0f;
  float lr_scale = 1.0f;
};

class GruParams {
 public:
  GruParams(const std::string& prefix, int input_dim, int hidden, ParamLayout* params,
            const GruStart& start = GruStart());

  GruShape Shape(int batch, int length) const;
  template <typename T>
  GruWeights<T> Weights(const T* params) const;
  template <typename T>
  GruGrads<T> Grads(T* param_grads) const;
  double TrainingFlops(int batch, int length) const;

 private:
  int input_dim_, hidden_;
  size_t w_input_, w_hidden_, bias_;
};

// DIEN's auxiliary network g([h_t, e]); the inner-product form has no
// parameters and registers nothing.
class AuxNetParams {
 public:
  AuxNetParams(const std::string& prefix, AuxNetKind kind, int hidden, int dim, int hidden1,
               int hidden2, ParamLayout* params);

  AuxLossShape Shape(int batch, int length) const;
  template <typename T>
  AuxNetWeights<T> Weights(const T* params) const;
  template <typename T>
  AuxNetGrads<T> Grads(T* param_grads) const;
  // `rows`: scored behaviours (2 per pair).
  double TrainingFlops(double rows) const;

 private:
  AuxNetKind kind_;
  int hidden_, dim_, hidden1_, hidden2_;
  size_t w1_ = kNoView, b1_ = kNoView, w2_ = kNoView, b2_ = kNoView;
  size_t w3_ = kNoView, b3_ = kNoView;
};

// DIEN's attention-query projection v_A' = PReLU(v_A W_q + b_q): views
// "<prefix>.w" [in x out] Glorot, ".b" [out] 0 and ".prelu_alpha" [out] 0.1
// (TF's dense default and the reference code's prelu).
struct QueryProjectionParams {
  size_t w = 0, b = 0, alpha = 0;

  static QueryProjectionParams Register(const std::string& prefix, int in, int out,
                                        ParamLayout* params);
};

// DIEN's dense views, registered in one fixed order that checkpoints and the
// CUDA model's layout check rely on: extractor GRU, auxiliary net (only with a
// positive weight), attention unit, evolution GRU, then the query projection
// (only with dien_query_projection, last so the default layout is unchanged).
// The CPU and CUDA DIEN models both hold one, so their layouts agree by
// construction.
struct DienParams {
  DienParams(const ModelConfig& config, ParamLayout* params, ParamLayout* state);

  int hidden;  // H = D, so v_A needs no projection before it meets h_t
  GruParams extractor;
  std::optional<AuxNetParams> aux;  // absent when aux_loss_weight == 0
  AttentionUnitParams attention;
  GruParams evolution;
  std::optional<QueryProjectionParams> query_proj;
};

// The GRU that runs the interest evolution; AIGRU is a plain GRU whose
// inputs the model scales by a_t.
GruVariant EvolutionGruVariant(EvolutionKind kind);

}  // namespace dips

#endif  // DIPS_WORKER_MODEL_LAYER_PARAMS_H_
