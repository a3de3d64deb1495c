// kill -9 during heavy spilling: a child process writes rows through a
// tiered table with a tiny memory budget and small memtables (so rows are
// spilled, flushed and compacted all the time) and is killed with SIGKILL
// mid-write. Reopening the directory must succeed, report the unclean
// shutdown, pass RocksDB's checksum verification, and every row it holds
// must be one the child wrote, intact (no torn or corrupt rows).
//
// The child is this test binary run afresh (fork + exec, filter on the
// Writer test, directory and pipe in the environment): a child that only
// forked would inherit a RocksDB whose background threads did not survive
// the fork once any earlier test in the process had opened one.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <string>
#include <set>
#include <vector>

#include <gtest/gtest.h>

#include "ps/tiered_table.h"
#include "tests/ps/table_test_util.h"

namespace dips {
namespace {

using testing_util::ScratchDir;

constexpr int kDim = 18;
constexpr uint64_t kKeys = 20000;

SparseTableOptions Options() {
  SparseTableOptions options;
  options.dim = kDim;
  options.optimizer.kind = SparseOptimizerKind::kAdagrad;
  options.num_stripes = 16;
  return options;
}

RocksTierOptions TierOptions(const std::string& dir, bool keep_existing) {
  RocksTierOptions tier;
  tier.dir = dir;
  tier.keep_existing = keep_existing;
  tier.block_cache_bytes = 4 << 20;
  tier.write_buffer_bytes = 256 << 10;  // flush every ~1500 rows
  return tier;
}

TieredTableOptions TableOptions() {
  TieredTableOptions table;
  table.table = Options();
  table.memory_budget_bytes = 256 << 10;  // ~1200 of the 20000 rows
  return table;
}

// Row contents in round r: every float of key k is Value(k, r, j) and count
// is r, so a reader can check a row against its own count.
float Value(uint64_t key, uint64_t round, int j) {
  return static_cast<float>((key * 31 + round * 7 + j) % 1000) / 8;
}

constexpr char kWriterDirEnv[] = "DIPS_CRASH_TEST_DIR";
constexpr char kWriterPipeEnv[] = "DIPS_CRASH_TEST_PIPE";

// The child: writes rounds of all keys forever, reporting each finished
// round on `report`. Never returns.
[[noreturn]] void WriteUntilKilled(const std::string& dir, int report) {
  auto tier = RocksTier::Open(TierOptions(dir, false));
  if (!tier.ok()) _exit(2);
  auto table = TieredSparseTable::Open(TableOptions(), *tier);
  if (!table.ok()) _exit(3);
  constexpr uint64_t kBatch = 500;
  std::vector<float> values(kBatch * 2 * kDim);
  std::vector<RowView> rows(kBatch);
  for (uint64_t round = 1;; ++round) {
    for (uint64_t first = 0; first < kKeys; first += kBatch) {
      for (uint64_t i = 0; i < kBatch; ++i) {
        const uint64_t key = first + i;
        float* w = &values[i * 2 * kDim];
        for (int j = 0; j < 2 * kDim; ++j) w[j] = Value(key, round, j);
        rows[i] = RowView{key, w, w + kDim, round, static_cast<int64_t>(round), 0};
      }
      if (!(*table)->ImportRows(rows.data(), kBatch).ok()) _exit(4);
    }
    const char done = 'r';
    if (write(report, &done, 1) != 1) _exit(5);
  }
}

// Runs only as the exec'd child of the test below.
TEST(TieredCrashTest, Writer) {
  const char* dir = std::getenv(kWriterDirEnv);
  const char* pipe_fd = std::getenv(kWriterPipeEnv);
  if (dir == nullptr || pipe_fd == nullptr) GTEST_SKIP() << "the crash test's child process";
  WriteUntilKilled(dir, std::atoi(pipe_fd));
}

TEST(TieredCrashTest, ReopensCleanlyAfterKillDuringHeavySpill) {
  ScratchDir dir;
  int pipe_fds[2];
  ASSERT_EQ(0, pipe(pipe_fds));
  // Everything the child needs is prepared before fork: between fork and
  // exec only async-signal-safe calls are allowed.
  const std::string dir_env = std::string(kWriterDirEnv) + "=" + dir.path();
  const std::string pipe_env = std::string(kWriterPipeEnv) + "=" + std::to_string(pipe_fds[1]);
  const std::string filter = "--gtest_filter=TieredCrashTest.Writer";
  char* const argv[] = {const_cast<char*>("tiered_crash_test"), const_cast<char*>(filter.c_str()),
                        nullptr};
  char* const envp[] = {const_cast<char*>(dir_env.c_str()), const_cast<char*>(pipe_env.c_str()),
                        const_cast<char*>("GLOG_logtostderr=1"), nullptr};
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    close(pipe_fds[0]);
    execve("/proc/self/exe", argv, envp);
    _exit(127);
  }
  close(pipe_fds[1]);
  // Let it finish two full rounds (rows spilled and flushed), then kill it
  // in the middle of later writes.
  char byte;
  for (int r = 0; r < 2; ++r) ASSERT_EQ(1, read(pipe_fds[0], &byte, 1)) << "child died";
  usleep(150 * 1000);
  ASSERT_EQ(0, kill(child, SIGKILL));
  int wait_status = 0;
  ASSERT_EQ(child, waitpid(child, &wait_status, 0));
  ASSERT_TRUE(WIFSIGNALED(wait_status) && WTERMSIG(wait_status) == SIGKILL)
      << "the child exited by itself with status " << wait_status;
  close(pipe_fds[0]);

  auto tier = RocksTier::Open(TierOptions(dir.path(), /*keep_existing=*/true));
  ASSERT_TRUE(tier.ok()) << tier.status().ToString();
  EXPECT_TRUE((*tier)->recovered_unclean());
  ASSERT_TRUE((*tier)->VerifyChecksums().ok());
  auto table = TieredSparseTable::Open(TableOptions(), *tier);
  ASSERT_TRUE(table.ok()) << table.status().ToString();
  const SparseTableStats stats = (*table)->Stats();
  EXPECT_GT(stats.rows_on_disk, kKeys / 2) << "two flushed rounds should be on disk";
  EXPECT_LE(stats.rows_on_disk, kKeys);

  uint64_t rows = 0, bad = 0;
  (*table)->ForEachRow([&](const RowView& row) {
    ++rows;
    bool ok = row.key < kKeys && row.count >= 1 &&
              row.last_update_step == static_cast<int64_t>(row.count);
    for (int j = 0; j < 2 * kDim && ok; ++j) {
      const float v = j < kDim ? row.weights[j] : row.state[j - kDim];
      ok = v == Value(row.key, row.count, j);
    }
    bad += !ok;
  });
  EXPECT_EQ(stats.rows, rows);
  EXPECT_EQ(0u, bad) << "rows that are not exactly as written";

  // The reopened table serves pulls and pushes, and closes cleanly now.
  std::vector<uint64_t> keys = {1, 2, 3};
  std::vector<float> values(3 * kDim);
  ASSERT_TRUE((*table)->Pull(keys.data(), 3, true, values.data(), nullptr).ok());
  ASSERT_TRUE((*table)->Push(keys.data(), 3, values.data(), nullptr, 1).ok());
  table->reset();
  tier->reset();
  auto again = RocksTier::Open(TierOptions(dir.path(), true));
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE((*again)->recovered_unclean());
}

}  // namespace
}  // namespace dips
