// Batches for the model tests: a tiny hand-shaped one for finite
// differences (zero-length history, keys repeated across history, target,
// extra fields and negatives) and a synthetic full-size one for timing.
#ifndef DIPS_TESTS_MODEL_TEST_BATCHES_H_
#define DIPS_TESTS_MODEL_TEST_BATCHES_H_

#include <cstdint>
#include <random>
#include <vector>

#include "worker/data/batch.h"

namespace dips {
namespace testing {

struct BatchSpec {
  std::vector<int32_t> lengths = {4, 2, 0};  // B = lengths.size()
  int max_length = 4;                        // T
  int fields = 2;                            // F
  int extra_fields = 1;                      // P
  int num_keys = 7;                          // K: small, so slots repeat keys
  bool negatives = true;
  uint64_t seed = 7;
};

// Slots are drawn from a fixed-seed generator over K keys; with K much
// smaller than the number of slots, keys repeat across slots. Labels
// alternate 1, 0, 1, ...
inline Batch MakeBatch(const BatchSpec& spec) {
  std::mt19937_64 rng(spec.seed);
  auto slot = [&] { return static_cast<int32_t>(rng() % spec.num_keys); };
  Batch b;
  b.size = static_cast<int>(spec.lengths.size());
  b.max_length = spec.max_length;
  b.num_behaviour_fields = spec.fields;
  b.num_extra_fields = spec.extra_fields;
  b.lengths = spec.lengths;
  for (int i = 0; i < b.size; ++i) {
    b.labels.push_back(i % 2 == 0 ? 1.0f : 0.0f);
    b.user_keys.push_back(1000 + i);
    for (int f = 0; f < spec.fields; ++f) b.target_slots.push_back(slot());
    for (int p = 0; p < spec.extra_fields; ++p) b.extra_slots.push_back(slot());
    for (int t = 0; t < spec.max_length; ++t) {
      const bool valid = t < spec.lengths[i];
      for (int f = 0; f < spec.fields; ++f) {
        b.history_slots.push_back(valid ? slot() : -1);
        if (spec.negatives) b.negative_slots.push_back(valid && t >= 1 ? slot() : -1);
      }
    }
  }
  b.unique_keys.resize(spec.num_keys);
  b.key_counts.assign(spec.num_keys, 0);
  for (int k = 0; k < spec.num_keys; ++k) b.unique_keys[k] = 100 + 17 * k;
  for (const auto* slots : {&b.target_slots, &b.extra_slots, &b.history_slots, &b.negative_slots}) {
    for (int32_t s : *slots) {
      if (s >= 0) ++b.key_counts[s];
    }
  }
  return b;
}

// The same batch with `new_length` >= max_length positions, the extra ones
// padding.
inline Batch PadBatch(const Batch& in, int new_length) {
  Batch b = in;
  b.max_length = new_length;
  const int F = in.num_behaviour_fields;
  auto pad = [&](const std::vector<int32_t>& slots) {
    std::vector<int32_t> out;
    if (slots.empty()) return out;
    for (int i = 0; i < in.size; ++i) {
      auto first = slots.begin() + static_cast<size_t>(i) * in.max_length * F;
      out.insert(out.end(), first, first + static_cast<size_t>(in.max_length) * F);
      out.insert(out.end(), static_cast<size_t>(new_length - in.max_length) * F, -1);
    }
    return out;
  };
  b.history_slots = pad(in.history_slots);
  b.negative_slots = pad(in.negative_slots);
  return b;
}

}  // namespace testing
}  // namespace dips

#endif  // DIPS_TESTS_MODEL_TEST_BATCHES_H_
