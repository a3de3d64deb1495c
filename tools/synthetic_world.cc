#include "tools/synthetic_world.h"

#include <cmath>

namespace dips {
namespace {

// Salts keep the hash streams of different properties independent.
constexpr uint64_t kShopSalt = 0x5348'4f50'0000'0001ULL;
constexpr uint64_t kQualitySalt = 0x5155'414c'0000'0002ULL;
constexpr uint64_t kProfileSalt = 0x5052'4f46'0000'0003ULL;
constexpr uint64_t kAffinitySalt = 0x4146'4649'0000'0004ULL;

constexpr double kPi = 3.14159265358979323846;

double ToUnit(uint64_t h) { return static_cast<double>(h >> 11) * (1.0 / 9007199254740992.0); }

}  // namespace

const char* const kAgeBuckets[kNumAgeBuckets] = {"<18",   "18-24", "25-34", "35-44",
                                                 "45-54", "55-64", "65+"};

SyntheticCatalog::SyntheticCatalog(const SyntheticOptions& options)
    : num_categories_(static_cast<uint32_t>(options.categories)),
      category_sampler_(static_cast<size_t>(options.categories), options.category_zipf) {
  const uint64_t items = static_cast<uint64_t>(options.items);
  const uint64_t cats = num_categories_;
  item_samplers_.reserve(cats);
  for (uint64_t c = 0; c < cats; ++c) {
    // Number of ranks r with r * cats + c < items (options guarantee >= 1).
    size_t count = static_cast<size_t>((items - c + cats - 1) / cats);
    item_samplers_.emplace_back(count, options.item_zipf);
  }
  const uint64_t shops = static_cast<uint64_t>(options.shops);
  const uint64_t shops_per_category = shops >= cats ? shops / cats : 1;
  item_shop_.resize(items);
  item_quality_.resize(items);
  for (uint64_t i = 0; i < items; ++i) {
    uint64_t c = i % cats;
    uint64_t pick = Mix64(options.seed ^ kShopSalt ^ Mix64(i)) % shops_per_category;
    item_shop_[i] = static_cast<uint32_t>((c + cats * pick) % shops);
    item_quality_[i] =
        static_cast<float>(2.0 * ToUnit(Mix64(options.seed ^ kQualitySalt ^ Mix64(i))) - 1.0);
  }
}

SyntheticProfile MakeProfile(uint64_t seed, uint64_t user) {
  uint64_t h = Mix64(seed ^ kProfileSalt ^ Mix64(user));
  SyntheticProfile p;
  // 2% of users have no age: exercises the "missing" value of a field.
  p.age_bucket = (h % 100) < 2 ? kMissingAge : static_cast<int>((h >> 8) % kNumAgeBuckets);
  p.gender = static_cast<int>((h >> 20) & 1);
  return p;
}

int ClickModel::Affinity(const SyntheticProfile& profile, uint32_t category) const {
  if (profile.age_bucket == kMissingAge) return 0;
  uint64_t group = static_cast<uint64_t>(profile.age_bucket * 2 + profile.gender);
  uint64_t h = Mix64(seed_ ^ kAffinitySalt ^ Mix64(group * 1000003ULL + category));
  return static_cast<int>(h % 3) - 1;
}

double ClickModel::Probability(const TargetRelation& relation, float item_quality,
                               const SyntheticProfile& profile, uint32_t category,
                               int hour) const {
  double logit = options_.bias;
  if (relation.category_recent) logit += options_.recent_weight;
  if (relation.category_older) logit += options_.older_weight;
  if (relation.shop_in_history) logit += options_.shop_weight;
  logit += options_.quality_weight * item_quality;
  logit += options_.profile_weight * Affinity(profile, category);
  logit += options_.hour_weight * std::cos(2.0 * kPi * (hour - 20) / 24.0);
  return 1.0 / (1.0 + std::exp(-logit));
}

}  // namespace dips
