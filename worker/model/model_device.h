// Where a model's forward and backward passes run, and the one factory that
// builds a Model<float> for either place. The CPU-only build compiles the
// CUDA case to an error, so callers (the trainer) need no #ifdef and the CPU
// build never depends on CUDA.
#ifndef DIPS_WORKER_MODEL_MODEL_DEVICE_H_
#define DIPS_WORKER_MODEL_MODEL_DEVICE_H_

#include <memory>
#include <string>

#include "common/status.h"
#include "worker/model/model.h"

namespace dips {

enum class ModelDevice { kCpu, kCuda };

// "cpu" | "cuda" (the --device flag's values).
StatusOr<ModelDevice> ParseModelDevice(const std::string& name);
const char* ModelDeviceName(ModelDevice device);

// OK when models can be created on `device`. Always for the CPU. For CUDA,
// Unavailable with the message "this build has no CUDA backend" (built
// without nvcc, or with -DDIPS_CUDA=OFF) or "no usable GPU: <CUDA's
// reason>". Never crashes, GPU or not.
Status CheckModelDevice(ModelDevice device);

// Model<float>::Create on the CPU; the CUDA model (worker/model/cuda/
// cuda_model.h) on GPU 0. Errors as CheckModelDevice, or InvalidArgument for
// a bad config.
StatusOr<std::unique_ptr<Model<float>>> CreateModel(const ModelConfig& config,
                                                    ModelDevice device);

}  // namespace dips

#endif  // DIPS_WORKER_MODEL_MODEL_DEVICE_H_
