// The switch over sparse optimiser kinds. The rules live one per file in
// ps/optimizers/.
#include "ps/sparse_optimizer.h"

#include <cmath>
#include <string>

#include "ps/optimizers/optimizers.h"

namespace dips {
namespace {

constexpr SparseOptimizerKind kAllKinds[] = {
    SparseOptimizerKind::kSgd, SparseOptimizerKind::kAdagrad, SparseOptimizerKind::kAdam,
    SparseOptimizerKind::kFtrl};

Status CheckRange(const char* field, float value, bool ok) {
  if (std::isfinite(value) && ok) return Status::OK();
  return InvalidArgumentError(std::string("sparse optimizer option ") + field +
                              " out of range: " + std::to_string(value));
}

}  // namespace

Status ValidateSparseOptimizerOptions(const SparseOptimizerOptions& o) {
  RETURN_IF_ERROR(CheckRange("learning_rate", o.learning_rate, o.learning_rate > 0));
  switch (o.kind) {
    case SparseOptimizerKind::kSgd:
      return Status::OK();
    case SparseOptimizerKind::kAdagrad:
      return CheckRange("adagrad_initial_accumulator", o.adagrad_initial_accumulator,
                        o.adagrad_initial_accumulator > 0);
    case SparseOptimizerKind::kAdam:
      RETURN_IF_ERROR(CheckRange("beta1", o.beta1, o.beta1 >= 0 && o.beta1 < 1));
      RETURN_IF_ERROR(CheckRange("beta2", o.beta2, o.beta2 >= 0 && o.beta2 < 1));
      return CheckRange("epsilon", o.epsilon, o.epsilon > 0);
    case SparseOptimizerKind::kFtrl:
      // beta > 0 keeps the closed form's denominator positive even for a
      // coordinate that has only seen zero gradients (n = 0).
      RETURN_IF_ERROR(CheckRange("ftrl_beta", o.ftrl_beta, o.ftrl_beta > 0));
      RETURN_IF_ERROR(CheckRange("ftrl_l1", o.ftrl_l1, o.ftrl_l1 >= 0));
      return CheckRange("ftrl_l2", o.ftrl_l2, o.ftrl_l2 >= 0);
  }
  return InvalidArgumentError("unknown sparse optimizer kind " +
                              std::to_string(static_cast<int>(o.kind)));
}

StatusOr<SparseOptimizerKind> ParseSparseOptimizerKind(const std::string& name) {
  for (SparseOptimizerKind kind : kAllKinds) {
    if (name == SparseOptimizerName(kind)) return kind;
  }
  return InvalidArgumentError("unknown sparse optimizer '" + name +
                              "' (expected sgd, adagrad, adam or ftrl)");
}

const char* SparseOptimizerName(SparseOptimizerKind kind) {
  switch (kind) {
    case SparseOptimizerKind::kSgd: return "sgd";
    case SparseOptimizerKind::kAdagrad: return "adagrad";
    case SparseOptimizerKind::kAdam: return "adam";
    case SparseOptimizerKind::kFtrl: return "ftrl";
  }
  return "unknown";
}

int StateFloatsPerWeight(SparseOptimizerKind kind) {
  switch (kind) {
    case SparseOptimizerKind::kSgd: return sparse_optimizers::kSgdStateFloats;
    case SparseOptimizerKind::kAdagrad: return sparse_optimizers::kAdagradStateFloats;
    case SparseOptimizerKind::kAdam: return sparse_optimizers::kAdamStateFloats;
    case SparseOptimizerKind::kFtrl: return sparse_optimizers::kFtrlStateFloats;
  }
  LOG(FATAL) << "unknown sparse optimizer kind " << static_cast<int>(kind);
  return 0;
}

void InitSparseOptimizerState(const SparseOptimizerOptions& options, int dim,
                              const float* weights, float* state) {
  switch (options.kind) {
    case SparseOptimizerKind::kSgd:
      return;
    case SparseOptimizerKind::kAdagrad:
      return sparse_optimizers::AdagradInitState(options, dim, state);
    case SparseOptimizerKind::kAdam:
      return sparse_optimizers::AdamInitState(dim, state);
    case SparseOptimizerKind::kFtrl:
      return sparse_optimizers::FtrlInitState(options, dim, weights, state);
  }
  LOG(FATAL) << "unknown sparse optimizer kind " << static_cast<int>(options.kind);
}

void ApplySparseUpdate(const SparseOptimizerOptions& options, int dim, const float* grad,
                       int64_t update_count, float* weights, float* state) {
  switch (options.kind) {
    case SparseOptimizerKind::kSgd:
      return sparse_optimizers::SgdUpdate(options, dim, grad, weights);
    case SparseOptimizerKind::kAdagrad:
      return sparse_optimizers::AdagradUpdate(options, dim, grad, weights, state);
    case SparseOptimizerKind::kAdam:
      return sparse_optimizers::AdamUpdate(options, dim, grad, update_count, weights, state);
    case SparseOptimizerKind::kFtrl:
      return sparse_optimizers::FtrlUpdate(options, dim, grad, weights, state);
  }
  LOG(FATAL) << "unknown sparse optimizer kind " << static_cast<int>(options.kind);
}

SparseUpdater::SparseUpdater(const SparseOptimizerOptions& options)
    : options_(options),
      adam_(options.beta1, options.beta2,
            options.kind == SparseOptimizerKind::kAdam ? int64_t{1} << 18 : 0) {}

void SparseUpdater::Apply(int dim, const float* grad, int64_t update_count, float* weights,
                          float* state) const {
  if (options_.kind == SparseOptimizerKind::kAdam) {
    sparse_optimizers::AdamApply(
        adam_.Step(options_.learning_rate, options_.epsilon, update_count), dim, grad, weights,
        state);
    return;
  }
  ApplySparseUpdate(options_, dim, grad, update_count, weights, state);
}

}  // namespace dips
