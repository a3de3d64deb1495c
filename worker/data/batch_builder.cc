#include "worker/data/batch_builder.h"

#include <algorithm>

#include <glog/logging.h>

namespace dips {
namespace {

// Fibonacci hashing: keys are already well-mixed hashes, so one multiply
// and taking the top bits spreads them over the table.
constexpr uint64_t kMul = 0x9E3779B97F4A7C15ULL;

NegativeSamplerOptions PoolOptions(const BatchBuilderOptions& o) {
  NegativeSamplerOptions p;
  p.capacity = o.negative_pool_capacity;
  return p;
}

}  // namespace

BatchBuilder::BatchBuilder(const BatchBuilderOptions& options)
    : options_(options), sampler_(PoolOptions(options)), rng_(options.seed) {}

void BatchBuilder::ResetTable(size_t expected_keys) {
  // At most half full, so linear probes stay short; Intern doubles it when
  // a batch has more distinct keys than expected.
  size_t buckets = 16;
  int shift = 60;
  while (buckets < 2 * expected_keys) {
    buckets <<= 1;
    --shift;
  }
  table_.assign(buckets, -1);
  table_shift_ = shift;
  keys_.clear();
  counts_.clear();
}

void BatchBuilder::GrowTable() {
  table_.assign(table_.size() * 2, -1);
  --table_shift_;
  const size_t mask = table_.size() - 1;
  for (size_t id = 0; id < keys_.size(); ++id) {
    size_t b = static_cast<size_t>((keys_[id] * kMul) >> table_shift_);
    while (table_[b] >= 0) b = (b + 1) & mask;
    table_[b] = static_cast<int32_t>(id);
  }
}

inline int32_t BatchBuilder::Intern(uint64_t key) {
  const size_t mask = table_.size() - 1;
  size_t b = static_cast<size_t>((key * kMul) >> table_shift_);
  for (;;) {
    const int32_t id = table_[b];
    if (id < 0) {
      const auto new_id = static_cast<int32_t>(keys_.size());
      keys_.push_back(key);
      counts_.push_back(1);
      if (2 * keys_.size() > table_.size()) {
        GrowTable();  // places the new key too
      } else {
        table_[b] = new_id;
      }
      return new_id;
    }
    if (keys_[id] == key) {
      ++counts_[id];
      return id;
    }
    b = (b + 1) & mask;
  }
}

void BatchBuilder::Build(const Sample* samples, int n, const LogSchema& schema, Batch* out) {
  CHECK_GE(n, 1);
  const int f_count = schema.num_behaviour_fields();
  const int p_count = schema.num_extra_fields();
  int t_max = 0;
  for (int b = 0; b < n; ++b) {
    const Sample& s = samples[b];
    CHECK_EQ(s.category_history.size(), s.item_history.size());
    CHECK_EQ(s.shop_history.size(), schema.has_shop ? s.item_history.size() : 0u);
    CHECK_EQ(static_cast<int>(s.extra_keys.size()), p_count);
    t_max = std::max(t_max, s.history_length());
  }
  out->size = n;
  out->max_length = t_max;
  out->num_behaviour_fields = f_count;
  out->num_extra_fields = p_count;

  const size_t behaviour_slots = static_cast<size_t>(n) * t_max * f_count;
  const size_t max_keys = static_cast<size_t>(n) * (f_count + p_count) + behaviour_slots +
                          (options_.with_negatives ? behaviour_slots : 0);
  CHECK_LT(max_keys, size_t{1} << 30) << "batch too large for int32 slots";
  // Sized for the last batch's distinct keys rather than the bound: a
  // table that fits the cache, cleared in a fraction of the time.
  ResetTable(std::min(max_keys, keys_.size() + keys_.size() / 4 + 64));

  out->labels.resize(n);
  out->user_keys.resize(n);
  out->lengths.resize(n);
  out->target_slots.resize(static_cast<size_t>(n) * f_count);
  out->history_slots.assign(behaviour_slots, -1);
  out->extra_slots.resize(static_cast<size_t>(n) * p_count);
  for (int b = 0; b < n; ++b) {
    const Sample& s = samples[b];
    out->labels[b] = s.label;
    out->user_keys[b] = s.user_key;
    out->lengths[b] = s.history_length();
    int32_t* target = &out->target_slots[static_cast<size_t>(b) * f_count];
    target[0] = Intern(s.item_key);
    target[1] = Intern(s.category_key);
    if (schema.has_shop) target[2] = Intern(s.shop_key);
    int32_t* hist = &out->history_slots[static_cast<size_t>(b) * t_max * f_count];
    for (int t = 0; t < s.history_length(); ++t) {
      hist[t * f_count] = Intern(s.item_history[t]);
      hist[t * f_count + 1] = Intern(s.category_history[t]);
      if (schema.has_shop) hist[t * f_count + 2] = Intern(s.shop_history[t]);
    }
    for (int p = 0; p < p_count; ++p) {
      out->extra_slots[static_cast<size_t>(b) * p_count + p] = Intern(s.extra_keys[p]);
    }
  }
  if (options_.with_negatives) {
    FillNegatives(samples, n, f_count, t_max, out);
  } else {
    out->negative_slots.clear();
  }
  Finish(out);
}

void BatchBuilder::FillNegatives(const Sample* samples, int n, int f_count, int t_max,
                                 Batch* out) {
  const bool has_shop = f_count == 3;
  for (int b = 0; b < n; ++b) {
    const Sample& s = samples[b];
    for (int t = 0; t < s.history_length(); ++t) {
      sampler_.Observe({s.item_history[t], s.category_history[t],
                        has_shop ? s.shop_history[t] : 0});
    }
  }
  out->negative_slots.assign(static_cast<size_t>(n) * t_max * f_count, -1);
  if (sampler_.empty()) return;  // no sample has a history: nothing to stand against
  exclude_.clear();
  for (int b = 0; b < n; ++b) {
    const Sample& s = samples[b];
    for (int t = 1; t < s.history_length(); ++t) exclude_.push_back(s.item_history[t]);
  }
  negatives_.resize(exclude_.size());
  sampler_.SampleMany(&rng_, exclude_.data(), exclude_.size(), negatives_.data());
  size_t next = 0;  // same (b, t) order as exclude_ was filled in
  for (int b = 0; b < n; ++b) {
    const Sample& s = samples[b];
    int32_t* neg = &out->negative_slots[static_cast<size_t>(b) * t_max * f_count];
    for (int t = 1; t < s.history_length(); ++t) {
      const Behaviour& d = negatives_[next++];
      neg[t * f_count] = Intern(d.item_key);
      neg[t * f_count + 1] = Intern(d.category_key);
      if (has_shop) neg[t * f_count + 2] = Intern(d.shop_key);
    }
  }
}

void BatchBuilder::Finish(Batch* out) {
  // Slots already hold key ids, which index the keys in order of first use:
  // nothing to rewrite.
  out->unique_keys.assign(keys_.begin(), keys_.end());
  out->key_counts.assign(counts_.begin(), counts_.end());
}

}  // namespace dips
