// The tiered table against the memory table: the same calls must leave
// bit-identical rows while a tiny memory budget forces constant spilling and
// loading, from one thread and from several. Plus reopening, stats and the
// disk-key encoding.
#include "ps/tiered_table.h"

#include <cstring>
#include <random>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "common/feature_key.h"
#include "tests/ps/table_test_util.h"

namespace dips {
namespace {

using testing_util::ScratchDir;
using testing_util::Snapshot;

SparseTableOptions SmallOptions(SparseOptimizerKind kind) {
  SparseTableOptions options;
  options.dim = 4;
  options.optimizer.kind = kind;
  options.num_stripes = 4;
  options.init_seed = 42;
  return options;
}

// Budget for about `rows` rows of `options` per stripe.
uint64_t BudgetForRows(const SparseTableOptions& options, size_t rows) {
  const RowLayout layout(options.dim, StateFloatsPerWeight(options.optimizer.kind));
  return options.num_stripes * (RowStoreBytesFor(rows, layout.row_bytes(), 1) + rows);
}

std::unique_ptr<TieredSparseTable> OpenTiered(const std::string& dir,
                                              const SparseTableOptions& options,
                                              uint64_t budget, bool keep_existing = false,
                                              std::shared_ptr<RocksTier>* tier_out = nullptr) {
  RocksTierOptions tier_options;
  tier_options.dir = dir;
  tier_options.keep_existing = keep_existing;
  tier_options.block_cache_bytes = 4 << 20;
  tier_options.write_buffer_bytes = 256 << 10;
  StatusOr<std::shared_ptr<RocksTier>> tier = RocksTier::Open(tier_options);
  CHECK(tier.ok()) << tier.status().ToString();
  if (tier_out != nullptr) *tier_out = *tier;
  TieredTableOptions table_options;
  table_options.table = options;
  table_options.memory_budget_bytes = budget;
  StatusOr<std::unique_ptr<TieredSparseTable>> table =
      TieredSparseTable::Open(table_options, *tier);
  CHECK(table.ok()) << table.status().ToString();
  return std::move(table).value();
}

std::unique_ptr<SparseTable> MustCreate(const SparseTableOptions& options) {
  StatusOr<std::unique_ptr<SparseTable>> table = SparseTable::Create(options);
  CHECK(table.ok()) << table.status().ToString();
  return std::move(table).value();
}

void ExpectSameRows(const SparseTable& want_table, const SparseTable& got_table,
                    SparseOptimizerKind kind) {
  const auto want = Snapshot(want_table, kind);
  const auto got = Snapshot(got_table, kind);
  ASSERT_EQ(want.size(), got.size());
  int differing = 0;
  for (const auto& [key, row] : want) {
    auto it = got.find(key);
    ASSERT_TRUE(it != got.end()) << "missing key " << key;
    differing += !(row == it->second);
  }
  EXPECT_EQ(0, differing) << "rows differing bit for bit";
}

TEST(TieredTableTest, UnMix64InvertsMix64) {
  std::mt19937_64 rng(1);
  for (int i = 0; i < 100000; ++i) {
    const uint64_t x = rng();
    ASSERT_EQ(x, UnMix64(Mix64(x)));
  }
  EXPECT_EQ(0u, UnMix64(Mix64(0)));
  EXPECT_EQ(~uint64_t{0}, UnMix64(Mix64(~uint64_t{0})));
}

TEST(TieredTableTest, RejectsABudgetWithoutRoomForTwoRowsAStripe) {
  TieredTableOptions options;
  options.table = SmallOptions(SparseOptimizerKind::kAdagrad);
  options.memory_budget_bytes = BudgetForRows(options.table, 1);
  EXPECT_EQ(StatusCode::kInvalidArgument, ValidateTieredTableOptions(options).code());
  options.memory_budget_bytes = BudgetForRows(options.table, 2);
  EXPECT_TRUE(ValidateTieredTableOptions(options).ok());
  options.column_family.clear();
  EXPECT_FALSE(ValidateTieredTableOptions(options).ok());
  ScratchDir dir;
  RocksTierOptions tier;
  EXPECT_EQ(StatusCode::kInvalidArgument, RocksTier::Open(tier).status().code());  // no dir
}

// One random sequence of every kind of call, applied to both tables; every
// pull's output and the final rows must agree bit for bit.
void RunRandomSequence(SparseOptimizerKind kind, int admit_after) {
  SCOPED_TRACE(SparseOptimizerName(kind));
  SparseTableOptions options = SmallOptions(kind);
  options.admit_after = admit_after;
  options.admission_counters = 1 << 16;
  ScratchDir dir;
  auto memory = MustCreate(options);
  auto tiered = OpenTiered(dir.path(), options, BudgetForRows(options, 6));
  ASSERT_LE(tiered->stripe_capacity(), 8u);
  const size_t dim = options.dim;
  const size_t state = dim * StateFloatsPerWeight(kind);
  std::mt19937_64 rng(static_cast<uint64_t>(kind) * 31 + admit_after);
  constexpr uint64_t kUniverse = 400;  // ~16x what fits in memory
  for (int op = 0; op < 1500; ++op) {
    const size_t n = 1 + rng() % 40;
    std::vector<uint64_t> keys(n);
    for (uint64_t& k : keys) k = rng() % kUniverse;  // repeats within a call too
    const int what = static_cast<int>(rng() % 10);
    if (what < 4) {
      const bool create = what != 0;
      std::vector<float> a(n * dim), b(n * dim);
      std::vector<uint64_t> ca(n), cb(n);
      ASSERT_TRUE(memory->Pull(keys.data(), n, create, a.data(), ca.data()).ok());
      ASSERT_TRUE(tiered->Pull(keys.data(), n, create, b.data(), cb.data()).ok());
      ASSERT_EQ(0, std::memcmp(a.data(), b.data(), a.size() * 4)) << "op " << op;
      ASSERT_EQ(ca, cb) << "op " << op;
    } else if (what < 9) {
      std::vector<float> grads(n * dim);
      std::vector<uint32_t> occ(n);
      for (float& g : grads) g = static_cast<float>(static_cast<int>(rng() % 2001) - 1000) / 997;
      for (uint32_t& o : occ) o = 1 + rng() % 3;
      const int64_t step = op;
      ASSERT_TRUE(memory->Push(keys.data(), n, grads.data(), occ.data(), step).ok());
      ASSERT_TRUE(tiered->Push(keys.data(), n, grads.data(), occ.data(), step).ok());
    } else {
      std::vector<float> values(n * (dim + state));
      for (float& v : values) v = static_cast<float>(rng() % 1000) / 1000;
      std::vector<RowView> rows(n);
      for (size_t i = 0; i < n; ++i) {
        rows[i] = RowView{keys[i], &values[i * (dim + state)], &values[i * (dim + state) + dim],
                          rng() % 9, static_cast<int64_t>(rng() % 50), static_cast<int64_t>(i)};
      }
      ASSERT_TRUE(memory->ImportRows(rows.data(), n).ok());
      ASSERT_TRUE(tiered->ImportRows(rows.data(), n).ok());
    }
  }
  ExpectSameRows(*memory, *tiered, kind);
  const SparseTableStats m = memory->Stats(), t = tiered->Stats();
  EXPECT_EQ(m.rows, t.rows);
  EXPECT_EQ(m.rows_created, t.rows_created);
  EXPECT_EQ(m.admissions, t.admissions);
  EXPECT_EQ(m.unadmitted_pushes, t.unadmitted_pushes);
  EXPECT_EQ(m.unadmitted_pulls, t.unadmitted_pulls);
  EXPECT_EQ(m.latest_step, t.latest_step);
  EXPECT_LE(t.rows_in_memory, options.num_stripes * tiered->stripe_capacity());
  EXPECT_GT(t.spills, 1000u) << "the budget should force constant spilling";
  EXPECT_GT(t.disk_loads, 1000u) << "and constant loading";
  EXPECT_LE(t.bytes, BudgetForRows(options, 6) + options.admission_counters * (admit_after > 1));
}

TEST(TieredTableTest, RandomSequenceMatchesMemoryTableBitForBit) {
  for (SparseOptimizerKind kind : {SparseOptimizerKind::kSgd, SparseOptimizerKind::kAdagrad,
                                   SparseOptimizerKind::kAdam, SparseOptimizerKind::kFtrl}) {
    RunRandomSequence(kind, /*admit_after=*/1);
  }
  RunRandomSequence(SparseOptimizerKind::kAdam, /*admit_after=*/3);
}

// Threads hammer the same stripes (4 stripes, ~6 rows each) with pulls and
// pushes of shared keys. The final rows must not depend on the interleaving:
//  - Adagrad rows are pushed by one owner thread each (any thread pulls
//    them), so each row's update sequence is fixed;
//  - SGD rows with lr 1 and integer gradients are pushed by every thread
//    (all at one step); exact float sums make every order give the same bits.
// The memory table gets the same calls; rows must match bit for bit.
void RunConcurrent(SparseTable* table, SparseOptimizerKind kind, int threads) {
  constexpr int kRounds = 400, kDim = 4;
  constexpr uint64_t kPerThread = 40, kShared = 30;
  std::vector<std::thread> workers;
  std::vector<Status> results(threads);
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      std::mt19937_64 rng(100 + t);  // per-thread: the same calls for both tables
      std::vector<uint64_t> keys;
      std::vector<float> grads, values;
      std::vector<uint32_t> occ;
      for (int r = 0; r < kRounds && results[t].ok(); ++r) {
        keys.clear();
        const size_t n = 1 + rng() % 24;
        for (size_t i = 0; i < n; ++i) {
          if (kind == SparseOptimizerKind::kSgd) {
            keys.push_back(rng() % kShared);
          } else {
            keys.push_back(1000 * (t + 1) + rng() % kPerThread);  // own keys
          }
        }
        grads.resize(n * kDim);
        for (float& g : grads) g = static_cast<float>(static_cast<int>(rng() % 9) - 4);
        occ.assign(n, 1);
        // Shared SGD rows are stamped by whichever thread pushes last: one
        // step for all keeps last_update_step independent of the order.
        const int64_t step = kind == SparseOptimizerKind::kSgd ? 1 : r;
        results[t] = table->Push(keys.data(), n, grads.data(), occ.data(), step);
        if (!results[t].ok()) break;
        // Pull everybody's keys, creating rows others will push later.
        keys.clear();
        for (size_t i = 0; i < n; ++i) {
          keys.push_back(kind == SparseOptimizerKind::kSgd
                             ? rng() % kShared
                             : 1000 * (1 + rng() % threads) + rng() % kPerThread);
        }
        values.resize(n * kDim);
        results[t] = table->Pull(keys.data(), n, true, values.data(), nullptr);
      }
    });
  }
  for (auto& w : workers) w.join();
  for (const Status& s : results) ASSERT_TRUE(s.ok()) << s.ToString();
}

