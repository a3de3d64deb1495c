// Internals of the synthetic generator (tools/synthetic.h): the item
// catalogue, user profiles and the click model. Immutable after construction,
// pure functions of the options and seed.
#ifndef DIPS_TOOLS_SYNTHETIC_WORLD_H_
#define DIPS_TOOLS_SYNTHETIC_WORLD_H_

#include <cstdint>
#include <string_view>
#include <vector>

#include "tools/random.h"
#include "tools/synthetic.h"

namespace dips {

// Items, their categories, shops and quality. Item ids are laid out so that
// the item of popularity rank r in category c is r * categories + c; a
// category's shops are the ids s with s % categories == c (when there are at
// least as many shops as categories), so shops specialise in one category.
class SyntheticCatalog {
 public:
  explicit SyntheticCatalog(const SyntheticOptions& options);

  uint32_t SampleCategory(Rng* rng) const {
    return static_cast<uint32_t>(category_sampler_.Sample(rng));
  }
  uint32_t SampleItem(uint32_t category, Rng* rng) const {
    size_t rank = item_samplers_[category].Sample(rng);
    return static_cast<uint32_t>(rank * num_categories_ + category);
  }
  uint32_t category(uint32_t item) const { return item % num_categories_; }
  uint32_t shop(uint32_t item) const { return item_shop_[item]; }
  float quality(uint32_t item) const { return item_quality_[item]; }
  uint32_t num_categories() const { return num_categories_; }

 private:
  uint32_t num_categories_;
  ZipfSampler category_sampler_;
  std::vector<ZipfSampler> item_samplers_;  // per category, over its items
  std::vector<uint32_t> item_shop_;
  std::vector<float> item_quality_;
};

// Profile fields of a user, derived from the user index alone.
struct SyntheticProfile {
  int age_bucket;  // index into kAgeBuckets; kMissingAge for an empty value
  int gender;      // 0 = "f", 1 = "m"
};
inline constexpr int kNumAgeBuckets = 7;
inline constexpr int kMissingAge = kNumAgeBuckets;
extern const char* const kAgeBuckets[kNumAgeBuckets];

SyntheticProfile MakeProfile(uint64_t seed, uint64_t user);

// How a target relates to the history it is shown after.
struct TargetRelation {
  bool category_recent = false;  // in the last recent_window behaviours
  bool category_older = false;   // in the history, not in the recent window
  bool shop_in_history = false;
};

// The click probability of docs/datasets.md.
class ClickModel {
 public:
  ClickModel(const ClickModelOptions& options, uint64_t seed) : options_(options), seed_(seed) {}

  double Probability(const TargetRelation& relation, float item_quality,
                     const SyntheticProfile& profile, uint32_t category, int hour) const;
  // affinity(profile, category) in {-1, 0, 1}; 0 when the age is missing.
  int Affinity(const SyntheticProfile& profile, uint32_t category) const;

 private:
  ClickModelOptions options_;
  uint64_t seed_;
};

}  // namespace dips

#endif  // DIPS_TOOLS_SYNTHETIC_WORLD_H_
