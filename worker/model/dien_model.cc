#include "worker/model/dien_model.h"

#include <algorithm>

#include "worker/model/layers/activations.h"
#include "worker/model/layers/embedding.h"
#include "worker/model/layers/linear.h"
#include "worker/model/layers/pooling.h"
#include "worker/model/workspace.h"

namespace dips {

template <typename T>
DienModel<T>::DienModel(const ModelConfig& config)
    : CtrModel<T>(config, config.behaviour_dim()),
      p_(config, this->mutable_params(), this->mutable_state()) {}

template <typename T>
T DienModel<T>::InterestForward(const Batch& batch, const SequenceInputs<T>& in, const T* rows,
                                const T* params, T* state, bool training, T* interest,
                                T* /*pooled: CtrModel pools s for DIEN*/) {
  const int B = in.batch, L = in.length, H = p_.hidden;
  const size_t n = static_cast<size_t>(B) * L;

  T* h = Grow(&hidden_states_, n * H);
  gru_forward(h, &extractor_cache_, p_.extractor.Weights(params), in.history, in.lengths,
              static_cast<const T*>(nullptr), GruVariant::kGru, p_.extractor.Shape(B, L));

  T aux_loss = 0;
  aux_active_ = training && p_.aux.has_value() && batch.has_negatives();
  if (aux_active_) {
    const ModelConfig& c = this->config();
    T* neg = Grow(&negatives_, n * in.dim);
    embedding_gather(neg, rows, batch.negative_slots.data(), static_cast<int>(n),
                     c.num_behaviour_fields, c.embedding_dim);
    aux_loss = aux_loss_forward(&aux_cache_, p_.aux->Weights(params), h, in.history, neg,
                                in.lengths, p_.aux->Shape(B, L));
  }

  const T* query = in.target;
  if (p_.query_proj.has_value()) {
    T* pre = Grow(&query_pre_, static_cast<size_t>(B) * H);
    linear_forward(pre, in.target, params + p_.query_proj->w, params + p_.query_proj->b, B,
                   in.dim, H);
    T* q = Grow(&query_, static_cast<size_t>(B) * H);
    prelu_forward(q, pre, params + p_.query_proj->alpha, B, H);
    query = q;
  }
  T* scores = Grow(&scores_, n);
  attention_unit_forward(scores, &attention_cache_, p_.attention.Weights(params, state), h, query,
                         in.mask, training, p_.attention.Shape(B, L));
  T* a = Grow(&attention_weights_, n);
  masked_softmax_forward(a, scores, in.mask, B, L);

  const GruVariant variant = EvolutionGruVariant(this->config().evolution);
  const T* evo_in = h;
  if (this->config().evolution == EvolutionKind::kAigru) {
    T* scaled = Grow(&evolution_input_, n * H);
    aigru_input_forward(scaled, h, static_cast<const T*>(a), n, H);
    evo_in = scaled;
  }
  T* h2 = Grow(&evolution_states_, n * H);
  gru_forward(h2, &evolution_cache_, p_.evolution.Weights(params), evo_in, in.lengths,
              variant == GruVariant::kGru ? static_cast<const T*>(nullptr) : a, variant,
              p_.evolution.Shape(B, L));
  // Padded steps carry the state, so the last position holds h'_T.
  for (int b = 0; b < B; ++b) {
    const T* last = h2 + (static_cast<size_t>(b) * L + L - 1) * H;
    std::copy(last, last + H, interest + static_cast<size_t>(b) * H);
  }
  return aux_loss;
}

template <typename T>
void DienModel<T>::InterestBackward(const Batch& batch, const SequenceInputs<T>& in,
                                    const T* dinterest, const T* params,
                                    const SequenceGrads<T>& grads, T* param_grads, T* row_grads) {
  const int B = in.batch, L = in.length, H = p_.hidden;
  const size_t n = static_cast<size_t>(B) * L;
  const T* h = hidden_states_.data();
  const T* a = attention_weights_.data();
  const bool aigru = this->config().evolution == EvolutionKind::kAigru;
  const GruVariant variant = EvolutionGruVariant(this->config().evolution);

  T* dh2 = GrowZeroed(&devolution_, n * H);
  for (int b = 0; b < B; ++b) {
    const T* du = dinterest + static_cast<size_t>(b) * H;
    std::copy(du, du + H, dh2 + (static_cast<size_t>(b) * L + L - 1) * H);
  }
  T* dh = GrowZeroed(&dhidden_, n * H);
  T* da = GrowZeroed(&dattention_, n);
  if (aigru) {
    T* dx = GrowZeroed(&devolution_input_, n * H);
    gru_backward(dx, static_cast<T*>(nullptr), p_.evolution.Grads(param_grads), dh2,
                 &evolution_cache_, p_.evolution.Weights(params), evolution_input_.data(),
                 evolution_states_.data(), in.lengths, static_cast<const T*>(nullptr), variant,
                 p_.evolution.Shape(B, L));
    aigru_input_backward(dh, da, static_cast<const T*>(dx), h, a, n, H);
  } else {
    gru_backward(dh, da, p_.evolution.Grads(param_grads), dh2, &evolution_cache_,
                 p_.evolution.Weights(params), h, evolution_states_.data(), in.lengths, a, variant,
                 p_.evolution.Shape(B, L));
  }

  T* dscores = GrowZeroed(&dscores_, n);
  masked_softmax_backward(dscores, da, a, in.mask, B, L);
  if (p_.query_proj.has_value()) {
    const size_t bh = static_cast<size_t>(B) * H;
    T* dq = GrowZeroed(&dquery_, bh);
    attention_unit_backward(dh, dq, p_.attention.Grads(param_grads), dscores, &attention_cache_,
                            p_.attention.Weights(params, static_cast<T*>(nullptr)), h,
                            query_.data(), in.mask, p_.attention.Shape(B, L));
    T* dpre = GrowZeroed(&dquery_pre_, bh);
    prelu_backward(dpre, param_grads + p_.query_proj->alpha, dq, query_pre_.data(),
                   params + p_.query_proj->alpha, B, H);
    linear_backward(grads.target, param_grads + p_.query_proj->w, param_grads + p_.query_proj->b,
                    dpre, in.target, params + p_.query_proj->w, B, in.dim, H);
  } else {
    attention_unit_backward(dh, grads.target, p_.attention.Grads(param_grads), dscores,
                            &attention_cache_,
                            p_.attention.Weights(params, static_cast<T*>(nullptr)), h, in.target,
                            in.mask, p_.attention.Shape(B, L));
  }

  if (aux_active_) {
    const ModelConfig& c = this->config();
    T* dneg = GrowZeroed(&dnegatives_, n * in.dim);
    aux_loss_backward(dh, grads.history, dneg, p_.aux->Grads(param_grads),
                      static_cast<T>(c.aux_loss_weight), &aux_cache_, p_.aux->Weights(params), h,
                      in.history, negatives_.data(), in.lengths, p_.aux->Shape(B, L));
    embedding_scatter_add(row_grads, dneg, batch.negative_slots.data(), static_cast<int>(n),
                          c.num_behaviour_fields, c.embedding_dim);
  }

  gru_backward(grads.history, static_cast<T*>(nullptr), p_.extractor.Grads(param_grads), dh,
               &extractor_cache_, p_.extractor.Weights(params), in.history, h, in.lengths,
               static_cast<const T*>(nullptr), GruVariant::kGru, p_.extractor.Shape(B, L));
}

template <typename T>
double DienModel<T>::InterestFlops(const Batch& batch) const {
  const int B = batch.size, L = batch.max_length;
  // The GRUs run over every position (padding carries the state); the
  // attention unit over valid ones only.
  double flops = p_.extractor.TrainingFlops(B, L) + p_.evolution.TrainingFlops(B, L) +
                 p_.attention.TrainingFlops(B, ValidPositions(batch));
  if (p_.query_proj.has_value()) {
    flops += 3.0 * 2.0 * B * this->config().behaviour_dim() * p_.hidden;
  }
  if (p_.aux.has_value() && batch.has_negatives()) {
    double pairs = 0;
    for (int32_t len : batch.lengths) pairs += std::max(0, len - 1);
    flops += p_.aux->TrainingFlops(2.0 * pairs);
  }
  return flops;
}

template class DienModel<float>;
template class DienModel<double>;

}  // namespace dips