TEST(TieredTableTest, ConcurrentPullsAndPushesMatchMemoryTableBitForBit) {
  constexpr int kThreads = 4;
  for (SparseOptimizerKind kind : {SparseOptimizerKind::kAdagrad, SparseOptimizerKind::kSgd}) {
    SCOPED_TRACE(SparseOptimizerName(kind));
    SparseTableOptions options = SmallOptions(kind);
    if (kind == SparseOptimizerKind::kSgd) {
      options.init_scale = 0.0f;
      options.optimizer.learning_rate = 1.0f;
    }
    ScratchDir dir;
    auto memory = MustCreate(options);
    auto tiered = OpenTiered(dir.path(), options, BudgetForRows(options, 6));
    RunConcurrent(memory.get(), kind, kThreads);
    RunConcurrent(tiered.get(), kind, kThreads);
    ExpectSameRows(*memory, *tiered, kind);
    const SparseTableStats m = memory->Stats(), t = tiered->Stats();
    EXPECT_EQ(m.rows, t.rows);
    EXPECT_EQ(m.pushes, t.pushes);
    EXPECT_GT(t.spills, 100u);
    EXPECT_GT(t.disk_loads, 100u);
  }
}

TEST(TieredTableTest, StatsAndForEachRowCountEveryRowOnce) {
  const SparseTableOptions options = SmallOptions(SparseOptimizerKind::kAdagrad);
  ScratchDir dir;
  auto table = OpenTiered(dir.path(), options, BudgetForRows(options, 50));
  const size_t n = 5000;
  std::vector<uint64_t> keys(n);
  for (size_t i = 0; i < n; ++i) keys[i] = i * 0x10001ull;
  std::vector<float> values(n * 4);
  ASSERT_TRUE(table->Pull(keys.data(), n, true, values.data(), nullptr).ok());
  SparseTableStats stats = table->Stats();
  EXPECT_EQ(n, stats.rows);
  EXPECT_EQ(n, stats.rows_created);
  EXPECT_LE(stats.rows_in_memory, 4 * table->stripe_capacity());
  EXPECT_GE(stats.rows_on_disk + stats.rows_in_memory, n);
  EXPECT_GT(stats.disk_bytes, 0u);
  EXPECT_EQ(n, Snapshot(*table, SparseOptimizerKind::kAdagrad).size());

  ASSERT_TRUE(table->FlushToDisk().ok());
  stats = table->Stats();
  EXPECT_EQ(n, stats.rows_on_disk) << "after a flush every row has a disk copy";
  EXPECT_EQ(n, stats.rows);
  // Pulling again reads back what was stored.
  std::vector<float> again(n * 4);
  ASSERT_TRUE(table->Pull(keys.data(), n, false, again.data(), nullptr).ok());
  EXPECT_EQ(0, std::memcmp(values.data(), again.data(), values.size() * 4));
}

