// DIEN: interest extractor GRU over the history (H = D), auxiliary loss on
// its states against the next real and a sampled negative behaviour,
// attention of every state against v_A (masked softmax over valid steps),
// and the interest evolution GRU (AUGRU by default, AGRU, or AIGRU)
// whose final state is u = h'_T. With config.dien_query_projection the
// attention query is v_A' = PReLU(v_A W_q + b_q) instead of v_A.
//
// The auxiliary loss runs only in training passes, on batches that carry
// negatives, when aux_loss_weight > 0; evaluation loss is the target loss.
#ifndef DIPS_WORKER_MODEL_DIEN_MODEL_H_
#define DIPS_WORKER_MODEL_DIEN_MODEL_H_

#include <optional>
#include <vector>

#include "worker/model/ctr_model.h"
#include "worker/model/layer_params.h"

namespace dips {

template <typename T>
class DienModel final : public CtrModel<T> {
 public:
  explicit DienModel(const ModelConfig& config);

 private:
  T InterestForward(const Batch& batch, const SequenceInputs<T>& in, const T* rows, const T* params,
                    T* state, bool training, T* interest, T* /*pooled*/) override;
  void InterestBackward(const Batch& batch, const SequenceInputs<T>& in, const T* dinterest,
                        const T* params, const SequenceGrads<T>& grads, T* param_grads,
                        T* row_grads) override;
  double InterestFlops(const Batch& batch) const override;


  DienParams p_;  // the dense views, in the layout both backends share

  GruCache<T> extractor_cache_, evolution_cache_;
  AuxLossCache<T> aux_cache_;
  AttentionUnitCache<T> attention_cache_;
  bool aux_active_ = false;                    // the last forward computed the auxiliary loss
  std::vector<T> hidden_states_;               // [batch x length x H] extractor h_t
  std::vector<T> negatives_;                   // [batch x length x D]
  std::vector<T> scores_, attention_weights_;  // [batch x length]
  std::vector<T> evolution_input_;             // AIGRU: a_t * h_t
  std::vector<T> evolution_states_;            // [batch x length x H] h'_t
  std::vector<T> dhidden_, devolution_, devolution_input_, dnegatives_;
  std::vector<T> dattention_, dscores_;
  std::vector<T> query_pre_, query_;  // [batch x H] v_A W_q + b_q, v_A'
  std::vector<T> dquery_, dquery_pre_;
};

}  // namespace dips

#endif  // DIPS_WORKER_MODEL_DIEN_MODEL_H_
