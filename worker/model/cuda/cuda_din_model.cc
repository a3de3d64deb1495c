#include "worker/model/cuda/cuda_din_model.h"

#include <utility>

namespace dips {
namespace cuda {

CudaDinModel::CudaDinModel(const ModelConfig& config, std::unique_ptr<Model<float>> twin,
                           std::unique_ptr<CudaContext> ctx)
    : CudaCtrModel(config, config.behaviour_dim(), std::move(twin), std::move(ctx)),
      attention_("din.attention", config.behaviour_dim(), config.attention_hidden1,
                 config.attention_hidden2, config.attention_activation, mutable_params(),
                 mutable_state()) {}

void CudaDinModel::InterestForward(const Batch& batch, const DeviceSequence& in,
                                   const DeviceRows& rows, const float* params, float* state,
                                   bool training, float* interest, float* aux_loss) {
  const size_t n = static_cast<size_t>(in.batch) * in.length;
  if (!scores_.Grow(n, ctx())) return;
  float* scores = scores_.data();
  attention_unit_forward(scores, &attention_cache_, attention_.Weights(params, state), in.history,
                         in.target, in.mask, training, attention_.Shape(in.batch, in.length),
                         ctx());
  const float* weights = scores;
  if (config().din_softmax) {
    if (!weights_.Grow(n, ctx())) return;
    masked_softmax_forward(weights_.data(), scores, in.mask, in.batch, in.length, ctx());
    weights = weights_.data();
  }
  weighted_sum_pooling_forward(interest, in.history, weights, in.mask, in.batch, in.length,
                               in.dim, ctx());
}

void CudaDinModel::InterestBackward(const Batch& batch, const DeviceSequence& in,
                                    const float* dinterest, const float* params,
                                    const DeviceSequenceGrads& grads, const DeviceRows& rows,
                                    float* param_grads) {
  const size_t n = static_cast<size_t>(in.batch) * in.length;
  const bool softmax = config().din_softmax;
  const float* weights = softmax ? weights_.data() : scores_.data();
  if (!dweights_.GrowZeroed(n, ctx())) return;
  weighted_sum_pooling_backward(grads.history, dweights_.data(), dinterest, in.history, weights,
                                in.mask, in.batch, in.length, in.dim, ctx());
  const float* dscores = dweights_.data();
  if (softmax) {
    if (!dscores_.GrowZeroed(n, ctx())) return;
    masked_softmax_backward(dscores_.data(), dweights_.data(), weights, in.mask, in.batch,
                            in.length, ctx());
    dscores = dscores_.data();
  }
  attention_unit_backward(grads.history, grads.target, attention_.Grads(param_grads), dscores,
                          &attention_cache_,
                          attention_.Weights(params, static_cast<float*>(nullptr)), in.history,
                          in.target, in.mask, attention_.Shape(in.batch, in.length), ctx());
}

}  // namespace cuda
}  // namespace dips