TEST(TieredTableTest, ReopenAfterCleanCloseKeepsEveryRow) {
  const SparseOptimizerKind kind = SparseOptimizerKind::kAdam;
  const SparseTableOptions options = SmallOptions(kind);
  ScratchDir dir;
  auto memory = MustCreate(options);
  {
    auto tiered = OpenTiered(dir.path(), options, BudgetForRows(options, 10));
    std::vector<uint64_t> keys(3000);
    for (size_t i = 0; i < keys.size(); ++i) keys[i] = i * 13;
    std::vector<float> grads(keys.size() * 4, 0.25f);
    ASSERT_TRUE(memory->Push(keys.data(), keys.size(), grads.data(), nullptr, 5).ok());
    ASSERT_TRUE(tiered->Push(keys.data(), keys.size(), grads.data(), nullptr, 5).ok());
  }  // the table writes its dirty rows, the tier records a clean shutdown
  std::shared_ptr<RocksTier> tier;
  auto reopened = OpenTiered(dir.path(), options, BudgetForRows(options, 10),
                             /*keep_existing=*/true, &tier);
  EXPECT_FALSE(tier->recovered_unclean());
  EXPECT_EQ(3000u, reopened->Stats().rows_on_disk);
  ExpectSameRows(*memory, *reopened, kind);
  reopened.reset();
  tier.reset();
  // Without keep_existing an old directory's rows are discarded.
  auto fresh = OpenTiered(dir.path(), options, BudgetForRows(options, 10));
  EXPECT_EQ(0u, fresh->Stats().rows);
  EXPECT_TRUE(Snapshot(*fresh, kind).empty());
}

TEST(TieredTableTest, TwoTablesShareOneTierInTheirOwnColumnFamilies) {
  const SparseTableOptions options = SmallOptions(SparseOptimizerKind::kSgd);
  ScratchDir dir;
  std::shared_ptr<RocksTier> tier;
  auto first = OpenTiered(dir.path(), options, BudgetForRows(options, 4), false, &tier);
  TieredTableOptions second_options;
  second_options.table = options;
  second_options.memory_budget_bytes = BudgetForRows(options, 4);
  second_options.column_family = "second";
  auto second = TieredSparseTable::Open(second_options, tier);
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  std::vector<uint64_t> keys(500);
  for (size_t i = 0; i < keys.size(); ++i) keys[i] = i;
  std::vector<float> values(keys.size() * 4);
  ASSERT_TRUE(first->Pull(keys.data(), 500, true, values.data(), nullptr).ok());
  ASSERT_TRUE((*second)->Pull(keys.data(), 100, true, values.data(), nullptr).ok());
  EXPECT_EQ(500u, first->Stats().rows);
  EXPECT_EQ(100u, (*second)->Stats().rows);
  EXPECT_EQ(100u, Snapshot(**second, SparseOptimizerKind::kSgd).size());
}

}  // namespace
}  // namespace dips
