#include "worker/data/negative_sampler.h"

#include <glog/logging.h>

namespace dips {
namespace {

// Maps a uniform 64-bit value onto [0, n) by the multiply-high method: the
// bias is at most n / 2^64, far below anything measurable here, and it costs
// one multiplication instead of a division.
inline size_t UniformIndex(uint64_t r, size_t n) {
  return static_cast<size_t>((static_cast<unsigned __int128>(r) * n) >> 64);
}

}  // namespace

NegativeSampler::NegativeSampler(const NegativeSamplerOptions& options) : options_(options) {
  CHECK_GE(options_.capacity, 1u);
  CHECK_LT(options_.capacity, size_t{1} << 32);
  CHECK_GE(options_.max_redraws, 0);
}

void NegativeSampler::Observe(const Behaviour& behaviour) {
  if (pool_.size() < options_.capacity) {
    // One reservation instead of doubling: growing a 24 MB vector by copies
    // showed up as a tenth of batch-building time.
    if (pool_.empty()) pool_.reserve(options_.capacity);
    pool_.push_back(behaviour);
    return;
  }
  pool_[next_] = behaviour;
  next_ = next_ + 1 == options_.capacity ? 0 : next_ + 1;
}

Behaviour NegativeSampler::Sample(std::mt19937_64* rng, uint64_t exclude_item_key) const {
  CHECK(!pool_.empty()) << "NegativeSampler::Sample on an empty pool";
  const Behaviour* drawn = &pool_[UniformIndex((*rng)(), pool_.size())];
  for (int i = 0; i < options_.max_redraws && drawn->item_key == exclude_item_key; ++i) {
    drawn = &pool_[UniformIndex((*rng)(), pool_.size())];
  }
  return *drawn;
}

void NegativeSampler::SampleMany(std::mt19937_64* rng, const uint64_t* exclude_item_keys,
                                 size_t n, Behaviour* out) {
  CHECK(!pool_.empty()) << "NegativeSampler::SampleMany on an empty pool";
  first_draw_.resize(n);
  for (size_t i = 0; i < n; ++i) {
    first_draw_[i] = static_cast<uint32_t>(UniformIndex((*rng)(), pool_.size()));
    __builtin_prefetch(&pool_[first_draw_[i]]);
  }
  for (size_t i = 0; i < n; ++i) {
    const Behaviour* drawn = &pool_[first_draw_[i]];
    for (int r = 0; r < options_.max_redraws && drawn->item_key == exclude_item_keys[i]; ++r) {
      drawn = &pool_[UniformIndex((*rng)(), pool_.size())];
    }
    out[i] = *drawn;
  }
}

}  // namespace dips
