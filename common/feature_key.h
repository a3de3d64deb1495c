// Feature keys: every raw id becomes a 64-bit key = FeatureKey(field, raw id).
// No vocabulary files: the key is a pure function of the field name and the
// id's bytes, identical on every worker, server and tool. See docs/keys.md.
#ifndef DIPS_COMMON_FEATURE_KEY_H_
#define DIPS_COMMON_FEATURE_KEY_H_

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace dips {

// 64-bit hash of `len` bytes (MurmurHash64A construction, seed-parameterised).
uint64_t Hash64(const void* data, size_t len, uint64_t seed);

// The finaliser of SplitMix64: a bijective mix of 64 bits. Used to turn
// structured integers (keys, counters) into well-spread values.
inline uint64_t Mix64(uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return x;
}

// Seed of a field: Hash64 of the field name with a fixed seed.
uint64_t FieldSeed(std::string_view field);

// key = Hash64(raw_id, seed = FieldSeed(field)). The same raw id in two
// fields gives unrelated keys.
inline uint64_t FeatureKeyWithSeed(uint64_t field_seed, std::string_view raw_id) {
  return Hash64(raw_id.data(), raw_id.size(), field_seed);
}
inline uint64_t FeatureKey(std::string_view field, std::string_view raw_id) {
  return FeatureKeyWithSeed(FieldSeed(field), raw_id);
}

// Names of the built-in fields. A behaviour's item, category and shop (and the
// target's) share the field of the same name, so the target item and the same
// item in the history use one embedding row.
inline constexpr std::string_view kUserField = "user";
inline constexpr std::string_view kItemField = "item";
inline constexpr std::string_view kCategoryField = "category";
inline constexpr std::string_view kShopField = "shop";

}  // namespace dips

#endif  // DIPS_COMMON_FEATURE_KEY_H_
