// Evaluation metrics of a CTR model (definitions in ../shared/MODELS.md):
// AUC over all samples (ties count one half), GAUC (per-user AUC over users
// having both labels, weighted by each user's sample count) and logloss
// (predictions clipped to [1e-7, 1 - 1e-7]).
#ifndef DIPS_WORKER_TRAIN_METRICS_H_
#define DIPS_WORKER_TRAIN_METRICS_H_

#include <cstddef>
#include <cstdint>
#include <vector>

namespace dips {

struct EvalMetrics {
  int64_t samples = 0;
  int64_t positives = 0;
  double auc = 0.5;       // 0.5 when only one label is present
  double gauc = 0.5;      // 0.5 when no user has both labels
  int64_t gauc_users = 0; // users that count towards GAUC
  double logloss = 0.0;
};

// AUC of `scores` against binary `labels` (n each).
double ComputeAuc(const float* scores, const float* labels, size_t n);

// Collects predictions during an evaluation pass and computes the metrics.
// Not thread-safe: merge per-thread accumulators with Merge.
class MetricsAccumulator {
 public:
  void Add(const float* probs, const float* labels, const uint64_t* users, int n);
  void Merge(const MetricsAccumulator& other);
  EvalMetrics Compute() const;
  void Clear();
  size_t size() const { return scores_.size(); }

 private:
  std::vector<float> scores_;
  std::vector<float> labels_;
  std::vector<uint64_t> users_;
};

}  // namespace dips

#endif  // DIPS_WORKER_TRAIN_METRICS_H_
