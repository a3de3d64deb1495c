// BatchBuilder: packs parsed Samples into a Batch (worker/data/batch.h):
// the batch's distinct keys in order of first use with their slot counts,
// and for every slot the index of its key. With negatives, it also draws
// DIEN's negative behaviours from a popularity-weighted pool of recent
// behaviours.
//
// Cost: one open-addressing hash probe per slot (no sort: nothing that
// reads a batch needs its keys in order); every buffer (the Batch's vectors
// and the builder's scratch) is reused, so steady-state Build allocates
// nothing. Not thread-safe; one
// builder per worker thread (the negative pool and its generator are state).
#ifndef DIPS_WORKER_DATA_BATCH_BUILDER_H_
#define DIPS_WORKER_DATA_BATCH_BUILDER_H_

#include <cstdint>
#include <random>
#include <utility>
#include <vector>

#include "worker/data/batch.h"
#include "worker/data/negative_sampler.h"
#include "worker/data/sample.h"

namespace dips {

struct BatchBuilderOptions {
  // Fill Batch::negative_slots (DIEN's auxiliary loss); DIN needs none.
  bool with_negatives = false;
  // Seeds the negative draws: the same seed and the same sample sequence
  // give the same batches.
  uint64_t seed = 20180921;
  // Recent behaviours kept in the negative pool (NegativeSamplerOptions).
  size_t negative_pool_capacity = 1000000;
};

class BatchBuilder {
 public:
  explicit BatchBuilder(const BatchBuilderOptions& options);

  // Fills every field of *out from samples[0, n), n >= 1, which must follow
  // `schema` (shop history iff has_shop, one extra key per extra field;
  // CHECKed, since the reader guarantees it). T is the longest history.
  // With negatives, the batch's own history behaviours enter the pool first,
  // so even the first batch can draw; the negative at position t >= 1 of a
  // sample is drawn against (excluding the item of) its behaviour t.
  void Build(const Sample* samples, int n, const LogSchema& schema, Batch* out);

  const NegativeSampler& negative_pool() const { return sampler_; }

 private:
  // Sizes and clears the key table for about `expected_keys` distinct keys.
  void ResetTable(size_t expected_keys);
  // Doubles the key table and re-places every key interned so far.
  void GrowTable();
  // Id of `key` (its index in order of first use); counts the use.
  int32_t Intern(uint64_t key);
  void FillNegatives(const Sample* samples, int n, int f_count, int t_max, Batch* out);
  // Copies the distinct keys and their counts into the batch.
  void Finish(Batch* out);

  BatchBuilderOptions options_;
  NegativeSampler sampler_;
  std::mt19937_64 rng_;

  std::vector<int32_t> table_;    // key id, or -1 for an empty bucket
  int table_shift_ = 64;          // bucket = (key * kMul) >> table_shift_
  std::vector<uint64_t> keys_;    // key id (order of first use) -> key
  std::vector<uint32_t> counts_;  // key id -> slots using it
  std::vector<uint64_t> exclude_;       // negative draws: positive item per draw
  std::vector<Behaviour> negatives_;    // negative draws: result per draw
};

}  // namespace dips

#endif  // DIPS_WORKER_DATA_BATCH_BUILDER_H_
