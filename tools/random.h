// Deterministic random numbers for the tools: a SplitMix64 stream (fast, 64
// bits of state, good enough for data generation and negative sampling) and a
// Zipf sampler. Same seed, same sequence on every platform.
#ifndef DIPS_TOOLS_RANDOM_H_
#define DIPS_TOOLS_RANDOM_H_

#include <algorithm>
#include <cstdint>
#include <vector>

#include "common/feature_key.h"

namespace dips {

class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}

  uint64_t Next() {
    state_ += 0x9e3779b97f4a7c15ULL;
    return Mix64(state_);
  }
  // Uniform in [0, 1) with 53 random bits.
  double Uniform() { return static_cast<double>(Next() >> 11) * (1.0 / 9007199254740992.0); }
  // Uniform in [0, n); n > 0. Multiply-shift (Lemire) without the rejection
  // step: the bias is below n / 2^64, far under anything a test can see.
  uint64_t Below(uint64_t n) {
    return static_cast<uint64_t>((static_cast<unsigned __int128>(Next()) * n) >> 64);
  }
  // Uniform in [lo, hi], lo <= hi.
  int64_t Between(int64_t lo, int64_t hi) {
    return lo + static_cast<int64_t>(Below(static_cast<uint64_t>(hi - lo) + 1));
  }
  bool Bernoulli(double p) { return Uniform() < p; }

 private:
  uint64_t state_;
};

// Samples ranks 0..n-1 with P(r) proportional to 1 / (r + 1)^exponent, by
// binary search in the cumulative distribution (O(log n), exact).
class ZipfSampler {
 public:
  ZipfSampler(size_t n, double exponent);
  size_t Sample(Rng* rng) const {
    double u = rng->Uniform() * cdf_.back();
    size_t r = std::upper_bound(cdf_.begin(), cdf_.end(), u) - cdf_.begin();
    return r < cdf_.size() ? r : cdf_.size() - 1;
  }
  double Probability(size_t rank) const;
  size_t size() const { return cdf_.size(); }

 private:
  std::vector<double> cdf_;  // unnormalised running sums
};

}  // namespace dips

#endif  // DIPS_TOOLS_RANDOM_H_
