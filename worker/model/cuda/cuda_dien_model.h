// DIEN on the device: dien_model.h's interest extractor (extractor GRU,
// auxiliary loss, attention with an optional query projection, masked
// softmax, AUGRU / AGRU / AIGRU evolution, u = h'_T) with the CUDA layers.
// Internal to the CUDA backend.
#ifndef DIPS_WORKER_MODEL_CUDA_CUDA_DIEN_MODEL_H_
#define DIPS_WORKER_MODEL_CUDA_CUDA_DIEN_MODEL_H_

#include <memory>
#include <optional>

#include "worker/model/cuda/cuda_ctr_model.h"
#include "worker/model/layer_params.h"

namespace dips {
namespace cuda {

class CudaDienModel final : public CudaCtrModel {
 public:
  CudaDienModel(const ModelConfig& config, std::unique_ptr<Model<float>> twin,
                std::unique_ptr<CudaContext> ctx);

 private:
  void InterestForward(const Batch& batch, const DeviceSequence& in, const DeviceRows& rows,
                       const float* params, float* state, bool training, float* interest,
                       float* aux_loss) override;
  void InterestBackward(const Batch& batch, const DeviceSequence& in, const float* dinterest,
                        const float* params, const DeviceSequenceGrads& grads,
                        const DeviceRows& rows, float* param_grads) override;

  bool aigru() const { return config().evolution == EvolutionKind::kAigru; }

  DienParams p_;  // the dense views, in the layout both backends share

  GruCache extractor_cache_, evolution_cache_;
  AuxLossCache aux_cache_;
  AttentionUnitCache attention_cache_;
  bool aux_active_ = false;  // the last forward computed the auxiliary loss
  DeviceBuffer<float> hidden_states_;      // [n x H] extractor h_t (n = batch x length)
  DeviceBuffer<float> negatives_;          // [n x D]
  DeviceBuffer<float> scores_, attention_weights_;  // [n]
  DeviceBuffer<float> evolution_input_;    // [n x H] AIGRU: a_t * h_t
  DeviceBuffer<float> evolution_states_;   // [n x H] h'_t
  DeviceBuffer<float> dhidden_, devolution_, devolution_input_, dnegatives_;
  DeviceBuffer<float> dattention_, dscores_;
  DeviceBuffer<float> query_pre_, query_, dquery_, dquery_pre_;  // [batch x H]
};

}  // namespace cuda
}  // namespace dips

#endif  // DIPS_WORKER_MODEL_CUDA_CUDA_DIEN_MODEL_H_
