// Feature admission and shrink (eviction) on both table implementations:
// rows appear exactly on the admit_after-th sighting and disappear exactly
// when the TTL or count rule says, wherever (memory or disk) they are.
#include <chrono>
#include <cstring>
#include <thread>
#include <memory>
#include <set>
#include <vector>

#include <gtest/gtest.h>

#include "ps/admission.h"
#include "ps/table_maintenance.h"
#include "ps/tiered_table.h"
#include "tests/ps/table_test_util.h"

namespace dips {
namespace {

using testing_util::ScratchDir;
using testing_util::Snapshot;
using testing_util::StoredRow;

constexpr int kDim = 4;
constexpr SparseOptimizerKind kKind = SparseOptimizerKind::kSgd;

SparseTableOptions Options(int admit_after) {
  SparseTableOptions options;
  options.dim = kDim;
  options.optimizer.kind = kKind;
  options.optimizer.learning_rate = 0.5f;
  options.num_stripes = 4;
  options.admit_after = admit_after;
  options.admission_counters = 1 << 16;
  return options;
}

// The memory table, or the tiered table with room for ~4 rows a stripe (so
// most rows of these tests live on disk).
class TableTest : public ::testing::TestWithParam<bool> {
 protected:
  std::unique_ptr<SparseTable> Make(const SparseTableOptions& options) {
    if (!GetParam()) return std::move(SparseTable::Create(options)).value();
    RocksTierOptions tier;
    tier.dir = dir_.path();
    tier.block_cache_bytes = 4 << 20;
    tier.write_buffer_bytes = 256 << 10;
    TieredTableOptions tiered;
    tiered.table = options;
    const RowLayout layout(kDim, StateFloatsPerWeight(kKind));
    tiered.memory_budget_bytes =
        options.num_stripes * (RowStoreBytesFor(4, layout.row_bytes(), 1) + 4);
    auto table = TieredSparseTable::Open(tiered, std::move(RocksTier::Open(tier)).value());
    CHECK(table.ok()) << table.status().ToString();
    return std::move(table).value();
  }

