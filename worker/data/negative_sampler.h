// NegativeSampler: the pool DIEN's auxiliary loss draws its negative
// behaviours from. It keeps the most recently observed behaviours in a ring
// buffer and draws uniformly from it, so an item appears as a negative in
// proportion to how often it was recently clicked (popularity-weighted, the
// same distribution as word2vec-style unigram sampling over the window).
//
// Deterministic: the same Observe sequence and the same generator state give
// the same draws on every platform (the index is derived from the
// generator's raw output, not from std::uniform_int_distribution, whose
// algorithm the standard leaves to the library). Not thread-safe.
#ifndef DIPS_WORKER_DATA_NEGATIVE_SAMPLER_H_
#define DIPS_WORKER_DATA_NEGATIVE_SAMPLER_H_

#include <cstddef>
#include <cstdint>
#include <random>
#include <vector>

namespace dips {

// One behaviour as feature keys (shop_key is 0 when the schema has none).
struct Behaviour {
  uint64_t item_key = 0;
  uint64_t category_key = 0;
  uint64_t shop_key = 0;
};

struct NegativeSamplerOptions {
  // Behaviours remembered; older ones are overwritten. Memory is 24 bytes
  // per entry, reserved at the first Observe (pages are touched as the pool
  // fills). 1 <= capacity < 2^32.
  size_t capacity = 1000000;
  // Extra draws when a draw hits the excluded item. Bounded so a pool
  // dominated by one item cannot stall a batch; see Sample.
  int max_redraws = 10;
};

class NegativeSampler {
 public:
  explicit NegativeSampler(const NegativeSamplerOptions& options);

  void Observe(const Behaviour& behaviour);

  // Draws a behaviour uniformly from the pool. If its item is
  // `exclude_item_key`, draws again, up to max_redraws times; if every draw
  // hits it, the last draw is returned (the pool then holds almost nothing
  // else, and a negative equal to the positive costs one noisy term of the
  // auxiliary loss, not correctness). CHECK-fails on an empty pool.
  Behaviour Sample(std::mt19937_64* rng, uint64_t exclude_item_key) const;

  // Draws out[i] against exclude_item_keys[i] for i < n: the same
  // distribution as n calls of Sample, but the first draws of all n are made
  // up front and their pool entries prefetched, since with a large pool each
  // draw is a cache miss and this lets the misses overlap. Consumes the
  // generator in a fixed order (n first draws, then any redraws in order),
  // so it is as deterministic as Sample, though not draw-for-draw equal.
  void SampleMany(std::mt19937_64* rng, const uint64_t* exclude_item_keys, size_t n,
                  Behaviour* out);

  size_t size() const { return pool_.size(); }
  bool empty() const { return pool_.empty(); }

 private:
  NegativeSamplerOptions options_;
  std::vector<Behaviour> pool_;
  size_t next_ = 0;  // slot Observe overwrites once the pool is full
  std::vector<uint32_t> first_draw_;  // scratch for SampleMany
};

}  // namespace dips

#endif  // DIPS_WORKER_DATA_NEGATIVE_SAMPLER_H_
