// CudaCtrModel: worker/model/ctr_model.h's CtrModel with its forward and
// backward passes on the device. Internal to the CUDA backend; users create
// models through cuda_model.h.
//
// A step, for the caller an ordinary Model<float> on host buffers:
//  - Forward packs the dense parameters, the Dice state, the batch's rows,
//    labels, mask, lengths and slot arrays into one pinned staging buffer,
//    copies it to the device in one asynchronous copy on the context's
//    stream, runs the layers of cuda_layers.h (the same chain as
//    ctr_model.cc), and copies back the two loss parts, the probabilities
//    and (training) the updated Dice state: one synchronisation.
//  - Backward reuses the device copies of that Forward (the Model contract
//    says rows and parameters are the same), runs the backward chain into
//    zeroed device gradient buffers, copies the dense and row gradients
//    back and adds them (+=) to the caller's buffers: one synchronisation.
// The dense parameters are thus mirrored on the device at every Forward,
// i.e. after every optimiser step, which stays on the host.
//
// Metadata (config, layouts, initialisation, FLOP counts) comes from a CPU
// model of the same config, the "twin": the two backends cannot disagree on
// them. The CUDA model registers its own views through the same helpers
// (RegisterMlpHead, AttentionUnitParams, ...) to learn the offsets, and the
// factory CHECKs that its layouts equal the twin's.
//
// Not thread-safe: one model per thread, as on the CPU. Each model owns its
// CudaContext (stream and cuBLAS handle).
#ifndef DIPS_WORKER_MODEL_CUDA_CUDA_CTR_MODEL_H_
#define DIPS_WORKER_MODEL_CUDA_CUDA_CTR_MODEL_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "worker/model/cuda/cuda_layers.h"
#include "worker/model/cuda/cuda_mlp_head.h"
#include "worker/model/model.h"
#include "worker/model/param_layout.h"

namespace dips {
namespace cuda {

// The history as the interest extractors see it (device pointers);
// ctr_model.h's SequenceInputs. length >= 1.
struct DeviceSequence {
  int batch = 0;
  int length = 0;
  int dim = 0;                       // D
  const float* history = nullptr;    // [batch x length x D], padding rows 0
  const float* target = nullptr;     // [batch x D] v_A
  const float* mask = nullptr;       // [batch x length]
  const int32_t* lengths = nullptr;  // [batch]
};

// Where an extractor accumulates (+=) the gradients of its inputs.
struct DeviceSequenceGrads {
  float* history = nullptr;  // [batch x length x D]
  float* target = nullptr;   // [batch x D]
};

// The batch's rows for extractors that gather more of them (DIEN's
// negatives), and where their gradients go.
struct DeviceRows {
  const float* rows = nullptr;              // [K x d]
  const int32_t* negative_slots = nullptr;  // [B*T*F]; null when the batch has none
  float* row_grads = nullptr;               // [K x d]; backward only
};

class CudaCtrModel : public Model<float> {
 public:
  ~CudaCtrModel() override;

  const ModelConfig& config() const override { return twin_->config(); }
  const std::vector<ParamView>& layout() const override { return twin_->layout(); }
  const std::vector<ParamView>& state_layout() const override { return twin_->state_layout(); }
  size_t num_params() const override { return twin_->num_params(); }
  size_t num_state() const override { return twin_->num_state(); }
  void InitParams(float* params, uint64_t seed) const override {
    twin_->InitParams(params, seed);
  }
  void InitState(float* state) const override { twin_->InitState(state); }
  double TrainingFlops(const Batch& batch) const override { return twin_->TrainingFlops(batch); }

  float Forward(const Batch& batch, const float* rows, const float* params, float* state,
                bool training, float* probs) override;
  void Backward(const Batch& batch, const float* rows, const float* params, float* param_grads,
                float* row_grads) override;

  float last_target_loss() const override { return target_loss_; }
  float last_aux_loss() const override { return aux_loss_; }
  Status status() const override { return ctx_->status(); }

  // True when the views this model registered equal the twin's (names,
  // offsets, sizes), parameters and state. The factory CHECKs it.
  bool LayoutMatchesTwin() const;

 protected:
  // interest_dim: size of u (0 for Base). twin: a CPU model of `config`.
  CudaCtrModel(const ModelConfig& config, int interest_dim, std::unique_ptr<Model<float>> twin,
               std::unique_ptr<CudaContext> ctx);

  ParamLayout* mutable_params() { return &params_; }
  ParamLayout* mutable_state() { return &state_; }
  CudaContext* ctx() { return ctx_.get(); }

  // Writes u [batch x interest_dim] (zeroed before the call) and, when the
  // model computes an auxiliary loss, the unweighted loss to the device
  // scalar *aux_loss (zeroed before the call).
  virtual void InterestForward(const Batch& batch, const DeviceSequence& in,
                               const DeviceRows& rows, const float* params, float* state,
                               bool training, float* interest, float* aux_loss) = 0;
  // Backward of the last InterestForward given du [batch x interest_dim];
  // accumulates into grads, param_grads and rows.row_grads.
  virtual void InterestBackward(const Batch& batch, const DeviceSequence& in,
                                const float* dinterest, const float* params,
                                const DeviceSequenceGrads& grads, const DeviceRows& rows,
                                float* param_grads) = 0;

 private:
  // Offsets, in 4-byte words, of the staged arrays (inputs, copied to the
  // device) and of what comes back (outputs) in the staging buffer.
  struct Staging {
    size_t params = 0, state = 0, rows = 0, labels = 0, mask = 0, lengths = 0;
    size_t target_slots = 0, history_slots = 0, extra_slots = 0, negative_slots = 0;
    size_t inputs = 0;  // words of the input part (the device copy's size)
    size_t outputs = 0; // first word of the output part
    size_t words = 0;   // total
  };

  Staging PlanStaging(const Batch& batch) const;
  // Fills the staging buffer and enqueues its copy to inputs_; false on a
  // device error (recorded in the context).
  bool StageInputs(const Batch& batch, const float* rows, const float* params,
                   const float* state);
  float* DeviceWords(size_t offset) { return inputs_.data() + offset; }
  const int32_t* DeviceInts(size_t offset) {
    return reinterpret_cast<const int32_t*>(inputs_.data() + offset);
  }
  DeviceSequence Sequence(const Batch& batch);
  DeviceRows Rows(const Batch& batch, float* row_grads);
  float Failed();

  std::unique_ptr<Model<float>> twin_;
  std::unique_ptr<CudaContext> ctx_;
  int interest_dim_;
  int head_input_dim_;
  ParamLayout params_;
  ParamLayout state_;
  CudaMlpHead head_;

  // Saved by Forward for Backward.
  bool last_training_ = false;
  int last_batch_ = -1, last_length_ = -1;
  float target_loss_ = 0, aux_loss_ = 0;
  Staging staging_;
  PinnedBuffer pinned_;
  DeviceBuffer<float> inputs_;   // the staged inputs (params, state, rows, ...)
  DeviceBuffer<float> losses_;   // [2] target loss, unweighted aux loss
  DeviceBuffer<float> target_, extra_, history_, pooled_, interest_;
  DeviceBuffer<float> x_, logits_, probs_;
  DeviceBuffer<float> dlogits_, dx_, dtarget_, dextra_, dpooled_, dinterest_, dhistory_;
  DeviceBuffer<float> param_grads_, row_grads_;
};

}  // namespace cuda
}  // namespace dips

#endif  // DIPS_WORKER_MODEL_CUDA_CUDA_CTR_MODEL_H_
