// CreateCudaModel: the CPU twin (which validates the config), a context on
// the device, and the model by kind; then the layout check.
#include <glog/logging.h>

#include <memory>
#include <utility>

#include "worker/model/cuda/cuda_ctr_model.h"
#include "worker/model/cuda/cuda_dien_model.h"
#include "worker/model/cuda/cuda_din_model.h"
#include "worker/model/cuda/cuda_model.h"

namespace dips {
namespace cuda {
namespace {

// Base: the head sees p, v_A, s and v_A * s only (base_model.h).
class CudaBaseModel final : public CudaCtrModel {
 public:
  CudaBaseModel(const ModelConfig& config, std::unique_ptr<Model<float>> twin,
                std::unique_ptr<CudaContext> ctx)
      : CudaCtrModel(config, /*interest_dim=*/0, std::move(twin), std::move(ctx)) {}

 private:
  // With interest_dim 0 CudaCtrModel never calls these.
  void InterestForward(const Batch&, const DeviceSequence&, const DeviceRows&, const float*,
                       float*, bool, float*, float*) override {}
  void InterestBackward(const Batch&, const DeviceSequence&, const float*, const float*,
                        const DeviceSequenceGrads&, const DeviceRows&, float*) override {}
};

}  // namespace

StatusOr<std::unique_ptr<Model<float>>> CreateCudaModel(const ModelConfig& config, int device) {
  ASSIGN_OR_RETURN(std::unique_ptr<Model<float>> twin, Model<float>::Create(config));
  ASSIGN_OR_RETURN(std::unique_ptr<CudaContext> ctx, CudaContext::Create(device));
  std::unique_ptr<CudaCtrModel> model;
  switch (config.kind) {
    case ModelKind::kBase:
      model = std::make_unique<CudaBaseModel>(config, std::move(twin), std::move(ctx));
      break;
    case ModelKind::kDin:
      model = std::make_unique<CudaDinModel>(config, std::move(twin), std::move(ctx));
      break;
    case ModelKind::kDien:
      model = std::make_unique<CudaDienModel>(config, std::move(twin), std::move(ctx));
      break;
  }
  if (model == nullptr) return InvalidArgumentError("unknown model kind");
  // The two backends must read the same buffers; a difference is our bug.
  CHECK(model->LayoutMatchesTwin()) << "CUDA model layout differs from the CPU model's";
  return std::unique_ptr<Model<float>>(std::move(model));
}

}  // namespace cuda
}  // namespace dips
