#include "worker/train/dense_optimizer.h"

#include <cmath>
#include <string>
#include <utility>

#include "common/adam.h"

namespace dips {
namespace {

Status CheckRange(const char* field, float value, bool ok) {
  if (std::isfinite(value) && ok) return Status::OK();
  return InvalidArgumentError(std::string("dense optimizer option ") + field +
                              " out of range: " + std::to_string(value));
}

}  // namespace

Status ValidateDenseOptimizerOptions(const DenseOptimizerOptions& o) {
  RETURN_IF_ERROR(CheckRange("learning_rate", o.learning_rate, o.learning_rate > 0));
  switch (o.kind) {
    case DenseOptimizerKind::kSgd:
      return Status::OK();
    case DenseOptimizerKind::kAdam:
      RETURN_IF_ERROR(CheckRange("beta1", o.beta1, o.beta1 >= 0 && o.beta1 < 1));
      RETURN_IF_ERROR(CheckRange("beta2", o.beta2, o.beta2 >= 0 && o.beta2 < 1));
      return CheckRange("epsilon", o.epsilon, o.epsilon > 0);
  }
  return InvalidArgumentError("unknown dense optimizer kind " +
                              std::to_string(static_cast<int>(o.kind)));
}

StatusOr<DenseOptimizerKind> ParseDenseOptimizerKind(const std::string& name) {
  for (DenseOptimizerKind kind : {DenseOptimizerKind::kSgd, DenseOptimizerKind::kAdam}) {
    if (name == DenseOptimizerName(kind)) return kind;
  }
  return InvalidArgumentError("unknown dense optimizer '" + name + "' (expected sgd or adam)");
}

const char* DenseOptimizerName(DenseOptimizerKind kind) {
  switch (kind) {
    case DenseOptimizerKind::kSgd: return "sgd";
    case DenseOptimizerKind::kAdam: return "adam";
  }
  return "unknown";
}

std::vector<LearningRateRange> ScaledRanges(const std::vector<ParamView>& views) {
  std::vector<LearningRateRange> ranges;
  for (const ParamView& v : views) {
    if (v.lr_scale == 1.0f) continue;
    if (!ranges.empty() && ranges.back().end == v.offset && ranges.back().scale == v.lr_scale) {
      ranges.back().end = v.offset + v.size;  // one range for adjacent views alike
    } else {
      ranges.push_back({v.offset, v.offset + v.size, v.lr_scale});
    }
  }
  return ranges;
}

DenseOptimizer::DenseOptimizer(const DenseOptimizerOptions& options, size_t num_params)
    : options_(options), num_params_(num_params), segments_{{0, num_params, 1.0f}} {
  const Status status = ValidateDenseOptimizerOptions(options);
  CHECK(status.ok()) << status.ToString();
  if (options_.kind == DenseOptimizerKind::kAdam) {
    m_.assign(num_params_, 0.0f);
    v_.assign(num_params_, 0.0f);
  }
}

Status DenseOptimizer::SetLearningRateScales(const std::vector<LearningRateRange>& ranges) {
  std::vector<LearningRateRange> segments;
  size_t next = 0;  // first parameter not yet in a segment
  for (const LearningRateRange& r : ranges) {
    if (r.begin < next || r.end <= r.begin || r.end > num_params_ || !std::isfinite(r.scale) ||
        r.scale < 0.0f) {
      return InvalidArgumentError("dense optimizer: learning-rate range [" +
                                  std::to_string(r.begin) + ", " + std::to_string(r.end) +
                                  ") scale " + std::to_string(r.scale) +
                                  " is out of order, empty, beyond the " +
                                  std::to_string(num_params_) + " parameters or negative");
    }
    if (r.begin > next) segments.push_back({next, r.begin, 1.0f});
    segments.push_back(r);
    next = r.end;
  }
  if (next < num_params_ || segments.empty()) segments.push_back({next, num_params_, 1.0f});
  segments_ = std::move(segments);
  return Status::OK();
}

void DenseOptimizer::Step(const float* grads, float* params) {
  for (const LearningRateRange& part : segments_) {
    // lr * 1.0f is lr exactly: a buffer without scaled parts steps as one.
    const float lr = options_.learning_rate * part.scale;
    const size_t b = part.begin, n = part.end - part.begin;
    switch (options_.kind) {
      case DenseOptimizerKind::kSgd:
        for (size_t i = b; i < part.end; ++i) params[i] -= lr * grads[i];
        break;
      case DenseOptimizerKind::kAdam:
        AdamStep::For(lr, options_.beta1, options_.beta2, options_.epsilon, step_)
            .Apply(n, grads + b, m_.data() + b, v_.data() + b, params + b);
        break;
    }
  }
  ++step_;
}

Status DenseOptimizer::Restore(int64_t step, std::vector<float> m, std::vector<float> v) {
  if (step < 0) {
    return InvalidArgumentError("dense optimizer restore: negative step " +
                                std::to_string(step));
  }
  const size_t expected = options_.kind == DenseOptimizerKind::kAdam ? num_params_ : 0;
  if (m.size() != expected || v.size() != expected) {
    return InvalidArgumentError(std::string("dense optimizer restore (") +
                                DenseOptimizerName(options_.kind) + "): moments have " +
                                std::to_string(m.size()) + " and " + std::to_string(v.size()) +
                                " entries, expected " + std::to_string(expected));
  }
  step_ = step;
  m_ = std::move(m);
  v_ = std::move(v);
  return Status::OK();
}

}  // namespace dips
