// SparseTable contract tests against the in-memory table.
#include "ps/sparse_table.h"

#include <cmath>
#include <cstring>
#include <map>
#include <set>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

namespace dips {
namespace {

SparseTableOptions SmallOptions(SparseOptimizerKind kind) {
  SparseTableOptions options;
  options.dim = 4;
  options.optimizer.kind = kind;
  options.num_stripes = 8;
  options.init_seed = 42;
  return options;
}

std::unique_ptr<SparseTable> MustCreate(const SparseTableOptions& options) {
  StatusOr<std::unique_ptr<SparseTable>> table = SparseTable::Create(options);
  CHECK(table.ok()) << table.status().ToString();
  return std::move(table).value();
}

// A copy of a row: RowView's pointers only live during ForEachRow's callback.
struct StoredRow {
  std::vector<float> weights;
  std::vector<float> state;
  uint64_t count = 0;
  int64_t last_update_step = 0;
  int64_t update_count = 0;
};

void ExpectSameRow(const StoredRow& want, const StoredRow& got, uint64_t key) {
  EXPECT_EQ(want.weights, got.weights) << key;
  EXPECT_EQ(want.state, got.state) << key;
  EXPECT_EQ(want.count, got.count) << key;
  EXPECT_EQ(want.last_update_step, got.last_update_step) << key;
  EXPECT_EQ(want.update_count, got.update_count) << key;
}

// `kind` must be the table's optimiser: it sets how many state floats to copy.
std::map<uint64_t, StoredRow> Snapshot(const SparseTable& table, SparseOptimizerKind kind) {
  const size_t dim = table.dim();
  const size_t state_floats = dim * StateFloatsPerWeight(kind);
  std::map<uint64_t, StoredRow> rows;
  table.ForEachRow([&](const RowView& row) {
    StoredRow& copy = rows[row.key];
    copy.weights.assign(row.weights, row.weights + dim);
    copy.state.assign(row.state, row.state + state_floats);
    copy.count = row.count;
    copy.last_update_step = row.last_update_step;
    copy.update_count = row.update_count;
  });
  return rows;
}

TEST(SparseTableTest, CreateRejectsBadOptions) {
  SparseTableOptions options = SmallOptions(SparseOptimizerKind::kAdagrad);
  EXPECT_TRUE(SparseTable::Create(options).ok());
  for (int stripes : {0, 3, 12, 131072}) {
    SparseTableOptions bad = options;
    bad.num_stripes = stripes;
    EXPECT_EQ(StatusCode::kInvalidArgument, SparseTable::Create(bad).status().code()) << stripes;
  }
  SparseTableOptions bad = options;
  bad.dim = 0;
  EXPECT_FALSE(SparseTable::Create(bad).ok());
  bad = options;
  bad.init_scale = -1.0f;
  EXPECT_FALSE(SparseTable::Create(bad).ok());
  bad = options;
  bad.optimizer.learning_rate = -0.1f;
  EXPECT_FALSE(SparseTable::Create(bad).ok());
}

TEST(SparseTableTest, InitialValuesAreDeterministicAndInRange) {
  SparseTableOptions options = SmallOptions(SparseOptimizerKind::kAdagrad);
  options.dim = 64;
  std::vector<float> a(64), b(64), other_seed(64), other_key(64);
  InitialRowValues(options, 7, a.data());
  InitialRowValues(options, 7, b.data());
  EXPECT_EQ(a, b);
  InitialRowValues(options, 8, other_key.data());
  EXPECT_NE(a, other_key);
  SparseTableOptions reseeded = options;
  reseeded.init_seed = 43;
  InitialRowValues(reseeded, 7, other_seed.data());
  EXPECT_NE(a, other_seed);
  std::set<float> distinct(a.begin(), a.end());
  EXPECT_GT(distinct.size(), 60u) << "weights of one row should differ";
  double sum = 0;
  for (float w : a) {
    EXPECT_GE(w, -options.init_scale);
    EXPECT_LE(w, options.init_scale);
    sum += w;
  }
  // Mean of 64 uniforms on [-s, s] has sd s / sqrt(3 * 64); allow 5 sd.
  EXPECT_LT(std::fabs(sum / 64), 5 * options.init_scale / std::sqrt(3.0 * 64));
  SparseTableOptions zero = options;
  zero.init_scale = 0.0f;
  InitialRowValues(zero, 7, a.data());
  for (float w : a) EXPECT_EQ(0.0f, w);
}

TEST(SparseTableTest, SameKeySameRowWhetherCreatedByPullOrPush) {
  const SparseTableOptions options = SmallOptions(SparseOptimizerKind::kAdagrad);
  auto pulled = MustCreate(options);
  auto pushed = MustCreate(options);
  const std::vector<uint64_t> keys = {1, 2, 0xFFFFFFFFFFFFFFFFull, 0, 123456789};
  const size_t n = keys.size();
  std::vector<float> values(n * 4);
  ASSERT_TRUE(pulled->Pull(keys.data(), n, /*create_missing=*/true, values.data(), nullptr).ok());
  // A zero gradient leaves Adagrad's weights unchanged, so the pushed table's
  // rows hold exactly their initial values too.
  const std::vector<float> zeros(n * 4, 0.0f);
  ASSERT_TRUE(pushed->Push(keys.data(), n, zeros.data(), nullptr, 1).ok());
  std::vector<float> expected(4);
  for (size_t i = 0; i < n; ++i) {
    InitialRowValues(options, keys[i], expected.data());
    EXPECT_EQ(0, std::memcmp(expected.data(), &values[i * 4], 4 * sizeof(float))) << keys[i];
  }
  auto a = Snapshot(*pulled, SparseOptimizerKind::kAdagrad);
  auto b = Snapshot(*pushed, SparseOptimizerKind::kAdagrad);
  ASSERT_EQ(n, a.size());
  ASSERT_EQ(n, b.size());
  for (uint64_t key : keys) {
    EXPECT_EQ(a[key].weights, b[key].weights) << key;
  }
}

TEST(SparseTableTest, PullWithoutCreateStoresNothing) {
  const SparseTableOptions options = SmallOptions(SparseOptimizerKind::kFtrl);
  auto table = MustCreate(options);
  const std::vector<uint64_t> keys = {10, 20, 30};
  std::vector<float> values(12);
  std::vector<uint64_t> counts(3, 99);
  ASSERT_TRUE(table->Pull(keys.data(), 3, false, values.data(), counts.data()).ok());
  std::vector<float> expected(4);
  for (size_t i = 0; i < 3; ++i) {
    InitialRowValues(options, keys[i], expected.data());
    for (int d = 0; d < 4; ++d) EXPECT_EQ(expected[d], values[i * 4 + d]);
    EXPECT_EQ(0u, counts[i]);
  }
  const SparseTableStats stats = table->Stats();
  EXPECT_EQ(0u, stats.rows);
  EXPECT_EQ(0u, stats.rows_created);
  EXPECT_EQ(3u, stats.pulls);
  EXPECT_TRUE(Snapshot(*table, SparseOptimizerKind::kFtrl).empty());
}

TEST(SparseTableTest, PushAppliesOptimizerCountsAndStamps) {
  SparseTableOptions options = SmallOptions(SparseOptimizerKind::kSgd);
  options.optimizer.learning_rate = 0.5f;
  auto table = MustCreate(options);
  const uint64_t keys[2] = {5, 6};
  const float grads[8] = {1, 2, 3, 4, -1, -2, -3, -4};
  const uint32_t occurrences[2] = {3, 1};
  ASSERT_TRUE(table->Push(keys, 2, grads, occurrences, 7).ok());
  ASSERT_TRUE(table->Push(keys, 1, grads, occurrences, 9).ok());  // key 5 only
  ASSERT_TRUE(table->Push(keys + 1, 1, grads, nullptr, 11).ok());  // key 6, no counts

  auto rows = Snapshot(*table, SparseOptimizerKind::kSgd);
  ASSERT_EQ(2u, rows.size());
  EXPECT_EQ(6u, rows[5].count);  // 3 + 3
  EXPECT_EQ(9, rows[5].last_update_step);
  EXPECT_EQ(2, rows[5].update_count);
  EXPECT_EQ(1u, rows[6].count);  // 1 + nothing
  EXPECT_EQ(11, rows[6].last_update_step);
  EXPECT_EQ(2, rows[6].update_count);

  // Key 5 got grads[0..4) twice; key 6 got grads[4..8) then grads[0..4).
  std::vector<float> init5(4), init6(4), pulled(8);
  std::vector<uint64_t> counts(2);
  InitialRowValues(options, 5, init5.data());
  InitialRowValues(options, 6, init6.data());
  ASSERT_TRUE(table->Pull(keys, 2, false, pulled.data(), counts.data()).ok());
  EXPECT_EQ(6u, counts[0]);
  EXPECT_EQ(1u, counts[1]);
  for (int d = 0; d < 4; ++d) {
    EXPECT_FLOAT_EQ(init5[d] - 0.5f * grads[d] - 0.5f * grads[d], pulled[d]);
    EXPECT_FLOAT_EQ(init6[d] - 0.5f * grads[4 + d] - 0.5f * grads[d], pulled[4 + d]);
  }
}

TEST(SparseTableTest, PushFeedsRowUpdateCountToAdam) {
  // Two pushes of the same gradient to a row: the second uses t = 2. Compare
  // against ApplySparseUpdate driven with counts 0 and 1 by hand.
  const SparseTableOptions options = SmallOptions(SparseOptimizerKind::kAdam);
  auto table = MustCreate(options);
  const uint64_t key = 77;
  const float grad[4] = {0.5f, -1.0f, 2.0f, 0.0f};
  ASSERT_TRUE(table->Push(&key, 1, grad, nullptr, 1).ok());
  ASSERT_TRUE(table->Push(&key, 1, grad, nullptr, 2).ok());
  float w[4], state[8];
  InitialRowValues(options, key, w);
  InitSparseOptimizerState(options.optimizer, 4, w, state);
  ApplySparseUpdate(options.optimizer, 4, grad, 0, w, state);
  ApplySparseUpdate(options.optimizer, 4, grad, 1, w, state);
  auto rows = Snapshot(*table, SparseOptimizerKind::kAdam);
  ASSERT_EQ(1u, rows.size());
  EXPECT_EQ(std::vector<float>(w, w + 4), rows[key].weights);
  EXPECT_EQ(std::vector<float>(state, state + 8), rows[key].state);
}

TEST(SparseTableTest, DuplicateKeysInOnePushApplyInOrder) {
  SparseTableOptions options = SmallOptions(SparseOptimizerKind::kSgd);
  options.init_scale = 0.0f;
  options.optimizer.learning_rate = 1.0f;
  auto table = MustCreate(options);
  const uint64_t keys[3] = {9, 9, 10};
  const float grads[12] = {1, 1, 1, 1, 2, 2, 2, 2, 5, 5, 5, 5};
  const uint32_t occ[3] = {1, 1, 1};
  ASSERT_TRUE(table->Push(keys, 3, grads, occ, 4).ok());
  auto rows = Snapshot(*table, SparseOptimizerKind::kSgd);
  EXPECT_EQ(2, rows[9].update_count);
  EXPECT_EQ(2u, rows[9].count);
  for (int d = 0; d < 4; ++d) EXPECT_EQ(-3.0f, rows[9].weights[d]);
  EXPECT_EQ(1, rows[10].update_count);
}

TEST(SparseTableTest, LargeCallsEqualOneKeyCallsBitForBit) {
  // Calls of hundreds of keys (lookups run ahead of the rows they visit)
  // with absent keys, repeats of absent keys and present keys must leave the
  // same rows, and return the same values, as the same keys one call each.
  for (SparseOptimizerKind kind : {SparseOptimizerKind::kAdagrad, SparseOptimizerKind::kAdam}) {
    SparseTableOptions options = SmallOptions(kind);
    options.dim = 18;
    auto batched = MustCreate(options);
    auto single = MustCreate(options);
    std::vector<uint64_t> keys;
    for (uint64_t k = 0; k < 300; ++k) keys.push_back(k % 170 * 1000003);  // 130 repeats
    std::vector<float> grads(keys.size() * 18), got(keys.size() * 18), want(keys.size() * 18);
    std::vector<uint32_t> occ(keys.size());
    std::vector<uint64_t> got_counts(keys.size()), want_counts(keys.size());
    for (int round = 0; round < 3; ++round) {
      for (size_t i = 0; i < grads.size(); ++i) grads[i] = 0.01f * ((i * 7 + round) % 13) - 0.06f;
      for (size_t i = 0; i < keys.size(); ++i) occ[i] = 1 + (i + round) % 3;
      ASSERT_TRUE(batched->Pull(keys.data(), keys.size(), true, got.data(), got_counts.data()).ok());
      ASSERT_TRUE(batched->Push(keys.data(), keys.size(), grads.data(), occ.data(), round).ok());
      for (size_t i = 0; i < keys.size(); ++i) {
        ASSERT_TRUE(single->Pull(&keys[i], 1, true, &want[i * 18], &want_counts[i]).ok());
      }
      for (size_t i = 0; i < keys.size(); ++i) {
        ASSERT_TRUE(single->Push(&keys[i], 1, &grads[i * 18], &occ[i], round).ok());
      }
      EXPECT_EQ(0, std::memcmp(want.data(), got.data(), sizeof(float) * got.size())) << round;
      EXPECT_EQ(want_counts, got_counts) << round;
    }
    auto a = Snapshot(*batched, kind);
    auto b = Snapshot(*single, kind);
    ASSERT_EQ(170u, a.size());
    ASSERT_EQ(b.size(), a.size());
    for (const auto& [key, row] : b) ExpectSameRow(row, a.at(key), key);
  }
}

TEST(SparseTableTest, RejectsBadPushWithoutApplyingAnything) {
  auto table = MustCreate(SmallOptions(SparseOptimizerKind::kAdagrad));
  const uint64_t keys[2] = {1, 2};
  float grads[8] = {0, 0, 0, 0, 0, NAN, 0, 0};
  EXPECT_EQ(StatusCode::kInvalidArgument, table->Push(keys, 2, grads, nullptr, 1).code());
  grads[5] = INFINITY;
  EXPECT_EQ(StatusCode::kInvalidArgument, table->Push(keys, 2, grads, nullptr, 1).code());
  EXPECT_EQ(StatusCode::kInvalidArgument, table->Push(nullptr, 2, grads, nullptr, 1).code());
  EXPECT_EQ(StatusCode::kInvalidArgument, table->Pull(keys, 2, true, nullptr, nullptr).code());
  EXPECT_TRUE(table->Push(nullptr, 0, nullptr, nullptr, 1).ok());
  // A long push (the finiteness check is vectorised): -inf in the very last
  // value, past any whole vector of the loop, is found and its key named.
  std::vector<uint64_t> many(37);
  for (size_t i = 0; i < many.size(); ++i) many[i] = 100 + i;
  std::vector<float> many_grads(many.size() * 4, 0.5f);
  many_grads.back() = -INFINITY;
  Status s = table->Push(many.data(), many.size(), many_grads.data(), nullptr, 1);
  EXPECT_EQ(StatusCode::kInvalidArgument, s.code());
  EXPECT_NE(s.message().find("key 136"), std::string::npos) << s.ToString();
  EXPECT_EQ(0u, table->Stats().rows);
  EXPECT_EQ(0u, table->Stats().pushes);
}

TEST(SparseTableTest, StatsAndForEachRowSeeEveryRow) {
  // Enough keys in few stripes that every stripe's index grows many times.
  SparseTableOptions options = SmallOptions(SparseOptimizerKind::kAdagrad);
  options.num_stripes = 4;
  auto table = MustCreate(options);
  const size_t n = 50000;
  std::vector<uint64_t> keys(n);
  for (size_t i = 0; i < n; ++i) keys[i] = i * 0x10001ull;  // structured keys
  std::vector<float> values(n * 4);
  ASSERT_TRUE(table->Pull(keys.data(), n, true, values.data(), nullptr).ok());
  std::vector<float> grads(n * 4, 1.0f);
  std::vector<uint32_t> occ(n / 2, 2);
  ASSERT_TRUE(table->Push(keys.data(), n / 2, grads.data(), occ.data(), 3).ok());

  const SparseTableStats stats = table->Stats();
  EXPECT_EQ(n, stats.rows);
  EXPECT_EQ(n, stats.rows_created);
  EXPECT_EQ(n, stats.pulls);
  EXPECT_EQ(n / 2, stats.pushes);
  // A row is 24 header bytes + 4 weights + 4 accumulators.
  EXPECT_GE(stats.bytes, n * (24 + 8 * sizeof(float)));

  std::set<uint64_t> seen;
  size_t updated = 0;
  const float acc_after_one = options.optimizer.adagrad_initial_accumulator + 1.0f;
  table->ForEachRow([&](const RowView& row) {
    EXPECT_TRUE(seen.insert(row.key).second) << "row seen twice: " << row.key;
    const bool pushed = row.update_count == 1;
    updated += pushed;
    EXPECT_EQ(pushed ? 2u : 0u, row.count);
    EXPECT_EQ(pushed ? 3 : -1, row.last_update_step);
    for (int d = 0; d < 4; ++d) {
      EXPECT_EQ(pushed ? acc_after_one : options.optimizer.adagrad_initial_accumulator,
                row.state[d]);
    }
  });
  EXPECT_EQ(n / 2, updated);
  EXPECT_EQ(std::set<uint64_t>(keys.begin(), keys.end()), seen);

  // Every key still maps to its own row: the pulled values are unchanged.
  std::vector<float> again(n * 4);
  ASSERT_TRUE(table->Pull(keys.data() + n / 2, n / 2, false, again.data(), nullptr).ok());
  EXPECT_EQ(0, std::memcmp(&values[n / 2 * 4], again.data(), n / 2 * 4 * sizeof(float)));
}

TEST(SparseTableTest, ImportRowsRoundTripsEveryFieldAndReplaces) {
  const SparseOptimizerKind kind = SparseOptimizerKind::kAdam;
  auto source = MustCreate(SmallOptions(kind));
  std::vector<uint64_t> keys = {1, 2, 3, 1000, 77777};
  std::vector<float> values(keys.size() * 4);
  ASSERT_TRUE(source->Pull(keys.data(), keys.size(), true, values.data(), nullptr).ok());
  std::vector<float> grads(keys.size() * 4);
  for (size_t i = 0; i < grads.size(); ++i) grads[i] = 0.1f * static_cast<float>(i) - 0.5f;
  std::vector<uint32_t> occ = {1, 2, 3, 4, 5};
  ASSERT_TRUE(source->Push(keys.data(), 3, grads.data(), occ.data(), 9).ok());
  ASSERT_TRUE(source->Push(keys.data(), keys.size(), grads.data(), occ.data(), 11).ok());
  const std::map<uint64_t, StoredRow> want = Snapshot(*source, kind);

  // A destination that already holds a different row for key 2 and an
  // extra row (key 5) that the import must leave alone.
  auto dest = MustCreate(SmallOptions(kind));
  std::vector<uint64_t> pre = {2, 5};
  std::vector<float> pre_grads(8, 3.0f);
  ASSERT_TRUE(dest->Push(pre.data(), 2, pre_grads.data(), nullptr, 1).ok());
  std::vector<RowView> views;
  for (const auto& [key, row] : want) {
    views.push_back(RowView{key, row.weights.data(), row.state.data(), row.count,
                            row.last_update_step, row.update_count});
  }
  ASSERT_TRUE(dest->ImportRows(views.data(), views.size()).ok());
  std::map<uint64_t, StoredRow> got = Snapshot(*dest, kind);
  ASSERT_EQ(want.size() + 1, got.size());
  for (const auto& [key, row] : want) ExpectSameRow(row, got.at(key), key);
  EXPECT_EQ(1, got.at(5).update_count);

  // A non-finite value anywhere refuses the whole call.
  StoredRow bad = want.begin()->second;
  bad.state[1] = std::nanf("");
  RowView bad_views[2] = {views[1], RowView{424242, bad.weights.data(), bad.state.data(), 0,
                                              -1, 0}};
  const int64_t before = Snapshot(*dest, kind).at(views[1].key).update_count;
  views[1].update_count = before + 100;
  bad_views[0] = views[1];
  EXPECT_EQ(StatusCode::kInvalidArgument, dest->ImportRows(bad_views, 2).code());
  got = Snapshot(*dest, kind);
  EXPECT_EQ(0u, got.count(424242));
  EXPECT_EQ(before, got.at(views[1].key).update_count);
}

TEST(SparseTableTest, ConcurrentPushesEqualASequentialOrder) {
  // SGD with lr = 1 from zero weights and small integer gradients: every
  // partial sum is an exact float, so any interleaving of the pushes gives
  // w = -sum(g) exactly, the same as applying them one by one. A few hot
  // shared keys with wide rows make lost updates likely if locking is wrong.
  constexpr int kDim = 64, kThreads = 4, kRounds = 1500, kShared = 8, kOwn = 24;
  SparseTableOptions options = SmallOptions(SparseOptimizerKind::kSgd);
  options.dim = kDim;
  options.init_scale = 0.0f;
  options.optimizer.learning_rate = 1.0f;
  options.num_stripes = 4;
  auto table = MustCreate(options);
  auto grad_of = [](int thread, int round, uint64_t key, int d) {
    return static_cast<float>(static_cast<int>((thread * 7 + round * 3 + key + d) % 9) - 4);
  };
  auto keys_of = [](int thread) {
    std::vector<uint64_t> keys;
    for (uint64_t k = 0; k < kOwn; ++k) keys.push_back(1000 * (thread + 1) + k);
    for (uint64_t k = 0; k < kShared; ++k) keys.push_back(k);
    return keys;
  };
  std::vector<std::thread> threads;
  std::vector<Status> results(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      const std::vector<uint64_t> keys = keys_of(t);
      std::vector<float> grads(keys.size() * kDim), values(keys.size() * kDim);
      std::vector<uint32_t> occ(keys.size(), 1);
      for (int r = 0; r < kRounds && results[t].ok(); ++r) {
        for (size_t i = 0; i < keys.size(); ++i) {
          for (int d = 0; d < kDim; ++d) grads[i * kDim + d] = grad_of(t, r, keys[i], d);
        }
        results[t] = table->Push(keys.data(), keys.size(), grads.data(), occ.data(), r);
        if (results[t].ok() && r % 16 == 0) {
          results[t] = table->Pull(keys.data(), keys.size(), true, values.data(), nullptr);
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();
  for (const Status& s : results) ASSERT_TRUE(s.ok()) << s.ToString();

  // The sequential application: sum every gradient per key.
  std::map<uint64_t, std::vector<double>> sums;
  std::map<uint64_t, int> pushes;
  for (int t = 0; t < kThreads; ++t) {
    for (uint64_t key : keys_of(t)) {
      std::vector<double>& sum = sums[key];
      sum.resize(kDim);
      pushes[key] += kRounds;
      for (int r = 0; r < kRounds; ++r) {
        for (int d = 0; d < kDim; ++d) sum[d] += grad_of(t, r, key, d);
      }
    }
  }
  auto rows = Snapshot(*table, SparseOptimizerKind::kSgd);
  ASSERT_EQ(sums.size(), rows.size());
  int wrong = 0;
  for (const auto& [key, sum] : sums) {
    const StoredRow& row = rows.at(key);
    EXPECT_EQ(pushes[key], row.update_count) << key;
    EXPECT_EQ(static_cast<uint64_t>(pushes[key]), row.count) << key;
    for (int d = 0; d < kDim; ++d) wrong += static_cast<float>(-sum[d]) != row.weights[d];
  }
  EXPECT_EQ(0, wrong) << "weights differing from the sequential sum";
  EXPECT_EQ(static_cast<uint64_t>(kThreads * kRounds * (kShared + kOwn)),
            table->Stats().pushes);
}

}  // namespace
}  // namespace dips
