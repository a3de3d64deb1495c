// The CUDA implementation of the model interface (worker/model/model.h) for
// Base, DIN and DIEN: a Model<float> whose forward and backward passes run
// on a GPU with the layers of cuda_layers.h, while its callers (the
// trainer, the distributed worker) keep every buffer on the host: rows,
// dense parameters, Dice state, gradients and probabilities. Each Forward
// copies the batch's index arrays, its rows, the dense parameters and the
// state to the device through one pinned staging buffer, and each step
// copies back the loss, the probabilities, the Dice state and the dense and
// row gradients (cuda_ctr_model.h has the details). The mini-batch-aware
// regulariser and the optimisers stay on the host, where the rows are.
//
// Results equal the CPU model's to float rounding (tests/gpu/
// model_parity_test.cc), not bit for bit: see cuda_layers.h.
//
// A model is used by one thread at a time and owns its CUDA stream; any
// number of models may share a device. Model::status() reports a device
// failure during a step (Forward then returns NaN).
#ifndef DIPS_WORKER_MODEL_CUDA_CUDA_MODEL_H_
#define DIPS_WORKER_MODEL_CUDA_CUDA_MODEL_H_

#include <memory>

#include "common/status.h"
#include "worker/model/model.h"

namespace dips {
namespace cuda {

// Validates `config` as Model<float>::Create does (InvalidArgument), then
// opens `device`: Unavailable when there is no usable GPU, Internal when the
// stream or cuBLAS cannot be set up.
StatusOr<std::unique_ptr<Model<float>>> CreateCudaModel(const ModelConfig& config,
                                                        int device = 0);

}  // namespace cuda
}  // namespace dips

#endif  // DIPS_WORKER_MODEL_CUDA_CUDA_MODEL_H_
