// A mini-batch as the model and the parameter-server client see it: the
// batch's distinct feature keys, and for every embedding slot of every
// sample an index ("slot") into those keys. The model gathers rows pulled
// for `unique_keys` (one row of `dim` floats per key, same order) and
// scatters row gradients back in the same order.
#ifndef DIPS_WORKER_DATA_BATCH_H_
#define DIPS_WORKER_DATA_BATCH_H_

#include <cstdint>
#include <vector>

namespace dips {

struct Batch {
  int size = 0;                 // B: number of samples
  int max_length = 0;           // T: longest history in this batch
  int num_behaviour_fields = 2; // F: item, category [, shop]
  int num_extra_fields = 0;     // P: profile/context fields

  std::vector<float> labels;       // [B]
  std::vector<uint64_t> user_keys; // [B], for GAUC
  std::vector<int32_t> lengths;    // [B], valid history positions (0..T)

  // Distinct keys of the batch, in order of first use (the first sample's
  // target, its history, ...; a run's batches are the same every time), and
  // how many slots of this batch refer to each (the per-batch occurrence
  // count that the table adds to its per-key count).
  std::vector<uint64_t> unique_keys;   // [K]
  std::vector<uint32_t> key_counts;    // [K]

  // Slots: indices into unique_keys. Field order within a behaviour is
  // item, category, shop. Histories are oldest first, padded at the end;
  // padding slots hold -1.
  std::vector<int32_t> target_slots;    // [B * F]
  std::vector<int32_t> history_slots;   // [B * T * F]
  std::vector<int32_t> extra_slots;     // [B * P]
  // DIEN's sampled negative behaviours: for each position t the negative
  // that stands against the real behaviour t (used for t >= 1; position 0
  // is -1). Empty unless the batch builder was asked for negatives.
  std::vector<int32_t> negative_slots;  // [B * T * F] or empty

  int num_unique_keys() const { return static_cast<int>(unique_keys.size()); }
  bool has_negatives() const { return !negative_slots.empty(); }
};

}  // namespace dips

#endif  // DIPS_WORKER_DATA_BATCH_H_
