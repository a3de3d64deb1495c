// DIN: u = v_U = sum_j m_j w_j e_j, where w_j is the activation unit's
// score of behaviour e_j against the target v_A: the raw score by default
// (paper: keeps the intensity of interest), or its masked softmax over j
// with config.din_softmax (reference code).
#ifndef DIPS_WORKER_MODEL_DIN_MODEL_H_
#define DIPS_WORKER_MODEL_DIN_MODEL_H_

#include <vector>

#include "worker/model/ctr_model.h"
#include "worker/model/layer_params.h"

namespace dips {

template <typename T>
class DinModel final : public CtrModel<T> {
 public:
  explicit DinModel(const ModelConfig& config);

 private:
  bool PoolsHistorySum() const override { return true; }
  T InterestForward(const Batch& batch, const SequenceInputs<T>& in, const T* rows, const T* params,
                    T* state, bool training, T* interest, T* pooled) override;
  void InterestBackward(const Batch& batch, const SequenceInputs<T>& in, const T* dinterest,
                        const T* params, const SequenceGrads<T>& grads, T* param_grads,
                        T* row_grads) override;
  double InterestFlops(const Batch& batch) const override;

  AttentionUnitParams attention_;
  AttentionUnitCache<T> attention_cache_;
  std::vector<T> scores_, weights_, dweights_, dscores_;  // [batch x length]
};

}  // namespace dips

#endif  // DIPS_WORKER_MODEL_DIN_MODEL_H_
