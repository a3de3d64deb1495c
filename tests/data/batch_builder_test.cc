#include "worker/data/batch_builder.h"

#include <chrono>
#include <cstdio>
#include <map>
#include <random>
#include <set>
#include <tuple>
#include <vector>

#include <gtest/gtest.h>

namespace dips {
namespace {

LogSchema ShopSchema() {
  LogSchema s;
  s.has_shop = true;
  s.extra_fields = {"profile:age", "context:hour"};
  return s;
}

// Random samples whose keys come from small vocabularies, so keys repeat
// within a batch (as popular items do) and the counts are non-trivial.
std::vector<Sample> RandomSamples(int n, int max_len, const LogSchema& schema, uint64_t seed,
                                  uint64_t num_items = 50) {
  std::mt19937_64 rng(seed);
  std::vector<Sample> samples(n);
  for (Sample& s : samples) {
    s.label = static_cast<float>(rng() % 2);
    s.user_key = rng();
    s.item_key = 1 + rng() % num_items;
    s.category_key = 100000 + s.item_key % 7;  // a category per item
    s.shop_key = schema.has_shop ? 200000 + s.item_key % 5 : 0;
    const int len = static_cast<int>(rng() % (max_len + 1));
    for (int t = 0; t < len; ++t) {
      const uint64_t item = 1 + rng() % num_items;
      s.item_history.push_back(item);
      s.category_history.push_back(100000 + item % 7);
      if (schema.has_shop) s.shop_history.push_back(200000 + item % 5);
    }
    for (int p = 0; p < schema.num_extra_fields(); ++p) s.extra_keys.push_back(300000 + rng() % 3);
  }
  return samples;
}

// Checks every field of `batch` against the samples it was built from.
void ExpectConsistent(const std::vector<Sample>& samples, const LogSchema& schema,
                      const Batch& batch) {
  const int n = static_cast<int>(samples.size());
  const int f = schema.num_behaviour_fields();
  const int p = schema.num_extra_fields();
  ASSERT_EQ(batch.size, n);
  ASSERT_EQ(batch.num_behaviour_fields, f);
  ASSERT_EQ(batch.num_extra_fields, p);
  int t_max = 0;
  for (const Sample& s : samples) t_max = std::max(t_max, s.history_length());
  ASSERT_EQ(batch.max_length, t_max);
  const int t = t_max;
  ASSERT_EQ(batch.target_slots.size(), static_cast<size_t>(n * f));
  ASSERT_EQ(batch.history_slots.size(), static_cast<size_t>(n * t * f));
  ASSERT_EQ(batch.extra_slots.size(), static_cast<size_t>(n * p));
  ASSERT_EQ(batch.unique_keys.size(), batch.key_counts.size());
  // Brute-force occurrence count of every key over every slot. key_of is
  // called in the builder's order (per sample: target, history, extra
  // fields; then negatives), so a slot is at most one past the highest seen:
  // the keys are in order of first use.
  std::map<uint64_t, uint32_t> counts;
  int32_t next_new = 0;
  auto key_of = [&](int32_t slot) {
    EXPECT_GE(slot, 0);
    EXPECT_LT(slot, batch.num_unique_keys());
    EXPECT_LE(slot, next_new) << "keys in order of first use";
    if (slot == next_new) ++next_new;
    const uint64_t key = batch.unique_keys[slot];
    ++counts[key];
    return key;
  };
  for (int b = 0; b < n; ++b) {
    const Sample& s = samples[b];
    EXPECT_EQ(batch.labels[b], s.label);
    EXPECT_EQ(batch.user_keys[b], s.user_key);
    EXPECT_EQ(batch.lengths[b], s.history_length());
    EXPECT_EQ(key_of(batch.target_slots[b * f]), s.item_key);
    EXPECT_EQ(key_of(batch.target_slots[b * f + 1]), s.category_key);
    if (f == 3) {
      EXPECT_EQ(key_of(batch.target_slots[b * f + 2]), s.shop_key);
    }
    for (int i = 0; i < t; ++i) {
      const int32_t* h = &batch.history_slots[(b * t + i) * f];
      if (i >= s.history_length()) {
        for (int k = 0; k < f; ++k) EXPECT_EQ(h[k], -1) << "padding";
        continue;
      }
      EXPECT_EQ(key_of(h[0]), s.item_history[i]);
      EXPECT_EQ(key_of(h[1]), s.category_history[i]);
      if (f == 3) {
        EXPECT_EQ(key_of(h[2]), s.shop_history[i]);
      }
    }
    for (int k = 0; k < p; ++k) EXPECT_EQ(key_of(batch.extra_slots[b * p + k]), s.extra_keys[k]);
  }
  if (batch.has_negatives()) {
    ASSERT_EQ(batch.negative_slots.size(), static_cast<size_t>(n * t * f));
    for (int32_t slot : batch.negative_slots) {
      if (slot >= 0) key_of(slot);
    }
  }
  ASSERT_EQ(counts.size(), batch.unique_keys.size()) << "distinct keys, each used";
  for (size_t i = 0; i < batch.unique_keys.size(); ++i) {
    EXPECT_EQ(batch.key_counts[i], counts[batch.unique_keys[i]]) << i;
  }
}

TEST(BatchBuilderTest, EveryFieldMatchesTheSamples) {
  for (bool shop : {false, true}) {
    LogSchema schema = shop ? ShopSchema() : LogSchema();
    BatchBuilder builder(BatchBuilderOptions{});
    Batch batch;
    std::vector<Sample> samples = RandomSamples(33, 12, schema, 5);
    builder.Build(samples.data(), static_cast<int>(samples.size()), schema, &batch);
    ExpectConsistent(samples, schema, batch);
    EXPECT_FALSE(batch.has_negatives());
  }
}

TEST(BatchBuilderTest, ReusedBatchShrinksToTheNewShape) {
  LogSchema schema = ShopSchema();
  BatchBuilder builder(BatchBuilderOptions{});
  Batch batch;
  std::vector<Sample> big = RandomSamples(64, 30, schema, 1);
  std::vector<Sample> small = RandomSamples(3, 4, schema, 2);
  builder.Build(big.data(), 64, schema, &batch);
  builder.Build(small.data(), 3, schema, &batch);
  ExpectConsistent(small, schema, batch);
}

TEST(BatchBuilderTest, NoHistoriesGiveAnEmptyHistoryBlock) {
  LogSchema schema;
  std::vector<Sample> samples = RandomSamples(4, 0, schema, 3);
  BatchBuilderOptions options;
  options.with_negatives = true;
  BatchBuilder builder(options);
  Batch batch;
  builder.Build(samples.data(), 4, schema, &batch);
  EXPECT_EQ(batch.max_length, 0);
  EXPECT_TRUE(batch.history_slots.empty());
  ExpectConsistent(samples, schema, batch);
}

TEST(BatchBuilderTest, NegativesStandAgainstBehavioursFromThePool) {
  LogSchema schema = ShopSchema();
  std::vector<Sample> samples = RandomSamples(40, 20, schema, 9, /*num_items=*/1000);
  BatchBuilderOptions options;
  options.with_negatives = true;
  BatchBuilder builder(options);
  Batch batch;
  builder.Build(samples.data(), 40, schema, &batch);
  ExpectConsistent(samples, schema, batch);
  ASSERT_TRUE(batch.has_negatives());

  // The first batch already had a pool: its own history behaviours.
  std::set<std::tuple<uint64_t, uint64_t, uint64_t>> observed;
  size_t total_len = 0;
  for (const Sample& s : samples) {
    total_len += s.item_history.size();
    for (int t = 0; t < s.history_length(); ++t) {
      observed.insert({s.item_history[t], s.category_history[t], s.shop_history[t]});
    }
  }
  EXPECT_EQ(builder.negative_pool().size(), total_len);

  const int f = 3, t_max = batch.max_length;
  int drawn = 0, equal_to_positive = 0;
  for (int b = 0; b < batch.size; ++b) {
    const Sample& s = samples[b];
    for (int t = 0; t < t_max; ++t) {
      const int32_t* neg = &batch.negative_slots[(b * t_max + t) * f];
      if (t == 0 || t >= s.history_length()) {
        for (int k = 0; k < f; ++k) EXPECT_EQ(neg[k], -1) << "b " << b << " t " << t;
        continue;
      }
      ++drawn;
      const auto triple = std::make_tuple(batch.unique_keys[neg[0]], batch.unique_keys[neg[1]],
                                          batch.unique_keys[neg[2]]);
      EXPECT_EQ(observed.count(triple), 1u) << "a negative is an observed behaviour";
      equal_to_positive += std::get<0>(triple) == s.item_history[t];
    }
  }
  EXPECT_GT(drawn, 0);
  // With ~1000 distinct items each holding ~0.1% of the pool, a draw hits
  // the positive item 11 times in a row with probability ~1e-33.
  EXPECT_EQ(equal_to_positive, 0);
}

TEST(BatchBuilderTest, NegativesAreDeterministicForASeed) {
  LogSchema schema;
  std::vector<Sample> samples = RandomSamples(32, 15, schema, 4, 500);
  auto build = [&](uint64_t seed) {
    BatchBuilderOptions options;
    options.with_negatives = true;
    options.seed = seed;
    BatchBuilder builder(options);
    Batch batch;
    builder.Build(samples.data(), 32, schema, &batch);
    std::vector<uint64_t> negative_keys;
    for (int32_t slot : batch.negative_slots) {
      negative_keys.push_back(slot < 0 ? 0 : batch.unique_keys[slot]);
    }
    return negative_keys;
  };
  EXPECT_EQ(build(17), build(17));
  EXPECT_NE(build(17), build(18));
}

// Throughput for the paper's shape: B = 128, T = 100, item + category.
TEST(BatchBuilderTest, Throughput) {
  const LogSchema schema;
  const int kB = 128, kT = 100;
  std::mt19937_64 rng(42);
  // Zipf-like popularity over 1M items (a key's rank ~ 1/u^2), with its
  // category derived from the item, as in real logs.
  auto item = [&rng] {
    const double u = (static_cast<double>(rng() >> 11) + 1.0) / 9007199254740993.0;
    return 1 + static_cast<uint64_t>(std::min(1e6, 1.0 / (u * u)));
  };
  std::vector<Sample> samples(kB * 8);
  for (Sample& s : samples) {
    s.label = static_cast<float>(rng() & 1);
    s.user_key = rng();
    s.item_key = item();
    s.category_key = 0x5000000000000000ULL | (s.item_key % 4000);
    for (int t = 0; t < kT; ++t) {
      s.item_history.push_back(item());
      s.category_history.push_back(0x5000000000000000ULL | (s.item_history.back() % 4000));
    }
  }
  for (bool negatives : {false, true}) {
    BatchBuilderOptions options;
    options.with_negatives = negatives;
    BatchBuilder builder(options);
    Batch batch;
    const int kBatches = 400;
    size_t keys = 0;
    const auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < kBatches; ++i) {
      builder.Build(&samples[(i % 8) * kB], kB, schema, &batch);
      keys += batch.unique_keys.size();
    }
    const double secs =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const double rate = kBatches / secs;
    std::printf("BatchBuilder B=%d T=%d F=2 negatives=%d: %.0f batches/s (%.2f ms/batch, "
                "%.0f unique keys/batch)\n",
                kB, kT, negatives, rate, 1e3 * secs / kBatches,
                static_cast<double>(keys) / kBatches);
    EXPECT_EQ(batch.max_length, kT);
    // Loose sanity bound only (a shared 2-core machine): the model step for
    // such a batch takes tens of milliseconds, so 50 batches/s is far from
    // being the bottleneck yet would catch an accidental quadratic.
    EXPECT_GT(rate, 50.0);
  }
}

}  // namespace
}  // namespace dips
