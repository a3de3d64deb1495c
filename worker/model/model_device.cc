#include "worker/model/model_device.h"

#ifdef DIPS_HAVE_CUDA
#include "worker/model/cuda/cuda_context.h"
#include "worker/model/cuda/cuda_model.h"
#endif

namespace dips {

StatusOr<ModelDevice> ParseModelDevice(const std::string& name) {
  if (name == "cpu") return ModelDevice::kCpu;
  if (name == "cuda") return ModelDevice::kCuda;
  return InvalidArgumentError("unknown device '" + name + "' (expected cpu or cuda)");
}

const char* ModelDeviceName(ModelDevice device) {
  switch (device) {
    case ModelDevice::kCpu:
      return "cpu";
    case ModelDevice::kCuda:
      return "cuda";
  }
  return "?";
}

Status CheckModelDevice(ModelDevice device) {
  if (device == ModelDevice::kCpu) return Status::OK();
#ifdef DIPS_HAVE_CUDA
  StatusOr<int> count = cuda::DeviceCount();
  if (!count.ok()) return UnavailableError("no usable GPU: " + count.status().message());
  return Status::OK();
#else
  return UnavailableError("this build has no CUDA backend");
#endif
}

StatusOr<std::unique_ptr<Model<float>>> CreateModel(const ModelConfig& config,
                                                    ModelDevice device) {
  if (device == ModelDevice::kCpu) return Model<float>::Create(config);
  RETURN_IF_ERROR(CheckModelDevice(device));
#ifdef DIPS_HAVE_CUDA
  return cuda::CreateCudaModel(config, /*device=*/0);
#else
  return UnavailableError("this build has no CUDA backend");  // not reached
#endif
}

}  // namespace dips
