// Model<T>::Create: validates the config and picks the model by kind.
#include <memory>

#include "worker/model/base_model.h"
#include "worker/model/dien_model.h"
#include "worker/model/din_model.h"
#include "worker/model/model.h"

namespace dips {

template <typename T>
StatusOr<std::unique_ptr<Model<T>>> Model<T>::Create(const ModelConfig& config) {
  RETURN_IF_ERROR(ValidateModelConfig(config));
  std::unique_ptr<Model<T>> model;
  switch (config.kind) {
    case ModelKind::kBase:
      model = std::make_unique<BaseModel<T>>(config);
      break;
    case ModelKind::kDin:
      model = std::make_unique<DinModel<T>>(config);
      break;
    case ModelKind::kDien:
      model = std::make_unique<DienModel<T>>(config);
      break;
  }
  if (model == nullptr) return InvalidArgumentError("unknown model kind");
  return model;
}

template class Model<float>;
template class Model<double>;

}  // namespace dips
