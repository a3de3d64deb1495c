// DIN on the device: din_model.h's interest extractor (attention unit over
// the history against v_A, raw scores or their masked softmax, weighted
// sum pooling) with the CUDA layers. Internal to the CUDA backend.
#ifndef DIPS_WORKER_MODEL_CUDA_CUDA_DIN_MODEL_H_
#define DIPS_WORKER_MODEL_CUDA_CUDA_DIN_MODEL_H_

#include <memory>

#include "worker/model/cuda/cuda_ctr_model.h"
#include "worker/model/layer_params.h"

namespace dips {
namespace cuda {

class CudaDinModel final : public CudaCtrModel {
 public:
  CudaDinModel(const ModelConfig& config, std::unique_ptr<Model<float>> twin,
               std::unique_ptr<CudaContext> ctx);

 private:
  void InterestForward(const Batch& batch, const DeviceSequence& in, const DeviceRows& rows,
                       const float* params, float* state, bool training, float* interest,
                       float* aux_loss) override;
  void InterestBackward(const Batch& batch, const DeviceSequence& in, const float* dinterest,
                        const float* params, const DeviceSequenceGrads& grads,
                        const DeviceRows& rows, float* param_grads) override;

  AttentionUnitParams attention_;
  AttentionUnitCache attention_cache_;
  DeviceBuffer<float> scores_, weights_, dweights_, dscores_;  // [batch x length]
};

}  // namespace cuda
}  // namespace dips

#endif  // DIPS_WORKER_MODEL_CUDA_CUDA_DIN_MODEL_H_
