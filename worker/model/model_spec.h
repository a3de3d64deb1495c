// Conversion between a model's in-memory description (ModelConfig plus the
// input schema and history cut the reader used) and its on-disk one,
// ckpt::ModelSpec (proto/checkpoint.proto), which checkpoints and serving
// bundles carry so a model can be rebuilt without the flags that made it.
// Enums are stored by their flag names (ModelKindName, ...).
#ifndef DIPS_WORKER_MODEL_MODEL_SPEC_H_
#define DIPS_WORKER_MODEL_MODEL_SPEC_H_

#include "common/status.h"
#include "proto/checkpoint.pb.h"
#include "worker/data/sample.h"
#include "worker/model/model.h"

namespace dips {

// The spec of a model trained with `config` on logs of `schema` whose
// histories were cut to `max_history`. config's field counts must match the
// schema (the trainer takes them from it).
ckpt::ModelSpec ToModelSpec(const ModelConfig& config, const LogSchema& schema, int max_history);

// The model config a spec describes. InvalidArgument for an unknown enum
// name, a config ValidateModelConfig rejects, field counts that disagree
// with the spec's schema, or max_history < 1.
StatusOr<ModelConfig> FromModelSpec(const ckpt::ModelSpec& spec);

// The input schema a spec describes (no checks; FromModelSpec makes them).
LogSchema SchemaFromModelSpec(const ckpt::ModelSpec& spec);

}  // namespace dips

#endif  // DIPS_WORKER_MODEL_MODEL_SPEC_H_
