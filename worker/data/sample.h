// One training/evaluation sample after parsing: every id already turned into
// its 64-bit feature key (common/feature_key.h). Produced by LogReader,
// consumed by BatchBuilder.
#ifndef DIPS_WORKER_DATA_SAMPLE_H_
#define DIPS_WORKER_DATA_SAMPLE_H_

#include <cstdint>
#include <string>
#include <vector>

namespace dips {

// What a log file carries beyond the DIEN columns. Fixed per input: every
// file given to one reader must have the same schema.
struct LogSchema {
  bool has_shop = false;                 // behaviours carry a shop id
  std::vector<std::string> extra_fields;  // profile/context field names, in column order

  int num_behaviour_fields() const { return has_shop ? 3 : 2; }
  int num_extra_fields() const { return static_cast<int>(extra_fields.size()); }
  bool operator==(const LogSchema& o) const {
    return has_shop == o.has_shop && extra_fields == o.extra_fields;
  }
  bool operator!=(const LogSchema& o) const { return !(*this == o); }
};

struct Sample {
  float label = 0.0f;      // 0 or 1
  uint64_t user_key = 0;   // FeatureKey("user", uid): groups samples for GAUC
  // Target behaviour.
  uint64_t item_key = 0;
  uint64_t category_key = 0;
  uint64_t shop_key = 0;   // 0 when the schema has no shop
  // History, oldest first, already cut to the most recent max_history.
  // All the same length; shop_history empty when the schema has no shop.
  std::vector<uint64_t> item_history;
  std::vector<uint64_t> category_history;
  std::vector<uint64_t> shop_history;
  // One key per LogSchema::extra_fields entry, FeatureKey(field name, value).
  std::vector<uint64_t> extra_keys;

  int history_length() const { return static_cast<int>(item_history.size()); }
};

}  // namespace dips

#endif  // DIPS_WORKER_DATA_SAMPLE_H_
