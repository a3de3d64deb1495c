#include "worker/train/metrics.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace dips {
namespace {

// Mann-Whitney U over the index range [first, last) of `order`, which is
// sorted by score: AUC = (sum of positive ranks - P(P+1)/2) / (P N), with
// tied scores sharing their average rank.
double AucOfSorted(const std::vector<size_t>& order, size_t first, size_t last,
                   const float* scores, const float* labels) {
  double positive_rank_sum = 0.0;
  double positives = 0.0;
  size_t i = first;
  while (i < last) {
    size_t j = i;
    double tie_positives = 0.0;
    while (j < last && scores[order[j]] == scores[order[i]]) {
      tie_positives += labels[order[j]] > 0.5f ? 1.0 : 0.0;
      ++j;
    }
    // Ranks (1-based within the range) i-first+1 .. j-first share the mean.
    const double mean_rank = 0.5 * static_cast<double>((i - first + 1) + (j - first));
    positive_rank_sum += tie_positives * mean_rank;
    positives += tie_positives;
    i = j;
  }
  const double negatives = static_cast<double>(last - first) - positives;
  if (positives == 0.0 || negatives == 0.0) return 0.5;
  return (positive_rank_sum - positives * (positives + 1) / 2) / (positives * negatives);
}

}  // namespace

double ComputeAuc(const float* scores, const float* labels, size_t n) {
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(),
            [scores](size_t a, size_t b) { return scores[a] < scores[b]; });
  return AucOfSorted(order, 0, n, scores, labels);
}

void MetricsAccumulator::Add(const float* probs, const float* labels,
                             const uint64_t* users, int n) {
  scores_.insert(scores_.end(), probs, probs + n);
  labels_.insert(labels_.end(), labels, labels + n);
  users_.insert(users_.end(), users, users + n);
}

void MetricsAccumulator::Merge(const MetricsAccumulator& other) {
  scores_.insert(scores_.end(), other.scores_.begin(), other.scores_.end());
  labels_.insert(labels_.end(), other.labels_.begin(), other.labels_.end());
  users_.insert(users_.end(), other.users_.begin(), other.users_.end());
}

void MetricsAccumulator::Clear() {
  scores_.clear();
  labels_.clear();
  users_.clear();
}

EvalMetrics MetricsAccumulator::Compute() const {
  EvalMetrics m;
  const size_t n = scores_.size();
  m.samples = static_cast<int64_t>(n);
  if (n == 0) return m;

  double loss = 0.0;
  for (size_t i = 0; i < n; ++i) {
    const double p = std::clamp(static_cast<double>(scores_[i]), 1e-7, 1.0 - 1e-7);
    const bool positive = labels_[i] > 0.5f;
    m.positives += positive ? 1 : 0;
    loss -= positive ? std::log(p) : std::log(1.0 - p);
  }
  m.logloss = loss / static_cast<double>(n);
  m.auc = ComputeAuc(scores_.data(), labels_.data(), n);

  // GAUC: sort by (user, score) once, then one AUC per user range.
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [this](size_t a, size_t b) {
    if (users_[a] != users_[b]) return users_[a] < users_[b];
    return scores_[a] < scores_[b];
  });
  double weighted = 0.0;
  double weight = 0.0;
  size_t i = 0;
  while (i < n) {
    size_t j = i;
    bool has_pos = false;
    bool has_neg = false;
    while (j < n && users_[order[j]] == users_[order[i]]) {
      (labels_[order[j]] > 0.5f ? has_pos : has_neg) = true;
      ++j;
    }
    if (has_pos && has_neg) {
      const double count = static_cast<double>(j - i);
      weighted += count * AucOfSorted(order, i, j, scores_.data(), labels_.data());
      weight += count;
      ++m.gauc_users;
    }
    i = j;
  }
  if (weight > 0.0) m.gauc = weighted / weight;
  return m;
}

}  // namespace dips
