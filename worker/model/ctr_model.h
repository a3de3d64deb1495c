// CtrModel: what Base, DIN and DIEN share. It gathers the embeddings
// (target v_A, extra fields p, history e_j), pools the masked history sum
// s, asks the subclass for its interest vector u, and runs the head on
//   x = [p, v_A, s, v_A * s, u]
// with the mean sigmoid BCE loss. Backward runs the same path in reverse
// and scatters row gradients to the batch's unique keys.
//
// Subclasses implement the interest extractor (nothing for Base, attention
// pooling for DIN, GRU + attention + AUGRU for DIEN) and register their
// parameters in the layouts after the head's.
#ifndef DIPS_WORKER_MODEL_CTR_MODEL_H_
#define DIPS_WORKER_MODEL_CTR_MODEL_H_

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "worker/model/mlp_head.h"
#include "worker/model/model.h"
#include "worker/model/param_layout.h"

namespace dips {

// The history as every interest extractor sees it. length >= 1.
template <typename T>
struct SequenceInputs {
  int batch = 0;
  int length = 0;
  int dim = 0;                       // D
  const T* history = nullptr;        // [batch x length x D], padding rows 0
  const T* target = nullptr;         // [batch x D] v_A
  const T* mask = nullptr;           // [batch x length] 1 real, 0 padding
  const int32_t* lengths = nullptr;  // [batch]
};

// Where the extractor accumulates (+=) the gradients of its inputs.
template <typename T>
struct SequenceGrads {
  T* history = nullptr;  // [batch x length x D]
  T* target = nullptr;   // [batch x D]
  // Set for a model that pools the history's sum itself
  // (PoolsHistorySum): the gradient of s [batch x D], which its
  // InterestBackward applies while it *writes* all of history (padding 0)
  // instead of accumulating into it.
  const T* pooled = nullptr;
};

// Sum of the batch's history lengths (positions that are not padding).
double ValidPositions(const Batch& batch);

// The head of a model whose interest vector u has `interest_dim` values
// (0 for Base): input x = [p, v_A, s, v_A * s, u], hidden layers and
// activation from the config. Its views are named "head.*".
MlpHeadShape CtrHeadShape(const ModelConfig& config, int interest_dim);

// CHECKs that `batch` matches `config` (F, P) and is well formed: every
// array has its size, lengths are in [0, max_length] and every slot in
// [-1, K). The batch builder is ours, so a mismatch is a bug, not bad input.
// Every backend runs this before it reads a batch.
void CheckModelBatch(const ModelConfig& config, const Batch& batch);

// The history mask [size x max_length]: 1 at positions t < lengths[b], 0 on
// the padding after them. Both backends build it this way.
template <typename T>
void FillHistoryMask(const Batch& batch, T* mask) {
  const size_t L = static_cast<size_t>(batch.max_length);
  for (int b = 0; b < batch.size; ++b) {
    T* m = mask + static_cast<size_t>(b) * L;
    const size_t valid = static_cast<size_t>(batch.lengths[b]);
    std::fill(m, m + valid, T(1));
    std::fill(m + valid, m + L, T(0));
  }
}

template <typename T>
class CtrModel : public Model<T> {
 public:
  const ModelConfig& config() const override { return config_; }
  const std::vector<ParamView>& layout() const override { return params_.views(); }
  const std::vector<ParamView>& state_layout() const override { return state_.views(); }
  size_t num_params() const override { return params_.size(); }
  size_t num_state() const override { return state_.size(); }
  void InitParams(T* params, uint64_t seed) const override;
  void InitState(T* state) const override;

  T Forward(const Batch& batch, const T* rows, const T* params, T* state, bool training,
            T* probs) override;
  void Backward(const Batch& batch, const T* rows, const T* params, T* param_grads,
                T* row_grads) override;

  T last_target_loss() const override { return target_loss_; }
  T last_aux_loss() const override { return aux_loss_; }
  double TrainingFlops(const Batch& batch) const override;

 protected:
  // interest_dim: size of u (0 for Base).
  CtrModel(const ModelConfig& config, int interest_dim);

  ParamLayout* mutable_params() { return &params_; }
  ParamLayout* mutable_state() { return &state_; }

  // Whether InterestForward also writes s, the masked sum of the history,
  // and InterestBackward applies its gradient (SequenceGrads::pooled). A
  // model that reads the history once per pass for its own pooling (DIN)
  // does both in that pass, rather than CtrModel making two more passes over
  // the largest buffers of the step, plus the clearing of the gradient.
  virtual bool PoolsHistorySum() const { return false; }
  // Writes u [batch x interest_dim] and returns the unweighted auxiliary
  // loss (0 unless the model has one). `pooled` [batch x D] receives s when
  // PoolsHistorySum(), and is null otherwise.
  virtual T InterestForward(const Batch& batch, const SequenceInputs<T>& in, const T* rows,
                            const T* params, T* state, bool training, T* interest,
                            T* pooled) = 0;
  // Backward of the last InterestForward given du [batch x interest_dim];
  // accumulates into grads (but writes grads.history when grads.pooled is
  // set), param_grads and (for rows the extractor reads itself, such as
  // DIEN's negatives) row_grads.
  virtual void InterestBackward(const Batch& batch, const SequenceInputs<T>& in, const T* dinterest,
                                const T* params, const SequenceGrads<T>& grads, T* param_grads,
                                T* row_grads) = 0;
  virtual double InterestFlops(const Batch& batch) const = 0;

 private:
  SequenceInputs<T> Inputs(const Batch& batch) const;

  ModelConfig config_;
  int interest_dim_;
  int head_input_dim_;
  ParamLayout params_;
  ParamLayout state_;
  MlpHead<T> head_;

  // Saved by Forward for Backward (batch-major, sized for the last batch).
  bool last_training_ = false;
  int last_batch_ = -1, last_length_ = -1;
  T target_loss_ = 0, aux_loss_ = 0;
  std::vector<T> target_, extra_, history_, mask_, pooled_, interest_;
  std::vector<T> x_, logits_, probs_, labels_;
  std::vector<T> dlogits_, dx_, dtarget_, dextra_, dhistory_, dpooled_, dinterest_;
};

}  // namespace dips

#endif  // DIPS_WORKER_MODEL_CTR_MODEL_H_
