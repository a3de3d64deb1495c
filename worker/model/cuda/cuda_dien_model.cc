#include "worker/model/cuda/cuda_dien_model.h"

#include <utility>

namespace dips {
namespace cuda {

CudaDienModel::CudaDienModel(const ModelConfig& config, std::unique_ptr<Model<float>> twin,
                             std::unique_ptr<CudaContext> ctx)
    : CudaCtrModel(config, config.behaviour_dim(), std::move(twin), std::move(ctx)),
      p_(config, mutable_params(), mutable_state()) {}

void CudaDienModel::InterestForward(const Batch& batch, const DeviceSequence& in,
                                    const DeviceRows& rows, const float* params, float* state,
                                    bool training, float* interest, float* aux_loss) {
  CudaContext* ctx = this->ctx();
  const ModelConfig& c = config();
  const int B = in.batch, L = in.length, H = p_.hidden;
  const size_t n = static_cast<size_t>(B) * L;
  if (!hidden_states_.Grow(n * H, ctx) || !scores_.Grow(n, ctx) ||
      !attention_weights_.Grow(n, ctx) || !evolution_states_.Grow(n * H, ctx)) {
    return;
  }
  float* h = hidden_states_.data();
  gru_forward(h, &extractor_cache_, p_.extractor.Weights(params), in.history, in.lengths, nullptr,
              GruVariant::kGru, p_.extractor.Shape(B, L), ctx);

  aux_active_ = training && p_.aux.has_value() && batch.has_negatives();
  if (aux_active_) {
    if (!negatives_.Grow(n * in.dim, ctx)) return;
    embedding_gather(negatives_.data(), rows.rows, rows.negative_slots, static_cast<int>(n),
                     c.num_behaviour_fields, c.embedding_dim, ctx);
    aux_loss_forward(aux_loss, &aux_cache_, p_.aux->Weights(params), h, in.history,
                     negatives_.data(), in.lengths, p_.aux->Shape(B, L), ctx);
  }

  const float* query = in.target;
  if (p_.query_proj.has_value()) {
    const size_t bh = static_cast<size_t>(B) * H;
    if (!query_pre_.Grow(bh, ctx) || !query_.Grow(bh, ctx)) return;
    linear_forward(query_pre_.data(), in.target, params + p_.query_proj->w,
                   params + p_.query_proj->b, B, in.dim, H, ctx);
    prelu_forward(query_.data(), query_pre_.data(), params + p_.query_proj->alpha, B, H, ctx);
    query = query_.data();
  }
  attention_unit_forward(scores_.data(), &attention_cache_, p_.attention.Weights(params, state), h,
                         query, in.mask, training, p_.attention.Shape(B, L), ctx);
  float* a = attention_weights_.data();
  masked_softmax_forward(a, scores_.data(), in.mask, B, L, ctx);

  const GruVariant variant = EvolutionGruVariant(config().evolution);
  const float* evo_in = h;
  if (aigru()) {
    if (!evolution_input_.Grow(n * H, ctx)) return;
    aigru_input_forward(evolution_input_.data(), h, a, n, H, ctx);
    evo_in = evolution_input_.data();
  }
  gru_forward(evolution_states_.data(), &evolution_cache_, p_.evolution.Weights(params), evo_in,
              in.lengths, variant == GruVariant::kGru ? nullptr : a, variant,
              p_.evolution.Shape(B, L), ctx);
  // Padded steps carry the state, so the last position holds h'_T.
  last_step_forward(interest, evolution_states_.data(), B, L, H, ctx);
}

void CudaDienModel::InterestBackward(const Batch& batch, const DeviceSequence& in,
                                     const float* dinterest, const float* params,
                                     const DeviceSequenceGrads& grads, const DeviceRows& rows,
                                     float* param_grads) {
  CudaContext* ctx = this->ctx();
  const ModelConfig& c = config();
  const int B = in.batch, L = in.length, H = p_.hidden;
  const size_t n = static_cast<size_t>(B) * L;
  const float* h = hidden_states_.data();
  const float* a = attention_weights_.data();
  const GruVariant variant = EvolutionGruVariant(config().evolution);
  if (!devolution_.GrowZeroed(n * H, ctx) || !dhidden_.GrowZeroed(n * H, ctx) ||
      !dattention_.GrowZeroed(n, ctx) || !dscores_.GrowZeroed(n, ctx)) {
    return;
  }
  float* dh2 = devolution_.data();
  float* dh = dhidden_.data();
  float* da = dattention_.data();
  last_step_backward(dh2, dinterest, B, L, H, ctx);
  if (aigru()) {
    if (!devolution_input_.GrowZeroed(n * H, ctx)) return;
    float* dx = devolution_input_.data();
    gru_backward(dx, nullptr, p_.evolution.Grads(param_grads), dh2, &evolution_cache_,
                 p_.evolution.Weights(params), evolution_input_.data(), evolution_states_.data(),
                 in.lengths, nullptr, variant, p_.evolution.Shape(B, L), ctx);
    aigru_input_backward(dh, da, dx, h, a, n, H, ctx);
  } else {
    gru_backward(dh, da, p_.evolution.Grads(param_grads), dh2, &evolution_cache_,
                 p_.evolution.Weights(params), h, evolution_states_.data(), in.lengths, a, variant,
                 p_.evolution.Shape(B, L), ctx);
  }

  float* dscores = dscores_.data();
  masked_softmax_backward(dscores, da, a, in.mask, B, L, ctx);
  const AttentionUnitWeights<float> aw = p_.attention.Weights(params, static_cast<float*>(nullptr));
  if (p_.query_proj.has_value()) {
    const size_t bh = static_cast<size_t>(B) * H;
    if (!dquery_.GrowZeroed(bh, ctx) || !dquery_pre_.GrowZeroed(bh, ctx)) return;
    attention_unit_backward(dh, dquery_.data(), p_.attention.Grads(param_grads), dscores,
                            &attention_cache_, aw, h, query_.data(), in.mask,
                            p_.attention.Shape(B, L), ctx);
    prelu_backward(dquery_pre_.data(), param_grads + p_.query_proj->alpha, dquery_.data(),
                   query_pre_.data(), params + p_.query_proj->alpha, B, H, ctx);
    linear_backward(grads.target, param_grads + p_.query_proj->w, param_grads + p_.query_proj->b,
                    dquery_pre_.data(), in.target, params + p_.query_proj->w, B, in.dim, H, ctx);
  } else {
    attention_unit_backward(dh, grads.target, p_.attention.Grads(param_grads), dscores,
                            &attention_cache_, aw, h, in.target, in.mask, p_.attention.Shape(B, L),
                            ctx);
  }

  if (aux_active_) {
    if (!dnegatives_.GrowZeroed(n * in.dim, ctx)) return;
    aux_loss_backward(dh, grads.history, dnegatives_.data(), p_.aux->Grads(param_grads),
                      c.aux_loss_weight, &aux_cache_, p_.aux->Weights(params), h, in.history,
                      negatives_.data(), in.lengths, p_.aux->Shape(B, L), ctx);
    embedding_scatter_add(rows.row_grads, dnegatives_.data(), rows.negative_slots,
                          static_cast<int>(n), c.num_behaviour_fields, c.embedding_dim, ctx);
  }

  gru_backward(grads.history, nullptr, p_.extractor.Grads(param_grads), dh, &extractor_cache_,
               p_.extractor.Weights(params), in.history, h, in.lengths, nullptr, GruVariant::kGru,
               p_.extractor.Shape(B, L), ctx);
}

}  // namespace cuda
}  // namespace dips
