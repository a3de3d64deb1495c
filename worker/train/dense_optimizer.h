// Optimiser for the dense parameters, which live in one flat float buffer
// (the model's parameter layout gives named views into it). One loop over the
// buffer per step (one per part where parts learn at different rates); the
// state buffers have the same layout.
#ifndef DIPS_WORKER_TRAIN_DENSE_OPTIMIZER_H_
#define DIPS_WORKER_TRAIN_DENSE_OPTIMIZER_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"
#include "worker/model/model.h"

namespace dips {

enum class DenseOptimizerKind { kSgd, kAdam };

// SGD:  p -= lr * g.
// Adam: t = steps() + 1; m = beta1 m + (1 - beta1) g; v = beta2 v + (1 - beta2) g^2;
//       p -= lr * (m / (1 - beta1^t)) / (sqrt(v / (1 - beta2^t)) + epsilon).
// See docs/optimizers.md.
struct DenseOptimizerOptions {
  DenseOptimizerKind kind = DenseOptimizerKind::kAdam;
  float learning_rate = 0.001f;  // > 0; the DIN/DIEN reference code's Adam rate
  float beta1 = 0.9f;            // Adam, in [0, 1)
  float beta2 = 0.999f;          // Adam, in [0, 1)
  float epsilon = 1e-8f;         // Adam, > 0
};

// InvalidArgument if a field the chosen kind uses is out of range or not
// finite. The constructor CHECKs this: validate options read from config first.
Status ValidateDenseOptimizerOptions(const DenseOptimizerOptions& options);

// Names are "sgd" and "adam"; Parse accepts exactly those.
StatusOr<DenseOptimizerKind> ParseDenseOptimizerKind(const std::string& name);
const char* DenseOptimizerName(DenseOptimizerKind kind);

// Parameters [begin, end) learn at `scale` times the optimiser's rate.
struct LearningRateRange {
  size_t begin = 0;
  size_t end = 0;
  float scale = 1.0f;
};

// The views whose lr_scale is not 1, as ranges in buffer order (a model's
// layout lists its views in buffer order).
std::vector<LearningRateRange> ScaledRanges(const std::vector<ParamView>& views);

class DenseOptimizer {
 public:
  DenseOptimizer(const DenseOptimizerOptions& options, size_t num_params);

  // From now on each range learns at its scale times the rate (SGD: lr;
  // Adam: lr in the update, the moments are unchanged); parameters outside
  // every range keep the full rate. InvalidArgument (and no change) unless
  // the ranges are in order, disjoint, non-empty, within the buffer, with
  // finite scales >= 0.
  Status SetLearningRateScales(const std::vector<LearningRateRange>& ranges);

  // params -= update(grads). Not thread-safe; call from one thread.
  void Step(const float* grads, float* params);

  int64_t steps() const { return step_; }
  // State for checkpoints: first and second moments (empty for SGD).
  const std::vector<float>& first_moment() const { return m_; }
  const std::vector<float>& second_moment() const { return v_; }
  // Sets the state saved from steps()/first_moment()/second_moment(), so the
  // next Step continues exactly where that optimiser left off.
  // InvalidArgument (and no change) if step < 0 or the moments do not have
  // num_params entries each for Adam, or are not empty for SGD.
  Status Restore(int64_t step, std::vector<float> m, std::vector<float> v);

 private:
  DenseOptimizerOptions options_;
  size_t num_params_;
  // The whole buffer, in order, each part with its rate's scale.
  std::vector<LearningRateRange> segments_;
  int64_t step_ = 0;
  std::vector<float> m_;
  std::vector<float> v_;
};

}  // namespace dips

#endif  // DIPS_WORKER_TRAIN_DENSE_OPTIMIZER_H_
