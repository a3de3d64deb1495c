// The CTR head of worker/model/mlp_head.h on the device: x -> hidden[0] ->
// ... -> 1, a linear layer and the configured activation per hidden layer,
// then the output layer. Its views are registered through RegisterMlpHead,
// so it reads the same buffer layout as the CPU head.
//
// Owns the saved device activations of its last forward pass; parameters,
// gradients and Dice state are device pointers into the model's buffers.
// Not thread-safe: one head per model object. Internal to the CUDA backend.
#ifndef DIPS_WORKER_MODEL_CUDA_CUDA_MLP_HEAD_H_
#define DIPS_WORKER_MODEL_CUDA_CUDA_MLP_HEAD_H_

#include <string>
#include <vector>

#include "worker/model/cuda/cuda_layers.h"
#include "worker/model/mlp_head.h"

namespace dips {
namespace cuda {

class CudaMlpHead {
 public:
  // Adds the head's views to the layouts, exactly as MlpHead does.
  CudaMlpHead(const MlpHeadShape& shape, const std::string& prefix, ParamLayout* params,
              ParamLayout* state);

  // logits[rows] from x[rows x input_dim].
  void Forward(float* logits, const float* x, int rows, const float* params, float* state,
               bool training, CudaContext* ctx);
  // Accumulates into dx[rows x input_dim] (may be null) and param_grads.
  void Backward(float* dx, const float* dlogits, const float* x, int rows, const float* params,
                float* param_grads, CudaContext* ctx);

 private:
  MlpHeadShape shape_;
  std::vector<MlpLayerParams> layers_;  // hidden layers, then the output layer
  // Per hidden layer: pre-activation, activation output, and the gradient
  // of that output (backward) [rows x out].
  std::vector<DeviceBuffer<float>> pre_, out_, dout_;
  std::vector<DiceCache> dice_;
  DeviceBuffer<float> dpre_;  // backward scratch
};

}  // namespace cuda
}  // namespace dips

#endif  // DIPS_WORKER_MODEL_CUDA_CUDA_MLP_HEAD_H_
