#include "worker/model/din_model.h"

#include "worker/model/layers/pooling.h"
#include "worker/model/workspace.h"

namespace dips {

template <typename T>
DinModel<T>::DinModel(const ModelConfig& config)
    : CtrModel<T>(config, config.behaviour_dim()),
      attention_("din.attention", config.behaviour_dim(), config.attention_hidden1,
                 config.attention_hidden2, config.attention_activation, this->mutable_params(),
                 this->mutable_state()) {}

template <typename T>
T DinModel<T>::InterestForward(const Batch& batch, const SequenceInputs<T>& in, const T* rows,
                               const T* params, T* state, bool training, T* interest,
                               T* pooled) {
  const size_t n = static_cast<size_t>(in.batch) * in.length;
  T* scores = Grow(&scores_, n);
  attention_unit_forward(scores, &attention_cache_, attention_.Weights(params, state), in.history,
                         in.target, in.mask, training, attention_.Shape(in.batch, in.length));
  const T* weights = scores;
  if (this->config().din_softmax) {
    T* w = Grow(&weights_, n);
    masked_softmax_forward(w, scores, in.mask, in.batch, in.length);
    weights = w;
  }
  sum_and_weighted_pooling_forward(pooled, interest, in.history, weights, in.mask, in.batch,
                                   in.length, in.dim);
  return T(0);
}

template <typename T>
void DinModel<T>::InterestBackward(const Batch& batch, const SequenceInputs<T>& in,
                                   const T* dinterest, const T* params,
                                   const SequenceGrads<T>& grads, T* param_grads, T* row_grads) {
  const size_t n = static_cast<size_t>(in.batch) * in.length;
  const bool softmax = this->config().din_softmax;
  const T* weights = softmax ? weights_.data() : scores_.data();
  // Both poolings' gradients at once; they write grads.history (see
  // PoolsHistorySum), which the activation unit then adds to.
  T* dweights = Grow(&dweights_, n);
  sum_and_weighted_pooling_backward(grads.history, dweights, grads.pooled, dinterest, in.history,
                                    weights, in.mask, in.batch, in.length, in.dim);
  const T* dscores = dweights;
  if (softmax) {
    T* ds = GrowZeroed(&dscores_, n);
    masked_softmax_backward(ds, dweights, weights, in.mask, in.batch, in.length);
    dscores = ds;
  }
  attention_unit_backward(grads.history, grads.target, attention_.Grads(param_grads), dscores,
                          &attention_cache_, attention_.Weights(params, static_cast<T*>(nullptr)),
                          in.history, in.target, in.mask, attention_.Shape(in.batch, in.length));
}

template <typename T>
double DinModel<T>::InterestFlops(const Batch& batch) const {
  return attention_.TrainingFlops(batch.size, ValidPositions(batch));
}

template class DinModel<float>;
template class DinModel<double>;

}  // namespace dips
