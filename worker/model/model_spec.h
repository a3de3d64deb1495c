// ModelSpec (proto/checkpoint.proto): a model's configuration and input
// schema as stored in checkpoints and serving bundles, so a reader can
// rebuild exactly the model that was trained.
#ifndef DIPS_WORKER_MODEL_MODEL_SPEC_H_
#define DIPS_WORKER_MODEL_MODEL_SPEC_H_

#include "common/status.h"
#include "proto/checkpoint.pb.h"
#include "worker/data/sample.h"
#include "worker/model/model.h"

namespace dips {

ckpt::ModelSpec ToModelSpec(const ModelConfig& config, const LogSchema& schema, int max_history);

// The model configuration a spec describes; InvalidArgument for unknown
// names or a configuration ValidateModelConfig refuses.
StatusOr<ModelConfig> FromModelSpec(const ckpt::ModelSpec& spec);

// The input schema a spec describes.
LogSchema SchemaFromModelSpec(const ckpt::ModelSpec& spec);

}  // namespace dips

#endif  // DIPS_WORKER_MODEL_MODEL_SPEC_H_