  ScratchDir dir_;
};

std::vector<float> Pull(SparseTable* table, uint64_t key, bool create, uint64_t* count = nullptr) {
  std::vector<float> out(kDim);
  uint64_t c = 0;
  CHECK(table->Pull(&key, 1, create, out.data(), &c).ok());
  if (count != nullptr) *count = c;
  return out;
}

void PushOnes(SparseTable* table, std::vector<uint64_t> keys, int64_t step) {
  std::vector<float> grads(keys.size() * kDim, 1.0f);
  std::vector<uint32_t> occ(keys.size(), 1);
  CHECK(table->Push(keys.data(), keys.size(), grads.data(), occ.data(), step).ok());
}

TEST_P(TableTest, KeyBecomesARowOnItsNthSighting) {
  const SparseTableOptions options = Options(/*admit_after=*/3);
  auto table = Make(options);
  const std::vector<float> zeros(kDim, 0.0f);
  std::vector<float> initial(kDim);
  InitialRowValues(options, 7, initial.data());

  PushOnes(table.get(), {7}, 1);                  // sighting 1: counted only
  EXPECT_EQ(zeros, Pull(table.get(), 7, false));  // not a sighting
  EXPECT_EQ(zeros, Pull(table.get(), 7, true));   // sighting 2: default row
  EXPECT_EQ(0u, table->Stats().rows);
  EXPECT_TRUE(Snapshot(*table, kKind).empty());
  PushOnes(table.get(), {7}, 2);  // sighting 3: admitted, and this push applied
  auto rows = Snapshot(*table, kKind);
  ASSERT_EQ(1u, rows.size());
  EXPECT_EQ(1, rows[7].update_count);
  EXPECT_EQ(1u, rows[7].count);
  for (int d = 0; d < kDim; ++d) EXPECT_EQ(initial[d] - 0.5f, rows[7].weights[d]);

  SparseTableStats stats = table->Stats();
  EXPECT_EQ(1u, stats.rows);
  EXPECT_EQ(1u, stats.admissions);
  EXPECT_EQ(1u, stats.unadmitted_pushes);
  EXPECT_EQ(1u, stats.unadmitted_pulls);

  // Copies in one call count one by one: key 8 is admitted by the 3rd copy
  // of this push, so exactly one update (the 3rd copy's) is applied.
  PushOnes(table.get(), {8, 8, 8}, 3);
  rows = Snapshot(*table, kKind);
  ASSERT_EQ(2u, rows.size());
  EXPECT_EQ(1, rows[8].update_count);
  // A pull that creates counts as a sighting; the admitting pull returns the
  // new row's initial values.
  InitialRowValues(options, 9, initial.data());
  Pull(table.get(), 9, true);
  Pull(table.get(), 9, true);
  EXPECT_EQ(initial, Pull(table.get(), 9, true));
  EXPECT_EQ(3u, table->Stats().rows);
}

TEST_P(TableTest, AdmitAfterOneAdmitsEveryKeyAtOnce) {
  auto table = Make(Options(1));
  PushOnes(table.get(), {1, 2, 3}, 1);
  EXPECT_EQ(3u, table->Stats().rows);
  EXPECT_EQ(0u, table->Stats().admissions);
  EXPECT_EQ(0u, table->Stats().unadmitted_pushes);
}

TEST_P(TableTest, ShrinkRemovesExactlyTheExpiredRows) {
  auto table = Make(Options(1));
  // Key k (1..40) is last pushed at step k; keys 100..109 are only pulled.
  for (uint64_t k = 1; k <= 40; ++k) PushOnes(table.get(), {k}, static_cast<int64_t>(k));
  for (uint64_t k = 100; k < 110; ++k) Pull(table.get(), k, true);
  ASSERT_EQ(50u, table->Stats().rows);

  // now = latest step 40, ttl 10: rows last pushed before step 30 go, and
  // the never-pushed rows (step -1) with them.
  ShrinkOptions shrink;
  shrink.ttl_steps = 10;
  StatusOr<ShrinkResult> result = table->Shrink(shrink);
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  EXPECT_EQ(50u, result->rows_scanned);
  EXPECT_EQ(29u + 10u, result->rows_removed);
  std::set<uint64_t> left;
  for (const auto& [key, row] : Snapshot(*table, kKind)) left.insert(key);
  std::set<uint64_t> want;
  for (uint64_t k = 30; k <= 40; ++k) want.insert(k);
  EXPECT_EQ(want, left);
  SparseTableStats stats = table->Stats();
  EXPECT_EQ(11u, stats.rows);
  EXPECT_EQ(39u, stats.evictions);
  EXPECT_EQ(1u, stats.shrink_passes);
  EXPECT_LE(stats.rows_on_disk, 11u);

  // An explicit now and the count rule: keys pushed once have count 1.
  PushOnes(table.get(), {35, 35}, 41);  // key 35: count 3
  shrink.now_step = 100;
  shrink.ttl_steps = 1000;  // keeps everything by age
  shrink.min_count = 2;
  result = table->Shrink(shrink);
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(10u, result->rows_removed);
  left.clear();
  for (const auto& [key, row] : Snapshot(*table, kKind)) left.insert(key);
  EXPECT_EQ(std::set<uint64_t>{35}, left);

  // A removed key that comes back is a new row.
  uint64_t count = 99;
  std::vector<float> initial(kDim);
  InitialRowValues(Options(1), 31, initial.data());
  EXPECT_EQ(initial, Pull(table.get(), 31, true, &count));
  EXPECT_EQ(0u, count);
}

TEST_P(TableTest, ShrinkAgesAdmissionCounters) {
  auto table = Make(Options(4));
  PushOnes(table.get(), {5, 5, 5}, 1);  // 3 sightings: one short
  ASSERT_TRUE(table->Shrink(ShrinkOptions()).ok());  // halves 3 to 1
  PushOnes(table.get(), {5, 5}, 2);     // 3 again: still short
  EXPECT_EQ(0u, table->Stats().rows);
  PushOnes(table.get(), {5}, 3);        // 4: admitted
  EXPECT_EQ(1u, table->Stats().rows);
}

INSTANTIATE_TEST_SUITE_P(MemoryAndTiered, TableTest, ::testing::Values(false, true),
                         [](const ::testing::TestParamInfo<bool>& info) {
                           return info.param ? "Tiered" : "Memory";
                         });

TEST(TableMaintenanceTest, PeriodicShrinkRemovesExpiredRows) {
  auto table = std::move(SparseTable::Create(Options(1))).value();
  PushOnes(table.get(), {1}, 1);
  PushOnes(table.get(), {2}, 50);
  TableMaintenanceOptions options;
  options.stats_every_seconds = 0.01;
  options.shrink_every_seconds = 0.01;
  options.shrink.ttl_steps = 10;  // latest step 50: key 1 expires
  {
    TableMaintenance maintenance(table.get(), options);
    for (int i = 0; i < 500 && table->Stats().shrink_passes == 0; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }  // stops the thread
  const SparseTableStats stats = table->Stats();
  EXPECT_GE(stats.shrink_passes, 1u);
  EXPECT_EQ(1u, stats.rows);
  EXPECT_EQ(1u, stats.evictions);
  const std::string line = FormatTableStats(stats);
  EXPECT_NE(std::string::npos, line.find("rows=1 ")) << line;
  EXPECT_NE(std::string::npos, line.find("evicted=1 ")) << line;
}

TEST(AdmissionSketchTest, NeverUndercountsAndRarelyOvercounts) {
  AdmissionSketch sketch(1 << 14);
  // 2000 keys seen k % 5 + 1 times each (~6000 sightings in 16k counters).
  for (uint64_t k = 0; k < 2000; ++k) {
    for (uint64_t s = 0; s <= k % 5; ++s) sketch.Add(Mix64(k));
  }
  int over = 0;
  for (uint64_t k = 0; k < 2000; ++k) {
    const uint32_t estimate = sketch.Estimate(Mix64(k));
    ASSERT_GE(estimate, k % 5 + 1) << k;
    over += estimate > k % 5 + 1;
  }
  // With 4 probes and ~2000 keys in 16384 counters, a key shares all four
  // counters with heavier keys with probability ~(1 - e^(-8000/16384))^4
  // ~= 0.02; allow 3x that.
  EXPECT_LT(over, 120);
  // Halving is monotone, so the minimum of the halved counters is the
  // halved minimum.
  std::vector<uint32_t> before(2000);
  for (uint64_t k = 0; k < 2000; ++k) before[k] = sketch.Estimate(Mix64(k));
  sketch.Halve();
  for (uint64_t k = 0; k < 2000; ++k) ASSERT_EQ(before[k] / 2, sketch.Estimate(Mix64(k)));
}

}  // namespace
}  // namespace dips
