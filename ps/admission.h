// AdmissionSketch: how often keys without a row have been seen, for feature
// admission (a key gets a row only on its N-th sighting, docs/tables.md).
//
// A counting Bloom filter with conservative update (a count-min sketch):
// each key maps to kProbes 8-bit counters; a sighting raises only those of
// its counters that equal the current minimum, and the estimate is the
// minimum. Estimates never undercount, so a key is never admitted late; a
// key that shares all its counters with more frequent keys may be admitted
// early (false positives fall as the sketch grows: with m counters per
// stripe and u distinct unadmitted keys in it, roughly (1 - e^(-4u/m))^4).
// Counters saturate at 255. Halve() ages every counter, so sightings from
// long ago fade (a shrink pass calls it).
//
// Not thread-safe: each table stripe owns one, guarded by the stripe lock.
#ifndef DIPS_PS_ADMISSION_H_
#define DIPS_PS_ADMISSION_H_

#include <cstddef>
#include <cstdint>
#include <vector>

namespace dips {

class AdmissionSketch {
 public:
  static constexpr int kProbes = 4;
  static constexpr uint32_t kMaxCount = 255;

  // `counters`: bytes of the sketch; 0 makes an empty sketch for a table
  // that admits every key (Add must then not be called).
  explicit AdmissionSketch(size_t counters);

  // Records one sighting of the key with hash `hash` (Mix64(key)) and
  // returns its estimated number of sightings, this one included.
  uint32_t Add(uint64_t hash);
  uint32_t Estimate(uint64_t hash) const;
  // Halves every counter (rounding down).
  void Halve();

  size_t bytes() const { return counters_.size(); }

 private:
  void Positions(uint64_t hash, size_t* pos) const;

  std::vector<uint8_t> counters_;
};

}  // namespace dips

#endif  // DIPS_PS_ADMISSION_H_
