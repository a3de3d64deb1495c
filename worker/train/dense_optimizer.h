// Optimiser for the dense parameters, which live in one flat float buffer
// (the model's parameter layout gives named views into it). One loop over the
// buffer per step; the state buffers have the same layout.
#ifndef DIPS_WORKER_TRAIN_DENSE_OPTIMIZER_H_
#define DIPS_WORKER_TRAIN_DENSE_OPTIMIZER_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"

namespace dips {

enum class DenseOptimizerKind { kSgd, kAdam };

struct DenseOptimizerOptions {
  DenseOptimizerKind kind = DenseOptimizerKind::kAdam;
  float learning_rate = 0.001f;  // the DIN/DIEN reference code's Adam rate
  float beta1 = 0.9f;
  float beta2 = 0.999f;
  float epsilon = 1e-8f;
};

StatusOr<DenseOptimizerKind> ParseDenseOptimizerKind(const std::string& name);

class DenseOptimizer {
 public:
  DenseOptimizer(const DenseOptimizerOptions& options, size_t num_params);

  // params -= update(grads). Not thread-safe; call from one thread.
  void Step(const float* grads, float* params);

  int64_t steps() const { return step_; }
  // State for checkpoints: first and second moments (empty for SGD).
  const std::vector<float>& first_moment() const { return m_; }
  const std::vector<float>& second_moment() const { return v_; }
  Status Restore(int64_t step, std::vector<float> m, std::vector<float> v);

 private:
  DenseOptimizerOptions options_;
  size_t num_params_;
  int64_t step_ = 0;
  std::vector<float> m_;
  std::vector<float> v_;
};

}  // namespace dips

#endif  // DIPS_WORKER_TRAIN_DENSE_OPTIMIZER_H_
