#include "ps/admission.h"

#include <algorithm>

#include <glog/logging.h>

#include "common/feature_key.h"

namespace dips {

AdmissionSketch::AdmissionSketch(size_t counters) : counters_(counters, 0) {}

void AdmissionSketch::Positions(uint64_t hash, size_t* pos) const {
  // The tables pick the stripe and the index slot from bits of `hash`, so
  // every key of one stripe shares some of them; remix before probing.
  // Double hashing: probe i is h1 + i * h2 (h2 odd, so probes differ).
  const uint64_t h1 = Mix64(hash ^ 0x6A09E667F3BCC909ULL);
  const uint64_t h2 = Mix64(h1) | 1;
  const size_t m = counters_.size();
  for (int i = 0; i < kProbes; ++i) pos[i] = (h1 + i * h2) % m;
}

uint32_t AdmissionSketch::Add(uint64_t hash) {
  CHECK(!counters_.empty()) << "Add on an empty admission sketch";
  size_t pos[kProbes];
  Positions(hash, pos);
  uint32_t low = kMaxCount;
  for (size_t p : pos) low = std::min<uint32_t>(low, counters_[p]);
  if (low == kMaxCount) return low;
  // Conservative update: raise only the counters at the minimum.
  for (size_t p : pos) {
    if (counters_[p] == low) counters_[p] = static_cast<uint8_t>(low + 1);
  }
  return low + 1;
}

uint32_t AdmissionSketch::Estimate(uint64_t hash) const {
  if (counters_.empty()) return 0;
  size_t pos[kProbes];
  Positions(hash, pos);
  uint32_t low = kMaxCount;
  for (size_t p : pos) low = std::min<uint32_t>(low, counters_[p]);
  return low;
}

void AdmissionSketch::Halve() {
  for (uint8_t& c : counters_) c >>= 1;
}

}  // namespace dips
