#include "common/feature_key.h"

#include <cstring>

namespace dips {

// MurmurHash64A (Austin Appleby, public domain algorithm), written from its
// published description. Reads 8-byte little-endian blocks, then the tail.
uint64_t Hash64(const void* data, size_t len, uint64_t seed) {
  constexpr uint64_t kM = 0xc6a4a7935bd1e995ULL;
  constexpr int kR = 47;
  const auto* bytes = static_cast<const unsigned char*>(data);
  uint64_t h = seed ^ (static_cast<uint64_t>(len) * kM);

  const size_t num_blocks = len / 8;
  for (size_t i = 0; i < num_blocks; ++i) {
    uint64_t k;
    std::memcpy(&k, bytes + 8 * i, 8);
    k *= kM;
    k ^= k >> kR;
    k *= kM;
    h ^= k;
    h *= kM;
  }
  const unsigned char* tail = bytes + 8 * num_blocks;
  uint64_t t = 0;
  for (size_t i = len & 7; i > 0; --i) t = (t << 8) | tail[i - 1];
  if ((len & 7) != 0) {
    h ^= t;
    h *= kM;
  }
  h ^= h >> kR;
  h *= kM;
  h ^= h >> kR;
  return h;
}

uint64_t FieldSeed(std::string_view field) {
  constexpr uint64_t kFieldSeedSeed = 0x4449505346494c44ULL;  // "DIPSFILD"
  return Mix64(Hash64(field.data(), field.size(), kFieldSeedSeed));
}

}  // namespace dips
